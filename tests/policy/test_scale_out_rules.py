"""Read replicas are judged like the primary, the RDS Proxy and its target group and target by their own rules: each
rule on a real recorded resource of a prod stack with ``readReplicas: 2`` and ``rdsProxy: true``, with one property
broken at a time."""

from __future__ import annotations

import pytest

from ops.offline.stack_eval import evaluate
from tests.policy.conftest import REMOVE, changed, policies, replaced, resource_violations, stack_violations

INSTANCE = "aws:rds/instance:Instance"
PROXY = "aws:rds/proxy:Proxy"
TARGET_GROUP = "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup"
TARGET = "aws:rds/proxyTarget:ProxyTarget"


@pytest.fixture(scope="module")
def scaled():
    return evaluate("prod", overrides={"readReplicas": 2, "rdsProxy": True, "monthlyBudgetUsd": 160})


def replica(evaluation):
    return evaluation.one(INSTANCE, "db-replicas-1")


# -- replicas are judged like the primary --------------------------------------------------------------------------
def test_a_replica_outside_the_allowed_regions_is_a_violation(scaled):
    moved = changed(replica(scaled), region="us-east-1")
    assert stack_violations("region-allowed", replaced(scaled, replica(scaled), moved)) == [
        "rds Instance 'db-replicas-1' is in us-east-1, outside the allowed regions (eu-west-1, eu-central-1); data "
        "must stay in them"]
    assert stack_violations("region-allowed", scaled) == []


@pytest.mark.parametrize("rule, change, message", [
    ("rds-not-public", {"publiclyAccessible": True}, "rds Instance 'db-replicas-1' is publicly accessible"),
    ("rds-encrypted-with-cmk", {"storageEncrypted": False}, "rds Instance 'db-replicas-1' has unencrypted storage"),
    ("rds-encrypted-with-cmk", {"kmsKeyId": REMOVE}, "rds Instance 'db-replicas-1' is not encrypted with a "
                                                      "customer-managed KMS key"),
    ("rds-iam-auth", {"iamDatabaseAuthenticationEnabled": False}, "rds Instance 'db-replicas-1' has IAM database "
                                                                  "authentication off"),
    ("rds-deletion-protection", {"deletionProtection": False}, "rds Instance 'db-replicas-1' has deletion protection "
                                                               "off"),
    ("rds-log-exports", {"enabledCloudwatchLogsExports": ["postgresql"]}, "rds Instance 'db-replicas-1' does not "
                                                                         "export its upgrade log(s)"),
])
def test_a_replica_breaking_a_practice_of_the_primary_is_a_violation(scaled, rule, change, message):
    assert resource_violations(rule, scaled, replica(scaled)) == []
    (found,) = resource_violations(rule, scaled, changed(replica(scaled), **change))
    assert found.startswith(message)


def test_a_replica_on_a_parameter_group_without_tls_is_a_violation(scaled):
    loose = changed(replica(scaled), parameterGroupName="default.postgres17")
    (found,) = stack_violations("rds-tls-enforced", replaced(scaled, replica(scaled), loose))
    assert found.startswith("rds Instance 'db-replicas-1' links parameter group 'default.postgres17', which this "
                            "stack does not declare")


def test_backups_final_snapshots_and_engine_lifecycle_are_the_primarys(scaled):
    """The three rules that leave replicas out still judge the primary."""
    assert replica(scaled).props["backupRetentionPeriod"] == 0
    for rule in ("rds-backup-retention", "rds-final-snapshot", "rds-no-paid-extended-support"):
        assert resource_violations(rule, scaled, replica(scaled)) == [], rule
    primary = scaled.one(INSTANCE, "db-instance")
    assert resource_violations("rds-backup-retention", scaled, changed(primary, backupRetentionPeriod=0))
    assert resource_violations("rds-final-snapshot", scaled, changed(primary, skipFinalSnapshot=True))
    # an instance that only claims to be a replica with an empty source is judged as a primary
    assert resource_violations("rds-backup-retention", scaled, changed(replica(scaled), replicateSourceDb=""))


def test_an_unprotected_replica_is_a_violation_on_prod(scaled):
    import dataclasses

    bare = dataclasses.replace(replica(scaled), protect=False)
    (found,) = stack_violations("prod-stateful-protected", replaced(scaled, replica(scaled), bare))
    assert found.startswith("rds Instance 'db-replicas-1' is not protected")


# -- the proxy -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rule, change, message", [
    ("rds-proxy-requires-tls", {"requireTls": False},
     "rds Proxy 'db-proxy-proxy' accepts connections without TLS; set require_tls=True"),
    ("rds-proxy-in-vpc", {"vpcSubnetIds": []},
     "rds Proxy 'db-proxy-proxy' names no subnets; set vpc_subnet_ids to the stack's private subnets"),
    ("rds-proxy-in-vpc", {"vpcSecurityGroupIds": REMOVE},
     "rds Proxy 'db-proxy-proxy' names no security group, so it gets the VPC's default one; give it its own "
     "(vpc_security_group_ids) and admit it to the database's group"),
    ("rds-proxy-strong-auth", {"auths": [{"authScheme": "SECRETS", "secretArn": "arn:aws:secretsmanager:x",
                                          "clientPasswordAuthType": "POSTGRES_MD5"}]},
     "rds Proxy 'db-proxy-proxy' accepts POSTGRES_MD5 passwords; set client_password_auth_type="
     "'POSTGRES_SCRAM_SHA_256'"),
    ("rds-proxy-strong-auth", {"auths": [{"authScheme": "SECRETS", "secretArn": ""}]},
     "rds Proxy 'db-proxy-proxy' has an auth entry without a secret; set its secret_arn to the user's Secrets "
     "Manager secret"),
    ("rds-proxy-strong-auth", {"auths": [], "defaultAuthScheme": "NONE"},
     "rds Proxy 'db-proxy-proxy' has no auth entry and default_auth_scheme NONE; register each user's secret in "
     "auths, or set default_auth_scheme='IAM_AUTH'"),
    ("rds-proxy-no-debug-logging", {"debugLogging": True},
     "rds Proxy 'db-proxy-proxy' has debug logging on, which logs the statements clients send (data included); set "
     "debug_logging=False (turn it on by hand for a diagnosis only)"),
])
def test_a_proxy_breaking_a_rule_is_a_violation(scaled, rule, change, message):
    proxy = scaled.one(PROXY)
    assert resource_violations(rule, scaled, proxy) == []
    assert resource_violations(rule, scaled, changed(proxy, **change)) == [message]


def test_end_to_end_iam_needs_no_auth_entry(scaled):
    proxy = changed(scaled.one(PROXY), auths=[], defaultAuthScheme="IAM_AUTH")
    assert resource_violations("rds-proxy-strong-auth", scaled, proxy) == []


@pytest.mark.parametrize("percent, shown", [(100, "100 %"), (REMOVE, "all")])
def test_a_proxy_pool_may_not_take_every_connection(scaled, percent, shown):
    group = scaled.one(TARGET_GROUP)
    assert resource_violations("rds-proxy-pool-bounded", scaled, group) == []
    config = dict(group.props["connectionPoolConfig"])
    if percent is REMOVE:
        config.pop("maxConnectionsPercent")
    else:
        config["maxConnectionsPercent"] = percent
    (found,) = resource_violations("rds-proxy-pool-bounded", scaled, changed(group, connectionPoolConfig=config))
    assert found.startswith(f"rds ProxyDefaultTargetGroup 'db-proxy-targets' lets the proxy take {shown} of the "
                            "database's connections")


@pytest.mark.parametrize("change, message", [
    ({"dbInstanceIdentifier": "cruddur-prod-db-replica-1"},
     "rds ProxyTarget 'db-proxy-primary' targets read replica 'cruddur-prod-db-replica-1', which refuses writes; "
     "target the primary"),
    ({"dbInstanceIdentifier": "someone-elses-db"},
     "rds ProxyTarget 'db-proxy-primary' targets 'someone-elses-db', which is not an instance of this stack; target "
     "the stack's primary"),
    ({"dbInstanceIdentifier": REMOVE, "dbClusterIdentifier": "a-cluster"},
     "rds ProxyTarget 'db-proxy-primary' targets cluster 'a-cluster', which this stack does not declare; target the "
     "stack's instance"),
])
def test_a_proxy_targets_the_stacks_primary_only(scaled, change, message):
    target = scaled.one(TARGET)
    assert stack_violations("rds-proxy-targets-this-stack", scaled) == []
    assert stack_violations("rds-proxy-targets-this-stack", replaced(scaled, target, changed(target, **change))) == [
        message]


def test_every_type_the_options_add_is_named_by_a_rule(scaled, prod):
    """What a fail-closed pack allows is what its rules name: every type the options add to prod is among them."""
    added = {r.type for r in scaled.resources if r.custom} - {r.type for r in prod.resources if r.custom}
    assert added == {PROXY, TARGET_GROUP, TARGET}
    named = {t for rule in policies.RULES for t in rule.types}
    assert added | {INSTANCE} <= named
