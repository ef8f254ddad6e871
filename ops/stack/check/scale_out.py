"""Read replicas and the RDS Proxy, where the stack file turns them on (``readReplicas``, ``rdsProxy``;
docs/scaling.md): each replica as RDS describes it (``DescribeDBInstances``) against what components/read_replicas.py
declares, and its recent ``ReplicaLag`` (``GetMetricStatistics``) against its alarm's threshold
(components/monitoring.py); the proxy (``DescribeDBProxies``) and its target (``DescribeDBProxyTargets``) against
components/rds_proxy.py, and the app's ``CONNECTION_URL`` as ``cruddur stack env`` prints it (ops/stack/app_env.py).

An option the stack file leaves off is one ``not checked`` line, said by its first check (the replica count, the
proxy's existence); its other checks add no line (``DoesNotApply``)."""

from __future__ import annotations

import datetime
from typing import Any

from ops.stack.check.context import Context
from ops.stack.check.database import READY, ctx_code, instance
from ops.stack.check.network import GROUP_OUTPUTS
from ops.stack.check.result import SCALE_OUT, DoesNotApply, NotChecked, fail, not_checked, ok, promise

REPLICAS_OFF = "readReplicas is 0 in the stack file: this stack has no read replicas"
PROXY_OFF = "rdsProxy is false in the stack file: this stack has no RDS Proxy"
REMOVE_REPLICA = "runbooks/promote-replica.md#remove-a-replica"
PROXY_RUNBOOK = "runbooks/rds-proxy.md#if-the-proxy-misbehaves"
LAG_WINDOW = datetime.timedelta(minutes=15)
LAG_PERIOD_SECONDS = 60  # the alarm's period: one maximum a minute
# What to do about an UNAVAILABLE target, by TargetHealth.Reason (RDS API reference, TargetHealth).
TARGET_FIXES = {
    "AUTH_FAILURE": "the proxy cannot log in with the app secret: check that the secret's current version logs in "
                    "(`cruddur stack check -s {stack} -g 'credentials and rotation' --tunnel-port 5432`) and that "
                    "the proxy's role may read it (components/rds_proxy.py)",
    "CONNECTION_FAILED": "the proxy cannot reach the database: check that the database's security group admits the "
                         "proxy's and that the instance is available, then run `pulumi up -s {stack}`",
    "UNREACHABLE": "the proxy cannot reach the database: check that the database's security group admits the "
                   "proxy's and that the instance is available, then run `pulumi up -s {stack}`",
}


def _listed(items: list[str]) -> str:
    return ", ".join(items)


# -- read replicas ---------------------------------------------------------------------------------------------------
def _exported(ctx: Context) -> list[str]:
    return [str(identifier) for identifier in ctx.outputs.get("replicaInstanceIds") or []]


def _described(ctx: Context, ids: list[str]) -> dict[str, dict[str, Any] | None]:
    """Each exported replica's description (``DBInstances[0]``), or None where RDS has no such instance; read once."""
    def read() -> dict[str, dict[str, Any] | None]:
        from botocore.exceptions import ClientError

        found: dict[str, dict[str, Any] | None] = {}
        for identifier in ids:
            try:
                found[identifier] = ctx.call("rds", "describe_db_instances",
                                             DBInstanceIdentifier=identifier)["DBInstances"][0]
            except ClientError as exc:
                if "NotFound" not in ctx_code(exc):
                    raise
                found[identifier] = None
        return found
    return ctx.once("rds-replicas", read)


def replicas(ctx: Context) -> list[dict[str, Any]]:
    """The exported replicas RDS has. Nothing exported: no line when the stack file declares none (the count says
    so), not checked when it declares some (the output is missing)."""
    ids = _exported(ctx)
    if not ids:
        if ctx.settings is None or not ctx.settings.database.read_replicas:
            raise DoesNotApply(REPLICAS_OFF)
        ctx.output("replicaInstanceIds")  # NotChecked, naming the output
    found = [d for d in _described(ctx, ids).values() if d is not None]
    if not found:
        raise NotChecked(f"RDS has none of the read replicas {_listed(ids)} (see \"every read replica exists\")")
    return found


def _name(replica: dict[str, Any]) -> str:
    return str(replica.get("DBInstanceIdentifier", "?"))


def _redeploy(ctx: Context) -> str:
    return f"run `pulumi up -s {ctx.stack}` (it puts back what the stack file configures)"


@promise(SCALE_OUT, "as many read replicas as the stack file sets (readReplicas), and no other replica of the primary")
def replica_count(ctx: Context):
    ids = _exported(ctx)
    wanted = ctx.setting(lambda s: s.database.read_replicas)
    if not wanted and not ids:
        return not_checked(REPLICAS_OFF)
    if len(ids) != wanted:
        shown = f" ({_listed(ids)})" if ids else ""
        return fail(f"the stack has {len(ids)} read replicas{shown}, the stack file sets readReplicas {wanted}: run "
                    f"`pulumi up -s {ctx.stack}` (lowering it: {REMOVE_REPLICA})")
    others = sorted(str(r) for r in instance(ctx).get("ReadReplicaDBInstanceIdentifiers") or [] if str(r) not in ids)
    if others:
        return fail(f"RDS lists replicas of the primary the stack does not declare: {_listed(others)}: they bill "
                    f"outside the stack; delete them once nobody reads from them (`aws rds delete-db-instance "
                    f"--db-instance-identifier {others[0]} --skip-final-snapshot`)")
    return ok(f"{wanted}: {_listed(ids)}")


@promise(SCALE_OUT, "every read replica exists and is available")
def replicas_available(ctx: Context):
    ids = _exported(ctx)
    if not ids:
        replicas(ctx)  # no line, or not checked naming the output
    described = _described(ctx, ids)
    missing = [i for i in ids if described[i] is None]
    if missing:
        return fail(f"RDS has no instance {_listed(missing)} in {ctx.region}: run `pulumi up -s {ctx.stack}`, or "
                    f"`pulumi refresh -s {ctx.stack}` if it was deleted outside Pulumi")
    down = [f"{i} is {described[i].get('DBInstanceStatus', '?')}" for i in ids
            if described[i].get("DBInstanceStatus") not in READY]
    if down:
        first = down[0].split()[0]
        return fail(f"{'; '.join(down)}: see `aws rds describe-events --source-type db-instance --source-identifier "
                    f"{first}`; a replica that does not recover is replaced ({REMOVE_REPLICA})")
    return ok(_listed([f"{i} {described[i]['DBInstanceStatus']}" for i in ids]))


@promise(SCALE_OUT, "every read replica replicates this stack's primary")
def replicas_of_primary(ctx: Context):
    primary = str(ctx.output("dbInstanceId"))
    found = replicas(ctx)
    wrong = []
    for replica in found:
        source = replica.get("ReadReplicaSourceDBInstanceIdentifier")
        if not source:
            wrong.append(f"{_name(replica)} replicates nothing (promoted)")
        elif source != primary:
            wrong.append(f"{_name(replica)} replicates {source}")
    if wrong:
        return fail(f"{'; '.join(wrong)}, not {primary}: if it was promoted on purpose, finish "
                    f"runbooks/promote-replica.md (its last step brings the stack back to code); else remove it and "
                    f"add it back ({REMOVE_REPLICA})")
    return ok(f"{len(found)} of {primary}")


@promise(SCALE_OUT, "every read replica is encrypted with the stack's key (kmsKeyArn)")
def replicas_encrypted(ctx: Context):
    key = str(ctx.output("kmsKeyArn"))
    wrong = []
    for replica in replicas(ctx):
        if not replica.get("StorageEncrypted"):
            wrong.append(f"{_name(replica)} is NOT encrypted")
        elif replica.get("KmsKeyId") != key:
            wrong.append(f"{_name(replica)} is encrypted with {replica.get('KmsKeyId')}")
    if wrong:
        return fail(f"{'; '.join(wrong)}, not with the stack's key {key}: a replica cannot be re-encrypted in place; "
                    f"remove it and add it back ({REMOVE_REPLICA})")
    return ok(f"encrypted with {key}")


@promise(SCALE_OUT, "no read replica is publicly accessible")
def replicas_not_public(ctx: Context):
    public = [_name(r) for r in replicas(ctx) if r.get("PubliclyAccessible")]
    if public:
        return fail(f"PubliclyAccessible is true on {_listed(public)}: {_redeploy(ctx)}, or at once `aws rds "
                    f"modify-db-instance --db-instance-identifier {public[0]} --no-publicly-accessible "
                    "--apply-immediately`")
    return ok("PubliclyAccessible is false")


def _group(db: dict[str, Any]) -> tuple[str, str]:
    groups = db.get("DBParameterGroups") or [{}]
    return groups[0].get("DBParameterGroupName", "none"), groups[0].get("ParameterApplyStatus", "?")


@promise(SCALE_OUT, "every read replica runs the primary's TLS-only parameter group, applied (not pending-reboot)")
def replicas_tls_only(ctx: Context):
    found = replicas(ctx)
    wanted, _ = _group(instance(ctx))
    other, reboot, applying = [], [], []
    for replica in found:
        name, state = _group(replica)
        if name != wanted:
            other.append(f"{_name(replica)} uses {name}")
        elif state == "pending-reboot":
            reboot.append(_name(replica))
        elif state != "in-sync":
            applying.append(f"{_name(replica)} is {state}")
    if other:
        return fail(f"{'; '.join(other)}, not the primary's {wanted} (rds.force_ssl=1): {_redeploy(ctx)}")
    if reboot:
        return fail(f"parameter group {wanted} is pending-reboot on {_listed(reboot)}: the replica still runs the old "
                    f"parameters; reboot it in a quiet hour: `aws rds reboot-db-instance --db-instance-identifier "
                    f"{reboot[0]}`")
    if applying:
        return not_checked(f"parameter group {wanted}: {'; '.join(applying)}: RDS is applying it; re-run the check "
                           "in a few minutes")
    return ok(f"{wanted}, in-sync")


@promise(SCALE_OUT, "IAM database authentication is on on every read replica")
def replicas_iam_auth(ctx: Context):
    off = [_name(r) for r in replicas(ctx) if not r.get("IAMDatabaseAuthenticationEnabled")]
    if off:
        return fail(f"IAM database authentication is off on {_listed(off)}: {_redeploy(ctx)}")
    return ok("IAMDatabaseAuthenticationEnabled is true")


@promise(SCALE_OUT, "deletion protection on every read replica as the stack file sets it for the primary")
def replicas_deletion_protection(ctx: Context):
    found = replicas(ctx)
    wanted = ctx.setting(lambda s: s.database.deletion_protection)
    wrong = [_name(r) for r in found if bool(r.get("DeletionProtection")) != wanted]
    if wrong:
        return fail(f"DeletionProtection is {str(not wanted).lower()} on {_listed(wrong)}, the stack file says "
                    f"{str(wanted).lower()}: {_redeploy(ctx)}")
    return ok(f"DeletionProtection is {str(wanted).lower()}")


@promise(SCALE_OUT, "every read replica is in an AZ other than the primary's, where the subnet group has one")
def replicas_zones(ctx: Context):
    found = replicas(ctx)
    db = instance(ctx)
    primary_zone = db.get("AvailabilityZone")
    if not primary_zone:
        raise NotChecked("RDS reports no AvailabilityZone for the primary")
    zones = {(s.get("SubnetAvailabilityZone") or {}).get("Name") for s in (db.get("DBSubnetGroup") or {}).get(
        "Subnets", [])} - {None}
    if not zones - {primary_zone}:
        return ok(f"the subnet group has no zone but the primary's {primary_zone}")
    shared = [_name(r) for r in found if r.get("AvailabilityZone") == primary_zone]
    standby = db.get("SecondaryAvailabilityZone")
    if shared and db.get("MultiAZ") and standby and standby != primary_zone:
        return ok(f"{_listed(shared)} share the primary's {primary_zone} since a failover; its standby in {standby} "
                  "takes over on a zone outage (runbooks/failover.md)")
    if shared:
        return fail(f"{_listed(shared)} share the primary's AZ {primary_zone}, so one zone outage takes the primary "
                    f"and its readers: move the replica by removing it and adding it back ({REMOVE_REPLICA})")
    placed = _listed([f"{_name(r)} in {r.get('AvailabilityZone')}" for r in found])
    return ok(f"{placed}; the primary in {primary_zone}")


@promise(SCALE_OUT, "every read replica's ReplicaLag in the last 15 minutes is within its alarm's threshold")
def replicas_lag(ctx: Context):
    from components.monitoring import REPLICA_LAG_SECONDS

    found = replicas(ctx)
    end = ctx.now()
    lags, silent, idle = {}, [], []
    for replica in found:
        name = _name(replica)
        if replica.get("DBInstanceStatus") not in READY:
            idle.append(name)  # "every read replica exists and is available" fails for it
            continue
        points = ctx.call("cloudwatch", "get_metric_statistics", Namespace="AWS/RDS", MetricName="ReplicaLag",
                          Dimensions=[{"Name": "DBInstanceIdentifier", "Value": name}], StartTime=end - LAG_WINDOW,
                          EndTime=end, Period=LAG_PERIOD_SECONDS, Statistics=["Maximum"])["Datapoints"]
        if points:
            lags[name] = max(float(p["Maximum"]) for p in points)
        else:
            silent.append(name)
    behind = [f"{n} was {lag:g} s behind" for n, lag in lags.items() if lag > REPLICA_LAG_SECONDS]
    if behind:
        first = behind[0].split()[0]
        return fail(f"{'; '.join(behind)} (the most in 15 minutes; its alarm fires past {REPLICA_LAG_SECONDS} s), so "
                    f"its readers see stale data: see `aws rds describe-events --source-type db-instance "
                    f"--source-identifier {first}` and the primary's write load; a replica that does not catch up "
                    f"is replaced ({REMOVE_REPLICA})")
    stopped = silent + [n for n, lag in lags.items() if lag < 0]  # -1: replication is not active
    if stopped:
        return fail(f"{_listed(stopped)} reported no ReplicaLag in 15 minutes (its alarm counts that as breaching): "
                    f"replication has stopped; see `aws rds describe-events --source-type db-instance "
                    f"--source-identifier {stopped[0]}`; a replica that does not recover is replaced "
                    f"({REMOVE_REPLICA})")
    if not lags:
        return not_checked(f"{_listed(idle)} not available, so no lag to judge (see \"every read replica exists\")")
    return ok(f"at most {max(lags.values()):g} s behind (alarm past {REPLICA_LAG_SECONDS} s)")


# -- RDS Proxy -------------------------------------------------------------------------------------------------------
def proxy_name(ctx: Context) -> str:
    """``cruddur-<stack>-proxy`` (components/rds_proxy.py spells it with ``Naming``; only the stack name counts)."""
    from components.naming import Naming

    return Naming(ctx.stack, is_prod=False).physical_name("proxy")


def proxy(ctx: Context, first: bool = False) -> dict[str, Any]:
    """The proxy's description (``DBProxies[0]``), read once. Neither exported nor in the stack file: not checked from
    the ``first`` check, no line from the others."""
    if not ctx.outputs.get("proxyEndpoint"):
        if first and not ctx.setting(lambda s: s.database.rds_proxy):
            raise NotChecked(PROXY_OFF)
        if not first and (ctx.settings is None or not ctx.settings.database.rds_proxy):
            raise DoesNotApply(PROXY_OFF)
    name = proxy_name(ctx)

    def read() -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            return ctx.call("rds", "describe_db_proxies", DBProxyName=name)["DBProxies"][0]
        except ClientError as exc:
            if "NotFound" in ctx_code(exc):
                raise NotChecked(f"RDS has no proxy {name} in {ctx.region}") from None
            raise
    return ctx.once("rds-proxy", read)


@promise(SCALE_OUT, "the RDS Proxy exists, is available, and is the stack's proxyEndpoint")
def proxy_available(ctx: Context):
    name = proxy_name(ctx)
    try:
        found = proxy(ctx, first=True)
    except NotChecked as exc:
        if exc.why.startswith("RDS has no proxy"):
            return fail(f"{exc.why}: run `pulumi up -s {ctx.stack}` (runbooks/rds-proxy.md)")
        raise
    status = found.get("Status", "?")
    if status in ("creating", "modifying"):
        return not_checked(f"{name} is {status}: re-run the check in a few minutes")
    if status != "available":
        return fail(f"{name} is {status}: read why in `aws rds describe-db-proxies --db-proxy-name {name}`, fix it, "
                    f"then run `pulumi up -s {ctx.stack}` ({PROXY_RUNBOOK})")
    if ctx.settings is not None and not ctx.settings.database.rds_proxy:
        return fail(f"the stack file sets rdsProxy false, but the stack has {name}: point the app at the instance, "
                    f"then run `pulumi up -s {ctx.stack}` (runbooks/rds-proxy.md#off)")
    endpoint, exported = found.get("Endpoint"), ctx.outputs.get("proxyEndpoint")
    if exported != endpoint:
        return fail(f"proxyEndpoint is {exported or 'missing'}, the proxy's endpoint is {endpoint}: run `pulumi up "
                    f"-s {ctx.stack}` (or `pulumi refresh -s {ctx.stack}`) so the app and the sign-up function use it")
    return ok(f"{name} available at {endpoint}")


@promise(SCALE_OUT, "the RDS Proxy requires TLS")
def proxy_tls(ctx: Context):
    found = proxy(ctx)
    if found.get("RequireTLS") is not True:
        name = found.get("DBProxyName", proxy_name(ctx))
        return fail(f"RequireTLS is false on {name}, so clients may connect in plain text: {_redeploy(ctx)}, or at "
                    f"once `aws rds modify-db-proxy --db-proxy-name {name} --require-tls`")
    return ok("RequireTLS is true")


@promise(SCALE_OUT, "the RDS Proxy is in the stack's private subnets, with a security group of its own")
def proxy_network(ctx: Context):
    found = proxy(ctx)
    name = found.get("DBProxyName", proxy_name(ctx))
    private = {str(s) for s in ctx.output("privateSubnetIds")}
    subnets = [str(s) for s in found.get("VpcSubnetIds") or []]
    outside = [s for s in subnets if s not in private]
    if not subnets or outside:
        return fail(f"{name} has subnets {_listed(outside) or 'none'} outside privateSubnetIds: {_redeploy(ctx)}")
    groups = [str(g) for g in found.get("VpcSecurityGroupIds") or []]
    stack_groups = {str(ctx.outputs[k]): k for k in GROUP_OUTPUTS if ctx.outputs.get(k)}
    shared = [f"{g} ({stack_groups[g]})" for g in groups if g in stack_groups]
    if len(groups) != 1 or shared:
        return fail(f"{name} has security groups {_listed(shared or groups) or 'none'}, not one of its own: "
                    f"{_redeploy(ctx)} (components/rds_proxy.py gives it one that the database admits)")
    return ok(f"{len(subnets)} private subnets, its own security group {groups[0]}")


@promise(SCALE_OUT, "the RDS Proxy's target is the primary, and it is AVAILABLE")
def proxy_target(ctx: Context):
    name = proxy(ctx).get("DBProxyName", proxy_name(ctx))
    primary = str(ctx.output("dbInstanceId"))
    targets, marker = [], None
    while True:
        page = ctx.call("rds", "describe_db_proxy_targets", DBProxyName=name, **({"Marker": marker} if marker else {}))
        targets += page.get("Targets", [])
        marker = page.get("Marker")
        if not marker:
            break
    mine = [t for t in targets if t.get("RdsResourceId") == primary and t.get("Type") == "RDS_INSTANCE"]
    others = [str(t.get("RdsResourceId")) for t in targets if t not in mine]
    if not mine:
        return fail(f"{name} does not target the primary {primary} (targets: {_listed(others) or 'none'}): run "
                    f"`pulumi up -s {ctx.stack}` (it registers the primary)")
    if others:
        return fail(f"{name} also targets {_listed(others)}: the stack's proxy fronts the primary only; run `pulumi up "
                    f"-s {ctx.stack}`")
    health = mine[0].get("TargetHealth") or {}
    state, reason = health.get("State", "?"), health.get("Reason")
    if state == "AVAILABLE":
        return ok(f"{primary}: AVAILABLE")
    said = f" ({reason}: {health.get('Description') or 'no description'})" if reason else ""
    if state == "REGISTERING" or reason == "PENDING_PROXY_CAPACITY":
        return not_checked(f"{primary} is {state}{said}: the proxy takes a few minutes after `pulumi up`; re-run the "
                           "check")
    default = f"see `aws rds describe-db-proxy-targets --db-proxy-name {name}` and {PROXY_RUNBOOK}"
    return fail(f"{name}'s target {primary} is {state}{said}: "
                f"{TARGET_FIXES.get(reason or '', default).format(stack=ctx.stack)}")


@promise(SCALE_OUT, "the app's CONNECTION_URL (`cruddur stack env`) goes through the RDS Proxy")
def proxy_connection_url(ctx: Context):
    from urllib.parse import urlsplit

    from ops.stack.app_env import app_env

    endpoint = proxy(ctx).get("Endpoint")
    host = urlsplit(app_env(ctx.outputs, ctx.stack)["CONNECTION_URL"]).hostname  # the password never leaves here
    if host != endpoint:
        return fail(f"`cruddur stack env -s {ctx.stack}` gives CONNECTION_URL on {host}, not the proxy's {endpoint} "
                    f"(proxyEndpoint is {ctx.outputs.get('proxyEndpoint') or 'missing'}): run `pulumi up -s "
                    f"{ctx.stack}`, then roll the app's configuration (runbooks/rds-proxy.md#on)")
    return ok(f"CONNECTION_URL -> {endpoint}")


CHECKS = (replica_count, replicas_available, replicas_of_primary, replicas_encrypted, replicas_not_public,
          replicas_tls_only, replicas_iam_auth, replicas_deletion_protection, replicas_zones, replicas_lag,
          proxy_available, proxy_tls, proxy_network, proxy_target, proxy_connection_url)
