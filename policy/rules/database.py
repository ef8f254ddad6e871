"""The RDS rules: instances, clusters, snapshots and proxies, each judged on its own props."""

from __future__ import annotations

from typing import Any

from .constants import (
    ENGINE_LIFECYCLE_SUPPORT,
    PROD_MIN_BACKUP_DAYS,
    RDS_CLUSTER,
    RDS_CLUSTER_INSTANCE,
    RDS_CLUSTER_SNAPSHOT,
    RDS_INSTANCE,
    RDS_LOG_EXPORTS,
    RDS_PROXY,
    RDS_SNAPSHOT,
    RDS_SNAPSHOT_COPY,
    RESERVED_USERNAMES,
    SCHEDULER_SCHEDULE,
)
from .props import UNKNOWN, as_list, as_number, aws_managed_key, known, switched_off, truthy
from .registry import Subject, resource_rule


@resource_rule("rds-not-public", types=(RDS_INSTANCE, RDS_CLUSTER, RDS_CLUSTER_INSTANCE),
               description="RDS instances, clusters and cluster instances are never publicly accessible.",
               practices=("no-public-access",))
def rds_not_public(r: Subject) -> list[str]:
    value = r.props.get("publiclyAccessible")
    if known(value) and truthy(value):
        return [f"{r.label} is publicly accessible; set publicly_accessible=False (the database lives in private "
                "subnets; operators use the Instance Connect Endpoint)"]
    return []


@resource_rule("rds-encrypted-with-cmk", types=(RDS_INSTANCE, RDS_CLUSTER),
               description="RDS storage (instances and clusters) is encrypted with a customer-managed KMS key.",
               practices=("encryption-at-rest",))
def rds_encrypted_with_cmk(r: Subject) -> list[str]:
    problems = []
    encrypted = r.props.get("storageEncrypted")
    if known(encrypted) and not truthy(encrypted):
        problems.append(f"{r.label} has unencrypted storage; set storage_encrypted=True with the stack's KMS key")
    key = r.props.get("kmsKeyId")
    if known(key) and (not key or aws_managed_key(key)):
        problems.append(f"{r.label} is not encrypted with a customer-managed KMS key (kms_key_id is "
                        f"{key or 'unset'}); set kms_key_id to the stack's CMK ARN")
    return problems


@resource_rule("rds-deletion-protection", types=(RDS_INSTANCE, RDS_CLUSTER),
               description="RDS instances and clusters have deletion protection on.",
               practices=("deletion-protection",), prod_only=True,
               dev_reason="a dev stack may turn it off to be decommissioned (cruddur-db:deletionProtection).")
def rds_deletion_protection(r: Subject) -> list[str]:
    if switched_off(r.props.get("deletionProtection")):
        return [f"{r.label} has deletion protection off; set deletion_protection=True "
                "(cruddur-db:deletionProtection true)"]
    return []


_BACKUP_DEFAULT_DAYS = {RDS_INSTANCE: 0, RDS_CLUSTER: 1}  # what AWS keeps when the property is unset


def is_read_replica(r: Subject) -> bool:
    """An RDS instance declared as a read replica (``replicate_source_db`` set). Its data is its source's: the
    source's backups and final snapshot keep it, and RDS creates replicas with backups off and keeps the source's
    engine (CreateDBInstanceReadReplica). Every other rule judges a replica like any instance."""
    source = r.props.get("replicateSourceDb")
    return r.type == RDS_INSTANCE and isinstance(source, str) and bool(source)


@resource_rule("rds-backup-retention", types=(RDS_INSTANCE, RDS_CLUSTER),
               description=f"RDS instances and clusters keep at least {PROD_MIN_BACKUP_DAYS} days of automated "
                           "backups (a read replica's are its source's).",
               practices=("deletion-protection",), prod_only=True,
               dev_reason="dev data is throwaway seed data, so a dev stack may keep fewer days to save cost.")
def rds_backup_retention(r: Subject) -> list[str]:
    raw = r.props.get("backupRetentionPeriod")
    if not known(raw) or is_read_replica(r):
        return []
    fix = f"set backup_retention_period >= {PROD_MIN_BACKUP_DAYS} (cruddur-db:backupRetentionDays)"
    days = _BACKUP_DEFAULT_DAYS[r.type] if raw is None else as_number(raw)
    if days is None:
        return [f"{r.label} has backup_retention_period {raw!r}, which is not a number of days; {fix}"]
    if days < PROD_MIN_BACKUP_DAYS:
        shown = int(days) if float(days).is_integer() else days
        return [f"{r.label} keeps {shown} day(s) of automated backups; {fix}"]
    return []


FINAL_SNAPSHOT_FIX = ("set skip_final_snapshot=False and a final_snapshot_identifier that is new for each instance "
                      "(components/database.py: <identifier>-final-<RandomId>)")


@resource_rule("rds-final-snapshot", types=(RDS_INSTANCE,),
               description="RDS instances keep a final snapshot when deleted or replaced (skip_final_snapshot false, "
                           "a final_snapshot_identifier that is not the fixed <identifier> or <identifier>-final); a "
                           "read replica's data is its source's.",
               practices=("deletion-protection",), prod_only=True, dev_advisory=False,
               dev_reason="a dev stack may skip it to be torn down (cruddur-db:skipFinalSnapshot)")
def rds_final_snapshot(r: Subject) -> list[str]:
    if is_read_replica(r):
        return []
    skip = r.props.get("skipFinalSnapshot", False)  # AWS's default is false; the provider's too
    if known(skip) and truthy(skip):
        return [f"{r.label} skips its final snapshot; {FINAL_SNAPSHOT_FIX} (cruddur-db:skipFinalSnapshot false)"]
    name = r.props.get("finalSnapshotIdentifier")
    if not known(name):
        return []
    if not name:
        return [f"{r.label} has no final_snapshot_identifier, so RDS refuses to delete or replace it with a final "
                f"snapshot; {FINAL_SNAPSHOT_FIX}"]
    identifier = r.props.get("identifier")
    if isinstance(identifier, str) and identifier and name in (identifier, f"{identifier}-final"):
        return [f"{r.label} names its final snapshot '{name}', which the next teardown or replacement would "
                f"collide with; {FINAL_SNAPSHOT_FIX}"]
    return []


def _blue_green_enabled(value: Any) -> Any:
    """``blue_green_update.enabled``: True/False, or UNKNOWN when not known yet."""
    if not known(value):
        return UNKNOWN
    if not isinstance(value, dict):
        return False
    enabled = value.get("enabled", False)
    return enabled if not known(enabled) else truthy(enabled)


@resource_rule("rds-major-upgrade-blue-green", types=(RDS_INSTANCE,),
               description="An RDS instance allows a major-version upgrade only through a blue/green deployment "
                           "(allow_major_version_upgrade needs blue_green_update.enabled).",
               practices=("safe-upgrades",))
def rds_major_upgrade_blue_green(r: Subject) -> list[str]:
    allow = r.props.get("allowMajorVersionUpgrade")
    if not known(allow) or not truthy(allow):
        return []
    enabled = _blue_green_enabled(r.props.get("blueGreenUpdate"))
    if enabled is UNKNOWN or enabled:
        return []
    return [f"{r.label} allows a major-version upgrade in place (allow_major_version_upgrade without "
            "blue_green_update.enabled); set blue_green_update={'enabled': True} so RDS upgrades a green copy and "
            "switches over (cruddur-db:upgradeFromEngineVersion, runbooks/upgrade-major.md)"]


EXTENDED_SUPPORT_FIX = (f'set engine_lifecycle_support="{ENGINE_LIFECYCLE_SUPPORT}" (components/database.py), so '
                        "that RDS upgrades the major version when its standard support ends instead of billing "
                        "Extended Support per vCPU-hour (runbooks/upgrade-major.md: upgrade before that date)")


@resource_rule("rds-no-paid-extended-support", types=(RDS_INSTANCE, RDS_CLUSTER),
               description="RDS instances and clusters opt out of paid RDS Extended Support (engine_lifecycle_support "
                           f"{ENGINE_LIFECYCLE_SUPPORT}): when a major version's standard support ends, RDS upgrades "
                           "it rather than billing for extended support. Unset means enrolled (AWS's default); a "
                           "read replica runs its source's engine.",
               practices=("patched-runtimes", "cost"))
def rds_no_paid_extended_support(r: Subject) -> list[str]:
    """Unset, ``open-source-rds-extended-support`` or anything else is a violation; a value not known yet at preview
    is judged when the engine knows it (``pulumi up`` validates the resolved inputs before it creates or updates)."""
    value = r.props.get("engineLifecycleSupport")
    if not known(value) or value == ENGINE_LIFECYCLE_SUPPORT or is_read_replica(r):
        return []
    if value is None or value == "":
        return [f"{r.label} does not set engine_lifecycle_support, so RDS enrols it in paid Extended Support when "
                f"its major version's standard support ends; {EXTENDED_SUPPORT_FIX}"]
    if value == "open-source-rds-extended-support":
        return [f"{r.label} is enrolled in paid Extended Support (engine_lifecycle_support "
                f"'{value}'); {EXTENDED_SUPPORT_FIX}"]
    return [f"{r.label} has engine_lifecycle_support {value!r}, which is not the opt-out; {EXTENDED_SUPPORT_FIX}"]


@resource_rule("prod-database-never-scheduled-off", types=(SCHEDULER_SCHEDULE,),
               description="No EventBridge Scheduler schedule stops a prod database (an rds stopDBInstance or "
                           "stopDBCluster target): prod runs around the clock; a run schedule (dbRunSchedule) is "
                           "for dev stacks.",
               practices=("cost",), prod_only=True, dev_advisory=False,
               dev_reason="a dev stack may stop its instance outside working hours (cruddur-db:dbRunSchedule)")
def prod_database_never_scheduled_off(r: Subject) -> list[str]:
    target = r.props.get("target")
    arn = target.get("arn") if isinstance(target, dict) else None
    if not known(arn) or not isinstance(arn, str):
        return []
    if arn.lower().split(":")[-1] in ("stopdbinstance", "stopdbcluster"):
        return [f"{r.label} stops the database on a schedule ({arn}); prod runs around the clock: remove the "
                "schedule (leave cruddur-db:dbRunSchedule empty on prod)"]
    return []


@resource_rule("rds-iam-auth", types=(RDS_INSTANCE, RDS_CLUSTER),
               description="RDS instances and clusters have IAM database authentication on.",
               practices=("strong-auth",))
def rds_iam_auth(r: Subject) -> list[str]:
    if switched_off(r.props.get("iamDatabaseAuthenticationEnabled")):
        return [f"{r.label} has IAM database authentication off; set iam_database_authentication_enabled=True"]
    return []


@resource_rule("rds-log-exports", types=(RDS_INSTANCE,),
               description="RDS instances export their PostgreSQL and upgrade logs to CloudWatch Logs.",
               practices=("audit-trail",))
def rds_log_exports(r: Subject) -> list[str]:
    exports = r.props.get("enabledCloudwatchLogsExports")
    if not known(exports):
        return []
    exports = [e for e in as_list(exports) if known(e)]
    engine = r.props.get("engine")
    wanted = RDS_LOG_EXPORTS if engine in ("postgres", None) else ()
    missing = [e for e in wanted if e not in exports]
    if missing or not exports:
        return [f"{r.label} does not export its {', '.join(missing) or 'database'} log(s) to CloudWatch Logs; set "
                f"enabled_cloudwatch_logs_exports={list(wanted or ['<engine log>'])}"]
    return []


@resource_rule("rds-no-default-admin-username", types=(RDS_INSTANCE, RDS_CLUSTER),
               description="RDS master users never have a default admin name (postgres, root, admin...).",
               practices=("strong-auth",))
def rds_no_default_admin(r: Subject) -> list[str]:
    username = r.props.get("masterUsername" if r.type == RDS_CLUSTER else "username")
    if isinstance(username, str) and username.lower() in RESERVED_USERNAMES:
        return [f"{r.label} uses the default admin name '{username}' attackers try first; set username to another "
                "name (cruddur-db:masterUsername, e.g. cruddur_admin)"]
    return []


@resource_rule("rds-snapshot-not-public", types=(RDS_SNAPSHOT, RDS_SNAPSHOT_COPY, RDS_CLUSTER_SNAPSHOT),
               description="RDS snapshots (instance, copied, cluster) are never shared with every AWS account.",
               practices=("no-public-access",))
def rds_snapshot_not_public(r: Subject) -> list[str]:
    shared = r.props.get("sharedAccounts")
    if known(shared) and any(isinstance(a, str) and a.strip().lower() == "all" for a in as_list(shared)):
        return [f"{r.label} is shared with every AWS account (shared_accounts contains 'all'); share it with named "
                "account ids only"]
    return []


@resource_rule("rds-proxy-requires-tls", types=(RDS_PROXY,),
               description="RDS proxies accept TLS connections only (require_tls).",
               practices=("encryption-in-transit",))
def rds_proxy_requires_tls(r: Subject) -> list[str]:
    if switched_off(r.props.get("requireTls")):
        return [f"{r.label} accepts connections without TLS; set require_tls=True"]
    return []

