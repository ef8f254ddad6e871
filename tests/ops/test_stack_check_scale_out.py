"""`cruddur stack check`'s "read replicas and proxy" group: each check against the dev stack in moto with two read
replicas and the RDS Proxy (ok), and the same stack with that one promise broken (FAIL and its fix line); the group on
a stack file that leaves both off (one `not checked` line each). Where moto lacks an API or a field, a Stubber client
answers in the shape of the AWS API reference (botocore validates each stubbed response against the service model)."""

from __future__ import annotations

import datetime

import pytest

from ops.stack.check import scale_out
from ops.stack.check.runner import run
from tests.ops.stack_check_support import (
    INSTANCE,
    PARAMETER_GROUP,
    PROXY,
    REGION,
    REPLICAS,
    build,
    client,
    judge,
    lag,
    now,
    rds_proxy,
    replica,
    scaled_settings,
    stub,
    with_scale_out,
)

MINUTE = datetime.timedelta(minutes=1)
REMOVE = "runbooks/promote-replica.md#remove-a-replica"
REDEPLOY = "run `pulumi up -s dev` (it puts back what the stack file configures)"
ONE, TWO = REPLICAS


@pytest.fixture
def plain(moto_aws):
    return build()


@pytest.fixture
def stack(plain):
    return with_scale_out(plain)


def described(*identifiers: str, **fields) -> list[tuple[str, dict]]:
    """moto's DescribeDBInstances answer for each instance, with ``fields`` set (None: left out) on the first (RDS API
    reference, DescribeDBInstances: DBInstance)."""
    answers = []
    for number, identifier in enumerate(identifiers):
        answer = client("rds").describe_db_instances(DBInstanceIdentifier=identifier)
        answer.pop("ResponseMetadata")
        if number == 0:
            answer["DBInstances"][0].update(fields)
            answer["DBInstances"][0] = {k: v for k, v in answer["DBInstances"][0].items() if v is not None}
        answers.append(("describe_db_instances", answer))
    return answers


def modify(identifier: str, **changes) -> None:
    client("rds").modify_db_instance(DBInstanceIdentifier=identifier, ApplyImmediately=True, **changes)


# -- every promise of the healthy stack holds ------------------------------------------------------------------------
HEALTHY = [
    (scale_out.replica_count, f"2: {ONE}, {TWO}"),
    (scale_out.replicas_available, f"{ONE} available, {TWO} available"),
    (scale_out.replicas_of_primary, f"2 of {INSTANCE}"),
    (scale_out.replicas_encrypted, "encrypted with arn:aws:kms:eu-west-1:"),
    (scale_out.replicas_not_public, "PubliclyAccessible is false"),
    (scale_out.replicas_tls_only, f"{PARAMETER_GROUP}, in-sync"),
    (scale_out.replicas_iam_auth, "IAMDatabaseAuthenticationEnabled is true"),
    (scale_out.replicas_deletion_protection, "DeletionProtection is true"),
    (scale_out.replicas_zones, f"{ONE} in eu-west-1b, {TWO} in eu-west-1b; the primary in eu-west-1a"),
    (scale_out.replicas_lag, "at most 1 s behind (alarm past 60 s)"),
    (scale_out.proxy_available, f"{PROXY} available at {PROXY}."),
    (scale_out.proxy_tls, "RequireTLS is true"),
    (scale_out.proxy_network, "2 private subnets, its own security group sg-"),
    (scale_out.proxy_target, f"{INSTANCE}: AVAILABLE"),
    (scale_out.proxy_connection_url, f"CONNECTION_URL -> {PROXY}."),
]


@pytest.mark.parametrize(("check", "evidence"), HEALTHY, ids=[c.run.__name__ for c, _ in HEALTHY])
def test_the_scaled_out_stack_keeps_the_promise(stack, check, evidence):
    result = judge(stack.context(at=now() + MINUTE), check)
    assert result.status == "ok", result
    assert result.detail.startswith(evidence)


def test_a_stack_file_without_replicas_or_proxy_is_one_line_each(plain):
    results = run(plain.context(), scale_out.CHECKS)
    assert [(r.status, r.detail) for r in results] == [
        ("not checked", "readReplicas is 0 in the stack file: this stack has no read replicas"),
        ("not checked", "rdsProxy is false in the stack file: this stack has no RDS Proxy")]
    assert [r.promise for r in results] == [scale_out.replica_count.promise, scale_out.proxy_available.promise]


def test_an_unreadable_stack_file_is_one_line_each(plain):
    ctx = plain.context()
    ctx.settings, ctx.settings_problem = None, "stack 'dev' has 1 configuration problem(s): - cruddur-db:rdsProxy = 2"
    why = ("the stack file cannot be read, so what it configures is unknown: stack 'dev' has 1 configuration "
           "problem(s): - cruddur-db:rdsProxy = 2")
    assert [(r.status, r.detail) for r in run(ctx, scale_out.CHECKS)] == [("not checked", why)] * 2


def test_only_the_configured_option_is_checked(plain):
    readers = with_scale_out(plain)
    only = type(readers)(readers.outputs, readers.ids, scaled_settings(proxy=False))
    results = run(only.context(proxyEndpoint=None, at=now() + MINUTE), scale_out.CHECKS)
    assert len(results) == 11
    assert [r.status for r in results[:10]] == ["ok"] * 10
    assert (results[10].status, results[10].detail) == ("not checked", scale_out.PROXY_OFF)


# -- the replicas, each promise broken ---------------------------------------------------------------------------------
def test_fewer_replicas_than_the_stack_file_sets_fail(stack):
    result = judge(stack.context(replicaInstanceIds=[ONE]), scale_out.replica_count)
    assert (result.status, result.detail) == ("FAIL", (
        f"the stack has 1 read replicas ({ONE}), the stack file sets readReplicas 2: run `pulumi up -s dev` (lowering "
        f"it: {REMOVE})"))


def test_replicas_the_stack_file_no_longer_declares_fail(stack):
    leftover = type(stack)(stack.outputs, stack.ids, scaled_settings(replicas=0))
    result = judge(leftover.context(), scale_out.replica_count)
    assert (result.status, result.detail) == ("FAIL", (
        f"the stack has 2 read replicas ({ONE}, {TWO}), the stack file sets readReplicas 0: run `pulumi up -s dev` "
        f"(lowering it: {REMOVE})"))


def test_a_replica_made_outside_the_stack_fails(stack):
    replica(stack, "someones-reader")
    result = judge(stack.context(), scale_out.replica_count)
    assert (result.status, result.detail) == ("FAIL", (
        "RDS lists replicas of the primary the stack does not declare: someones-reader: they bill outside the stack; "
        "delete them once nobody reads from them (`aws rds delete-db-instance --db-instance-identifier someones-reader "
        "--skip-final-snapshot`)"))


def test_a_replica_that_is_gone_fails(stack):
    modify(TWO, DeletionProtection=False)
    client("rds").delete_db_instance(DBInstanceIdentifier=TWO, SkipFinalSnapshot=True)
    result = judge(stack.context(), scale_out.replicas_available)
    assert (result.status, result.detail) == ("FAIL", (
        f"RDS has no instance {TWO} in {REGION}: run `pulumi up -s dev`, or `pulumi refresh -s dev` if it was deleted "
        "outside Pulumi"))
    # the other checks judge the replica that is there
    assert judge(stack.context(), scale_out.replicas_encrypted).status == "ok"


def test_a_replica_that_is_not_available_fails(stack):
    # moto's replicas are always "available"; RDS reports e.g. "storage-full" (API reference, DBInstanceStatus)
    rds = stub("rds", *described(ONE, TWO, DBInstanceStatus="storage-full"))
    result = judge(stack.context(clients={"rds": rds}), scale_out.replicas_available)
    assert (result.status, result.detail) == ("FAIL", (
        f"{ONE} is storage-full: see `aws rds describe-events --source-type db-instance --source-identifier {ONE}`; a "
        f"replica that does not recover is replaced ({REMOVE})"))


def test_a_promoted_replica_fails(stack):
    # a promoted replica has no ReadReplicaSourceDBInstanceIdentifier (API reference, DBInstance); moto keeps it
    rds = stub("rds", *described(ONE, TWO, ReadReplicaSourceDBInstanceIdentifier=None))
    result = judge(stack.context(clients={"rds": rds}), scale_out.replicas_of_primary)
    assert (result.status, result.detail) == ("FAIL", (
        f"{ONE} replicates nothing (promoted), not {INSTANCE}: if it was promoted on purpose, finish "
        "runbooks/promote-replica.md (its last step brings the stack back to code); else remove it and add it back "
        f"({REMOVE})"))


def test_a_replica_of_another_instance_fails(stack):
    rds = stub("rds", *described(ONE, TWO, ReadReplicaSourceDBInstanceIdentifier="cruddur-qa-db"))
    result = judge(stack.context(clients={"rds": rds}), scale_out.replicas_of_primary)
    assert result.status == "FAIL"
    assert result.detail.startswith(f"{ONE} replicates cruddur-qa-db, not {INSTANCE}: ")


def test_a_replica_under_another_key_fails(stack):
    other = client("kms").create_key(Description="not the stack's")["KeyMetadata"]["Arn"]
    result = judge(stack.context(kmsKeyArn=other), scale_out.replicas_encrypted)
    key = stack.ids["key"]
    assert (result.status, result.detail) == ("FAIL", (
        f"{ONE} is encrypted with {key}; {TWO} is encrypted with {key}, not with the stack's key {other}: a replica "
        f"cannot be re-encrypted in place; remove it and add it back ({REMOVE})"))


@pytest.mark.parametrize(("check", "change", "fix"), [
    (scale_out.replicas_not_public, {"PubliclyAccessible": True},
     f"PubliclyAccessible is true on {TWO}: {REDEPLOY}, or at once `aws rds modify-db-instance "
     f"--db-instance-identifier {TWO} --no-publicly-accessible --apply-immediately`"),
    (scale_out.replicas_iam_auth, {"EnableIAMDatabaseAuthentication": False},
     f"IAM database authentication is off on {TWO}: {REDEPLOY}"),
    (scale_out.replicas_deletion_protection, {"DeletionProtection": False},
     f"DeletionProtection is false on {TWO}, the stack file says true: {REDEPLOY}"),
], ids=["public", "iam-auth", "deletion-protection"])
def test_a_replica_changed_outside_pulumi_fails(stack, check, change, fix):
    modify(TWO, **change)
    result = judge(stack.context(), check)
    assert (result.status, result.detail) == ("FAIL", fix)


def test_a_replica_on_another_parameter_group_fails(stack):
    client("rds").create_db_parameter_group(DBParameterGroupName="plain", DBParameterGroupFamily="postgres17",
                                            Description="no force_ssl")
    modify(ONE, DBParameterGroupName="plain")
    result = judge(stack.context(), scale_out.replicas_tls_only)
    assert (result.status, result.detail) == ("FAIL", (
        f"{ONE} uses plain, not the primary's {PARAMETER_GROUP} (rds.force_ssl=1): {REDEPLOY}"))


def test_a_replica_pending_reboot_fails_with_the_reboot(stack):
    # DescribeDBInstances (API reference: DBParameterGroupStatus.ParameterApplyStatus "pending-reboot"), which moto
    # always reports in-sync; the primary's answer first, as the check reads it.
    pending = [{"DBParameterGroupName": PARAMETER_GROUP, "ParameterApplyStatus": "pending-reboot"}]
    rds = stub("rds", *described(ONE, TWO), *described(INSTANCE))
    rds_pending = stub("rds", *described(ONE, TWO, DBParameterGroups=pending), *described(INSTANCE))
    assert judge(stack.context(clients={"rds": rds}), scale_out.replicas_tls_only).status == "ok"
    result = judge(stack.context(clients={"rds": rds_pending}), scale_out.replicas_tls_only)
    assert (result.status, result.detail) == ("FAIL", (
        f"parameter group {PARAMETER_GROUP} is pending-reboot on {ONE}: the replica still runs the old parameters; "
        f"reboot it in a quiet hour: `aws rds reboot-db-instance --db-instance-identifier {ONE}`"))


def test_a_replica_in_the_primarys_zone_fails(plain):
    stack = with_scale_out(plain)
    replica(stack, "cruddur-dev-db-replica-3", zone=f"{REGION}a")
    ctx = stack.context(replicaInstanceIds=[*REPLICAS, "cruddur-dev-db-replica-3"])
    result = judge(ctx, scale_out.replicas_zones)
    assert (result.status, result.detail) == ("FAIL", (
        f"cruddur-dev-db-replica-3 share the primary's AZ {REGION}a, so one zone outage takes the primary and its "
        f"readers: move the replica by removing it and adding it back ({REMOVE})"))


def test_a_replica_sharing_a_multi_az_primarys_zone_after_a_failover_holds(stack):
    # After a Multi-AZ failover the primary runs in the old standby's zone (runbooks/failover.md): DescribeDBInstances
    # (API reference: MultiAZ, SecondaryAvailabilityZone), which moto does not report.
    rds = stub("rds", *described(ONE, TWO), *described(INSTANCE, AvailabilityZone=f"{REGION}b", MultiAZ=True,
                                                        SecondaryAvailabilityZone=f"{REGION}a"))
    result = judge(stack.context(clients={"rds": rds}), scale_out.replicas_zones)
    assert (result.status, result.detail) == ("ok", (
        f"{ONE}, {TWO} share the primary's {REGION}b since a failover; its standby in {REGION}a takes over on a zone "
        "outage (runbooks/failover.md)"))


def test_a_replica_behind_its_alarm_fails(stack):
    lag(TWO, 75.0)
    result = judge(stack.context(at=now() + MINUTE), scale_out.replicas_lag)
    assert (result.status, result.detail) == ("FAIL", (
        f"{TWO} was 75 s behind (the most in 15 minutes; its alarm fires past 60 s), so its readers see stale data: "
        f"see `aws rds describe-events --source-type db-instance --source-identifier {TWO}` and the primary's write "
        f"load; a replica that does not catch up is replaced ({REMOVE})"))


def test_a_replica_that_stopped_reporting_its_lag_fails(stack):
    # a quarter of an hour later, no data point since: the alarm treats missing data as breaching
    result = judge(stack.context(at=now() + 20 * MINUTE), scale_out.replicas_lag)
    assert (result.status, result.detail) == ("FAIL", (
        f"{ONE}, {TWO} reported no ReplicaLag in 15 minutes (its alarm counts that as breaching): replication has "
        f"stopped; see `aws rds describe-events --source-type db-instance --source-identifier {ONE}`; a replica that "
        f"does not recover is replaced ({REMOVE})"))


# -- the proxy, each promise broken ------------------------------------------------------------------------------------
def test_a_missing_proxy_fails(stack):
    client("rds").delete_db_proxy(DBProxyName=PROXY)
    result = judge(stack.context(), scale_out.proxy_available)
    assert (result.status, result.detail) == ("FAIL", (
        f"RDS has no proxy {PROXY} in {REGION}: run `pulumi up -s dev` (runbooks/rds-proxy.md)"))
    # its other checks cannot ask, and say why
    assert (judge(stack.context(), scale_out.proxy_tls).detail) == f"RDS has no proxy {PROXY} in {REGION}"


def proxies(**fields):
    """moto's DescribeDBProxies answer with ``fields`` set (RDS API reference, DescribeDBProxies: DBProxy.Status,
    RequireTLS)."""
    answer = client("rds").describe_db_proxies(DBProxyName=PROXY)
    answer.pop("ResponseMetadata")
    answer["DBProxies"][0].update(fields)
    return stub("rds", ("describe_db_proxies", answer))


def test_a_proxy_that_is_not_available_fails(stack):
    result = judge(stack.context(clients={"rds": proxies(Status="incompatible-network")}), scale_out.proxy_available)
    assert (result.status, result.detail) == ("FAIL", (
        f"{PROXY} is incompatible-network: read why in `aws rds describe-db-proxies --db-proxy-name {PROXY}`, fix it, "
        "then run `pulumi up -s dev` (runbooks/rds-proxy.md#if-the-proxy-misbehaves)"))


def test_a_stale_proxy_endpoint_output_fails(stack):
    real = stack.outputs["proxyEndpoint"]
    stale = f"{PROXY}.proxy-0000000000.{REGION}.rds.amazonaws.com"
    result = judge(stack.context(proxyEndpoint=stale), scale_out.proxy_available)
    assert (result.status, result.detail) == ("FAIL", (
        f"proxyEndpoint is {stale}, the proxy's endpoint is {real}: run `pulumi up -s dev` (or `pulumi refresh -s "
        "dev`) so the app and the sign-up function use it"))


def test_a_proxy_the_stack_file_turned_off_fails(stack):
    off = type(stack)(stack.outputs, stack.ids, scaled_settings(proxy=False))
    result = judge(off.context(), scale_out.proxy_available)
    assert (result.status, result.detail) == ("FAIL", (
        f"the stack file sets rdsProxy false, but the stack has {PROXY}: point the app at the instance, then run "
        "`pulumi up -s dev` (runbooks/rds-proxy.md#off)"))


def test_a_proxy_without_tls_fails(stack):
    # moto has no ModifyDBProxy: DescribeDBProxies as RDS answers for a proxy whose RequireTLS was turned off
    result = judge(stack.context(clients={"rds": proxies(RequireTLS=False)}), scale_out.proxy_tls)
    assert (result.status, result.detail) == ("FAIL", (
        f"RequireTLS is false on {PROXY}, so clients may connect in plain text: {REDEPLOY}, or at once `aws rds "
        f"modify-db-proxy --db-proxy-name {PROXY} --require-tls`"))


def test_a_proxy_outside_the_private_subnets_fails(stack):
    first, second = stack.outputs["privateSubnetIds"]
    result = judge(stack.context(privateSubnetIds=[first]), scale_out.proxy_network)
    assert (result.status, result.detail) == ("FAIL", (
        f"{PROXY} has subnets {second} outside privateSubnetIds: {REDEPLOY}"))


def test_a_proxy_sharing_the_databases_security_group_fails(plain):
    stack = with_scale_out(plain)
    client("rds").delete_db_proxy(DBProxyName=PROXY)
    rds_proxy(stack, groups=[stack.ids["db"]])
    result = judge(stack.context(), scale_out.proxy_network)
    assert (result.status, result.detail) == ("FAIL", (
        f"{PROXY} has security groups {stack.ids['db']} (dbSecurityGroupId), not one of its own: {REDEPLOY} "
        "(components/rds_proxy.py gives it one that the database admits)"))


def test_a_proxy_without_the_primary_as_target_fails(stack):
    client("rds").deregister_db_proxy_targets(DBProxyName=PROXY, DBInstanceIdentifiers=[INSTANCE])
    result = judge(stack.context(), scale_out.proxy_target)
    assert (result.status, result.detail) == ("FAIL", (
        f"{PROXY} does not target the primary {INSTANCE} (targets: none): run `pulumi up -s dev` (it registers the "
        "primary)"))


def targets(state: str, reason: str | None = None, description: str | None = None):
    """DescribeDBProxyTargets as RDS answers it (API reference: DBProxyTarget, TargetHealth.State
    REGISTERING|AVAILABLE|UNAVAILABLE, Reason AUTH_FAILURE|CONNECTION_FAILED|UNREACHABLE|PENDING_PROXY_CAPACITY...)."""
    health = {"State": state, **({"Reason": reason} if reason else {}),
              **({"Description": description} if description else {})}
    return ("describe_db_proxy_targets", {"Targets": [{
        "TargetArn": "arn:aws:rds:eu-west-1:123456789012:target:prx-tgt-0123456789abcdef0",
        "Endpoint": f"{INSTANCE}.c9akciq32xyz.{REGION}.rds.amazonaws.com", "RdsResourceId": INSTANCE, "Port": 5432,
        "Type": "RDS_INSTANCE", "Role": "READ_WRITE", "TargetHealth": health}]})


def test_a_target_the_proxy_cannot_log_in_to_fails(stack):
    answer = client("rds").describe_db_proxies(DBProxyName=PROXY)
    answer.pop("ResponseMetadata")
    rds = stub("rds", ("describe_db_proxies", answer), targets(
        "UNAVAILABLE", "AUTH_FAILURE", "Proxy does not have any registered credentials for the user"))
    result = judge(stack.context(clients={"rds": rds}), scale_out.proxy_target)
    assert (result.status, result.detail) == ("FAIL", (
        f"{PROXY}'s target {INSTANCE} is UNAVAILABLE (AUTH_FAILURE: Proxy does not have any registered credentials for "
        "the user): the proxy cannot log in with the app secret: check that the secret's current version logs in "
        "(`cruddur stack check -s dev -g 'credentials and rotation' --tunnel-port 5432`) and that the proxy's role "
        "may read it (components/rds_proxy.py)"))


def test_a_target_still_registering_is_not_checked(stack):
    answer = client("rds").describe_db_proxies(DBProxyName=PROXY)
    answer.pop("ResponseMetadata")
    rds = stub("rds", ("describe_db_proxies", answer), targets("REGISTERING"))
    result = judge(stack.context(clients={"rds": rds}), scale_out.proxy_target)
    assert (result.status, result.detail) == ("not checked", (
        f"{INSTANCE} is REGISTERING: the proxy takes a few minutes after `pulumi up`; re-run the check"))


def test_an_app_url_that_bypasses_the_proxy_fails(stack):
    # proxyEndpoint missing from the outputs: `cruddur stack env` gives the app the instance the app secret names
    result = judge(stack.context(proxyEndpoint=None), scale_out.proxy_connection_url)
    assert (result.status, result.detail) == ("FAIL", (
        f"`cruddur stack env -s dev` gives CONNECTION_URL on {INSTANCE}.c9akciq32xyz.{REGION}.rds.amazonaws.com, not "
        f"the proxy's {stack.outputs['proxyEndpoint']} (proxyEndpoint is missing): run `pulumi up -s dev`, then roll "
        "the app's configuration (runbooks/rds-proxy.md#on)"))


def test_a_denied_proxy_read_is_not_checked_and_names_the_permission(stack):
    result = judge(stack.context(clients={"rds": stub("rds", ("describe_db_proxies", "AccessDenied"))}),
                   scale_out.proxy_tls)
    assert result.status == "not checked"
    assert result.detail.startswith("access denied to rds:DescribeDBProxies: grant it to the role running the check")
