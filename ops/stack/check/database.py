"""The database instance as RDS describes it (``DescribeDBInstances``, ``DescribeDBParameters``) against what the
stack file configures (components/database.py builds it from ``components.settings.DatabaseSettings``)."""

from __future__ import annotations

from typing import Any

from ops.stack.check.context import Context
from ops.stack.check.result import DATABASE, NotChecked, fail, not_checked, ok, promise

ENGINE_LIFECYCLE_SUPPORT = "open-source-rds-extended-support-disabled"  # components/database.py
READY = ("available", "storage-optimization", "backing-up", "modifying", "configuring-enhanced-monitoring")


def instance(ctx: Context) -> dict[str, Any]:
    """The instance's description (``DBInstances[0]``), read once; NotChecked when RDS has no such instance."""
    def read() -> dict[str, Any]:
        from botocore.exceptions import ClientError

        identifier = ctx.output("dbInstanceId")
        try:
            return ctx.call("rds", "describe_db_instances", DBInstanceIdentifier=identifier)["DBInstances"][0]
        except ClientError as exc:
            if "NotFound" in ctx_code(exc):
                raise NotChecked(f"RDS has no instance {identifier} in {ctx.region}") from None
            raise
    return ctx.once("rds-instance", read)


def ctx_code(exc: Any) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _redeploy(ctx: Context) -> str:
    return f"run `pulumi up -s {ctx.stack}` (it puts back what the stack file configures)"


@promise(DATABASE, "the instance exists and is available")
def available(ctx: Context):
    identifier = ctx.output("dbInstanceId")
    try:
        db = instance(ctx)
    except NotChecked as exc:
        if "has no instance" in exc.why:
            return fail(f"{exc.why}: run `pulumi up -s {ctx.stack}`, or `pulumi refresh -s {ctx.stack}` if it was "
                        "deleted outside Pulumi (runbooks/restore.md)")
        raise
    status = db.get("DBInstanceStatus", "?")
    if status in READY:
        return ok(f"{identifier} is {status}")
    if status in ("stopped", "stopping"):
        return fail(f"{identifier} is {status}: `cruddur stack wake -s {ctx.stack}` starts it (a dev run schedule "
                    "stops it outside its hours, runbooks/dev-schedule.md)")
    return fail(f"{identifier} is {status}: see `aws rds describe-events --source-type db-instance "
                f"--source-identifier {identifier}` and runbooks/restore.md")


@promise(DATABASE, "storage is encrypted with the stack's key (kmsKeyArn)")
def encrypted(ctx: Context):
    db, key = instance(ctx), ctx.output("kmsKeyArn")
    if not db.get("StorageEncrypted"):
        return fail("storage is NOT encrypted and cannot be encrypted in place: restore a copy of a snapshot "
                    "encrypted with kmsKeyArn and move to it (runbooks/restore.md)")
    if db.get("KmsKeyId") != key:
        return fail(f"storage is encrypted with {db.get('KmsKeyId')}, not the stack's key {key}: restore a copy of a "
                    "snapshot encrypted with kmsKeyArn (runbooks/restore.md)")
    return ok(f"encrypted with {key}")


@promise(DATABASE, "the instance is not publicly accessible")
def not_public(ctx: Context):
    if instance(ctx).get("PubliclyAccessible"):
        return fail(f"PubliclyAccessible is true: {_redeploy(ctx)}, or at once `aws rds modify-db-instance "
                    f"--db-instance-identifier {ctx.output('dbInstanceId')} --no-publicly-accessible --apply-immediately`")
    return ok("PubliclyAccessible is false")


@promise(DATABASE, "deletion protection as the stack file sets it")
def deletion_protection(ctx: Context):
    wanted = ctx.setting(lambda s: s.database.deletion_protection)
    actual = bool(instance(ctx).get("DeletionProtection"))
    if actual == wanted:
        return ok(f"DeletionProtection is {str(actual).lower()}")
    return fail(f"DeletionProtection is {str(actual).lower()}, the stack file says {str(wanted).lower()}: "
                f"{_redeploy(ctx)}")


@promise(DATABASE, "automated backups kept as many days as the stack file sets")
def backups(ctx: Context):
    wanted = ctx.setting(lambda s: s.database.backup_retention_days)
    actual = int(instance(ctx).get("BackupRetentionPeriod") or 0)
    if actual == wanted:
        return ok(f"BackupRetentionPeriod is {actual} days")
    if actual == 0:
        return fail(f"automated backups are OFF (BackupRetentionPeriod 0; the stack file says {wanted}): "
                    f"{_redeploy(ctx)}")
    return fail(f"BackupRetentionPeriod is {actual} days, the stack file says {wanted}: {_redeploy(ctx)}")


def _parameter_group(ctx: Context) -> dict[str, Any]:
    groups = instance(ctx).get("DBParameterGroups") or []
    if not groups:
        raise NotChecked("RDS reports no parameter group for the instance")
    return groups[0]


@promise(DATABASE, "the TLS-only parameter group (rds.force_ssl=1) is attached and applied")
def tls_only(ctx: Context):
    group = _parameter_group(ctx)
    name, state = group.get("DBParameterGroupName", "?"), group.get("ParameterApplyStatus", "?")
    if name.startswith("default."):
        return fail(f"the instance uses RDS's default group {name}, which allows plain-text connections: "
                    f"{_redeploy(ctx)}")
    force_ssl, marker = None, None
    while True:
        page = ctx.call("rds", "describe_db_parameters", DBParameterGroupName=name, Source="user",
                        **({"Marker": marker} if marker else {}))
        for parameter in page.get("Parameters", []):
            if parameter.get("ParameterName") == "rds.force_ssl":
                force_ssl = parameter.get("ParameterValue")
        marker = page.get("Marker")
        if not marker:
            break
    if force_ssl != "1":
        return fail(f"parameter group {name} has rds.force_ssl={force_ssl or 'unset'}, so plain-text connections are "
                    f"accepted: {_redeploy(ctx)}")
    if state == "pending-reboot":
        return fail(f"parameter group {name} is pending-reboot: the instance still runs the old parameters; reboot "
                    f"it in a quiet hour: `aws rds reboot-db-instance --db-instance-identifier "
                    f"{ctx.output('dbInstanceId')}`")
    if state != "in-sync":
        return not_checked(f"parameter group {name} is {state}: RDS is applying it; re-run the check in a few minutes")
    return ok(f"{name}: rds.force_ssl=1, in-sync")


@promise(DATABASE, "IAM database authentication is on (the sign-up function logs in with IAM)")
def iam_auth(ctx: Context):
    if instance(ctx).get("IAMDatabaseAuthenticationEnabled"):
        return ok("IAMDatabaseAuthenticationEnabled is true")
    return fail(f"IAM database authentication is off, so the sign-up function cannot log in: {_redeploy(ctx)}")


@promise(DATABASE, "engine and lifecycle as configured (PostgreSQL major, no paid RDS Extended Support)")
def engine(ctx: Context):
    db = instance(ctx)
    wanted = ctx.setting(lambda s: s.database.engine_version)
    version = str(db.get("EngineVersion", ""))
    if db.get("Engine") != "postgres" or version.split(".")[0] != wanted:
        return fail(f"the instance runs {db.get('Engine')} {version}, the stack file says postgres {wanted}: "
                    "finish or roll back the upgrade (runbooks/upgrade-major.md)")
    lifecycle = db.get("EngineLifecycleSupport")
    if lifecycle is None:
        return not_checked(f"postgres {version}; RDS did not report EngineLifecycleSupport")
    if lifecycle != ENGINE_LIFECYCLE_SUPPORT:
        return fail(f"EngineLifecycleSupport is {lifecycle} (billed once the major leaves standard support), the "
                    f"stack sets {ENGINE_LIFECYCLE_SUPPORT}: {_redeploy(ctx)}")
    return ok(f"postgres {version}, {lifecycle}")


@promise(DATABASE, "Multi-AZ as the stack file sets it")
def multi_az(ctx: Context):
    wanted = ctx.setting(lambda s: s.database.multi_az)
    actual = bool(instance(ctx).get("MultiAZ"))
    if actual == wanted:
        return ok(f"MultiAZ is {str(actual).lower()}")
    return fail(f"MultiAZ is {str(actual).lower()}, the stack file says {str(wanted).lower()}: {_redeploy(ctx)}")


@promise(DATABASE, "point-in-time restore is current (latest restorable time within 15 minutes)")
def restorable(ctx: Context):
    db = instance(ctx)
    latest = db.get("LatestRestorableTime")
    if db.get("DBInstanceStatus") in ("stopped", "stopping"):
        return not_checked("the instance is stopped: RDS keeps no new restorable time while it is")
    if latest is None:
        return fail("RDS reports no latest restorable time: automated backups are off or not started; "
                    f"{_redeploy(ctx)}")
    age = (ctx.now() - latest).total_seconds() / 60
    if age > 15:
        return fail(f"the latest restorable time is {int(age)} minutes old: RDS is not archiving transaction logs; "
                    "see `aws rds describe-events` for the instance and open an AWS support case if it persists")
    return ok(f"latest restorable time {latest.isoformat(timespec='minutes')}")


CHECKS = (available, encrypted, not_public, deletion_protection, backups, tls_only, iam_auth, engine, multi_az,
          restorable)
