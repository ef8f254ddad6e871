"""Read replicas (``readReplicas``) and the RDS Proxy (``rdsProxy``) under the mocks: a prod stack file that turns
both on declares two replicas and one proxy with every practice of the primary, their alarms and endpoints, and
passes the pack with no mandatory violation; the committed stacks declare neither; every new setting refuses a bad
value naming its key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components.connection_budget import connection_budget, proxy_max_connections_percent
from components.read_replicas import replica_zones
from ops.offline.verdicts import build_plan
from ops.paths import PROJECT_ROOT
from tests.components.conftest import only, policy
from tests.components.signing_support import signed_source
from tests.components.types import ALARM, INGRESS, INSTANCE, LOG_GROUP, REGION, ROLE, ROLE_POLICY, SG

PROXY = "aws:rds/proxy:Proxy"
TARGET_GROUP = "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup"
TARGET = "aws:rds/proxyTarget:ProxyTarget"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
SCALED = {"cruddur-db:readReplicas": 2, "cruddur-db:rdsProxy": True, "cruddur-db:monthlyBudgetUsd": 160}


@pytest.fixture(scope="module")
def scaled_dir(tmp_path_factory) -> Path:
    """A project folder whose prod stack file is the committed one with both options on (the program, Pulumi.yaml
    and everything they read are this checkout's)."""
    folder = tmp_path_factory.mktemp("scaled")
    for name in ("__main__.py", "Pulumi.yaml"):
        (folder / name).symlink_to(PROJECT_ROOT / name)
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.prod.yaml").read_text())
    document["config"].update(SCALED)
    (folder / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document))
    return folder


@pytest.fixture(scope="module")
def plan(scaled_dir):
    return build_plan("prod", project_dir=scaled_dir)


@pytest.fixture(scope="module")
def scaled(plan):
    return plan.evaluation


def replicas(evaluation):
    """The replicas by number: the engine records them in the order their inputs resolve, which varies."""
    found = [r for r in evaluation.of_type(INSTANCE) if r.props.get("replicateSourceDb")]
    return sorted(found, key=lambda r: int(r.name.rsplit("-", 1)[1]))


def primary(evaluation):
    return evaluation.one(INSTANCE, "db-instance")


# -- the committed stacks ------------------------------------------------------------------------------------------
def test_the_committed_stacks_declare_neither(stack):
    assert [r.name for r in stack.of_type(INSTANCE)] == ["db-instance"]
    assert stack.of_type(PROXY, TARGET_GROUP, TARGET) == []
    assert not {"readerEndpoint", "readerEndpoints", "replicaInstanceIds", "proxyEndpoint"} & set(stack.outputs)
    assert [a for a in stack.of_type(ALARM) if a.props["metricName"] == "ReplicaLag"] == []
    function = stack.one("aws:lambda/function:Function", "confirmation-function")
    assert function.props["environment"]["variables"]["DB_HOST"] == stack.outputs["dbHost"]
    assert "DB_SSLROOTCERT" not in function.props["environment"]["variables"]  # the handler's own RDS bundle


# -- read replicas -------------------------------------------------------------------------------------------------
def test_two_replicas_of_the_primary_with_its_practices(scaled):
    main = primary(scaled).props
    found = replicas(scaled)
    assert [r.name for r in found] == ["db-replicas-1", "db-replicas-2"]
    for number, replica in enumerate(found, 1):
        p = replica.props
        assert p["identifier"] == f"cruddur-prod-db-replica-{number}"
        assert p["replicateSourceDb"] == main["identifier"] == "cruddur-prod-db"
        assert p["instanceClass"] == main["instanceClass"] == "db.t4g.small"  # replicaInstanceClass empty
        assert p["dbSubnetGroupName"] == main["dbSubnetGroupName"]
        assert p["vpcSecurityGroupIds"] == main["vpcSecurityGroupIds"]
        assert p["parameterGroupName"] == main["parameterGroupName"]  # rds.force_ssl=1
        assert p["storageEncrypted"] is True and p["kmsKeyId"] == main["kmsKeyId"]
        assert p["publiclyAccessible"] is False and p["iamDatabaseAuthenticationEnabled"] is True
        assert p["deletionProtection"] is True and replica.protect is True
        assert p["monitoringInterval"] == main["monitoringInterval"] == 60
        assert p["monitoringRoleArn"] == main["monitoringRoleArn"]
        assert p["performanceInsightsEnabled"] is True
        assert p["performanceInsightsKmsKeyId"] == main["performanceInsightsKmsKeyId"] == main["kmsKeyId"]
        assert p["caCertIdentifier"] == main["caCertIdentifier"]
        assert p["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
        assert p["backupRetentionPeriod"] == 0 and p["skipFinalSnapshot"] is True  # the primary's keep the data
        assert "engineVersion" not in p and "password" not in p  # both are the source's
        assert replica.ignore_changes == ["availabilityZone"]  # a failover of the primary never replaces it
        groups = {g.props["name"] for g in scaled.of_type(LOG_GROUP)}
        assert {f"/aws/rds/instance/{p['identifier']}/postgresql",
                f"/aws/rds/instance/{p['identifier']}/upgrade"} <= groups


def test_replicas_go_to_the_zones_the_primary_is_not_in(scaled):
    assert primary(scaled).state["availabilityZone"] == f"{REGION}a"  # where the mocks' RDS puts it
    assert [r.props["availabilityZone"] for r in replicas(scaled)] == [f"{REGION}b", f"{REGION}c"]


def test_replica_zones_round_robin_over_the_others():
    assert replica_zones(["a", "b", "c"], "b", 4) == ["a", "c", "a", "c"]
    assert replica_zones(["a", "b"], "a", 2) == ["b", "b"]
    assert replica_zones(["a"], "a", 2) == ["a", "a"]  # a one-zone list has nowhere else to go
    with pytest.raises(ValueError, match="no availability zone"):
        replica_zones([], None, 1)


def test_each_replica_has_a_replica_lag_alarm_to_the_alarm_topic_and_a_dashboard_line(scaled):
    topic = scaled.outputs["alarmTopicArn"]
    lag = sorted((a for a in scaled.of_type(ALARM) if a.props["metricName"] == "ReplicaLag"),
                 key=lambda a: a.props["name"])
    assert [(a.props["name"], a.props["dimensions"]) for a in lag] == [
        ("cruddur-prod-alarm-replica-lag-1", {"DBInstanceIdentifier": "cruddur-prod-db-replica-1"}),
        ("cruddur-prod-alarm-replica-lag-2", {"DBInstanceIdentifier": "cruddur-prod-db-replica-2"})]
    for alarm in lag:
        p = alarm.props
        assert p["namespace"] == "AWS/RDS" and p["threshold"] == 60 and p["comparisonOperator"] == "GreaterThanThreshold"
        assert p["alarmActions"] == p["okActions"] == [topic]
        assert p["treatMissingData"] == "breaching"
    widgets = json.loads(scaled.one(DASHBOARD).props["dashboardBody"])["widgets"]
    titles = [w["properties"]["title"] for w in widgets]
    assert "cruddur-prod-db-replica-1 ReplicaLag" in titles and "cruddur-prod-db-replica-2 ReplicaLag" in titles


def test_the_reader_endpoints_are_exported(scaled):
    addresses = [r.state["address"] for r in replicas(scaled)]
    assert scaled.outputs["readerEndpoint"] == addresses[0]
    assert scaled.outputs["readerEndpoints"] == addresses
    assert scaled.outputs["replicaInstanceIds"] == ["cruddur-prod-db-replica-1", "cruddur-prod-db-replica-2"]


def test_a_replica_class_of_its_own(evaluate_with):
    evaluation = evaluate_with("prod", overrides={"readReplicas": 1, "replicaInstanceClass": "db.t4g.micro",
                                                  "monthlyBudgetUsd": 200})
    (replica,) = replicas(evaluation)
    assert replica.props["instanceClass"] == "db.t4g.micro"
    assert primary(evaluation).props["instanceClass"] == "db.t4g.small"
    assert evaluation.of_type(PROXY) == []


# -- the proxy -----------------------------------------------------------------------------------------------------
def test_one_proxy_tls_only_in_the_private_subnets_with_its_own_security_group(scaled):
    (proxy,) = scaled.of_type(PROXY)
    p = proxy.props
    sg = scaled.one(SG, "db-proxy-sg")
    assert p["name"] == "cruddur-prod-proxy" and p["engineFamily"] == "POSTGRESQL" and p["requireTls"] is True
    assert p["vpcSubnetIds"] == scaled.outputs["privateSubnetIds"]
    assert p["vpcSecurityGroupIds"] == [sg.id]
    assert p["debugLogging"] is False
    assert scaled.outputs["proxyEndpoint"] == proxy.state["endpoint"]


def test_the_proxy_reaches_the_database_and_admits_the_app_and_the_sign_up_function(scaled):
    db_sg, proxy_sg = scaled.one(SG, "db-sg").id, scaled.one(SG, "db-proxy-sg").id
    into_db = {r.props["referencedSecurityGroupId"] for r in scaled.of_type(INGRESS)
               if r.props["securityGroupId"] == db_sg}
    assert proxy_sg in into_db
    into_proxy = {r.name: r.props["referencedSecurityGroupId"] for r in scaled.of_type(INGRESS)
                  if r.props["securityGroupId"] == proxy_sg}
    assert into_proxy == {"db-proxy-in-from-app": scaled.outputs["appSecurityGroupId"],
                          "db-proxy-in-from-confirmation": scaled.one(SG, "confirmation-sg").id}
    assert all(r.props["fromPort"] == r.props["toPort"] == 5432 for r in scaled.of_type(INGRESS)
               if r.props["securityGroupId"] == proxy_sg)


def test_clients_authenticate_as_they_do_without_the_proxy(scaled):
    p = scaled.one(PROXY).props
    app_secret = scaled.outputs["appSecretArn"]
    # the app: its secret, SCRAM passwords; the sign-up function: IAM end to end (its role has no password)
    assert p["auths"] == [{"authScheme": "SECRETS", "secretArn": app_secret, "iamAuth": "DISABLED",
                           "clientPasswordAuthType": "POSTGRES_SCRAM_SHA_256",
                           "description": "the app's own role (the app secret's current user)"}]
    assert p["defaultAuthScheme"] == "IAM_AUTH"


def test_the_proxy_role_reads_exactly_the_app_secret_and_connects_as_the_iam_user(scaled):
    role = scaled.one(ROLE, "db-proxy-role")
    trust = policy(role, "assumeRolePolicy")["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "rds.amazonaws.com"}]
    statements = {s["Sid"]: s for s in policy(scaled.one(ROLE_POLICY, "db-proxy-policy"))["Statement"]}
    assert set(statements) == {"ReadTheAppSecret", "DecryptTheAppSecretThroughSecretsManager", "ConnectAsTheIamUsers"}
    assert statements["ReadTheAppSecret"]["Action"] == "secretsmanager:GetSecretValue"
    assert statements["ReadTheAppSecret"]["Resource"] == scaled.outputs["appSecretArn"]
    assert statements["DecryptTheAppSecretThroughSecretsManager"]["Resource"] == scaled.outputs["kmsKeyArn"]
    resource_id = scaled.outputs["dbResourceId"]
    assert statements["ConnectAsTheIamUsers"]["Resource"] == (
        f"arn:aws:rds-db:{REGION}:123456789012:dbuser:{resource_id}/cruddur_confirmation")
    assert scaled.outputs["masterSecretArn"] not in json.dumps(statements)


def test_the_pool_takes_what_the_connection_budget_leaves(scaled):
    config = scaled.one(TARGET_GROUP).props["connectionPoolConfig"]
    budget = connection_budget("db.t4g.small")
    assert config["maxConnectionsPercent"] == proxy_max_connections_percent(budget) == 95
    # what the proxy may open leaves RDS's reserved connections and the operators' at the estimate
    assert budget.max_connections * 95 // 100 <= budget.max_connections - budget.superuser_reserved - budget.operators
    assert proxy_max_connections_percent(connection_budget("db.t4g.micro")) == 89
    target = scaled.one(TARGET).props
    assert target["dbInstanceIdentifier"] == "cruddur-prod-db" and target["dbProxyName"] == "cruddur-prod-proxy"


def test_the_sign_up_function_goes_through_the_proxy(scaled):
    function = scaled.one("aws:lambda/function:Function", "confirmation-function")
    variables = function.props["environment"]["variables"]
    assert variables["DB_HOST"] == scaled.outputs["proxyEndpoint"]
    # the proxy's certificate chains to the Amazon roots: the package ships the bundle that holds them
    assert variables["DB_SSLROOTCERT"] == "/var/task/rds-proxy-bundle.pem"
    code = signed_source(scaled, function)
    assert sorted(code.assets) == ["global-bundle.pem", "handler.py", "rds-proxy-bundle.pem"]
    assert Path(code.assets["rds-proxy-bundle.pem"].path) == (
        PROJECT_ROOT / "lambda" / "post_confirmation" / "rds-proxy-bundle.pem")
    statements = policy(scaled.one(ROLE_POLICY, "confirmation-policy"))["Statement"]
    (connect,) = [s for s in statements if s["Sid"] == "ConnectAsConfirmationRole"]
    proxy_id = scaled.one(PROXY).state["arn"].rsplit(":", 1)[-1]
    assert proxy_id.startswith("prx-")
    assert connect["Resource"] == [
        f"arn:aws:rds-db:{REGION}:123456789012:dbuser:{scaled.outputs['dbResourceId']}/cruddur_confirmation",
        f"arn:aws:rds-db:{REGION}:123456789012:dbuser:{proxy_id}/cruddur_confirmation"]


# -- the pack and the costs ----------------------------------------------------------------------------------------
def test_the_scaled_prod_plan_has_no_mandatory_violation(plan):
    assert plan.environment == "prod"
    assert plan.mandatory_violations == []
    statuses = {v.policy: v.status for v in plan.verdicts}
    for name in ("rds-proxy-requires-tls", "rds-proxy-in-vpc", "rds-proxy-strong-auth", "rds-proxy-no-debug-logging",
                 "rds-proxy-pool-bounded", "rds-proxy-targets-this-stack", "rds-not-public", "rds-tls-enforced",
                 "region-allowed", "prod-stateful-protected", "cost-within-budget"):
        assert statuses[name] == "pass", name


def test_each_replica_and_the_proxy_are_in_the_cost_table(scaled):
    from ops.offline import cost

    estimate = cost.estimate(scaled.resources, scaled.outputs, REGION)
    lines = {(line.resource, line.item): line.monthly_usd for line in estimate.lines}
    for name in ("db-replicas-1", "db-replicas-2"):
        assert str(lines[(name, "RDS db.t4g.small (read replica of cruddur-prod-db)")]) == "24.82"
        assert str(lines[(name, "RDS gp3 storage (read replica of cruddur-prod-db)")]) == "2.54"
    assert str(lines[("db-proxy-proxy", "RDS Proxy (2 vCPUs)")]) == "21.90"
    assert estimate.unpriced == []
    assert "rds.proxy.vcpu_hour" in estimate.unconfirmed_prices
    assert str(estimate.fixed_total) == "154.54"


# -- settings ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides, message", [
    ({"readReplicas": 6}, "cruddur-db:readReplicas = 6: must be from 0 to 5"),
    ({"readReplicas": "two"}, "cruddur-db:readReplicas = 'two': must be a whole number from 0 to 5"),
    ({"replicaInstanceClass": "large", "readReplicas": 1},
     "cruddur-db:replicaInstanceClass = 'large': must be empty (the replicas take instanceClass) or an RDS instance "
     "class such as db.t4g.small"),
    ({"replicaInstanceClass": "db.t4g.micro"},
     "cruddur-db:replicaInstanceClass = 'db.t4g.micro': is set but readReplicas is 0; set readReplicas to declare "
     "replicas, or unset it"),
    ({"rdsProxy": "yes"}, "cruddur-db:rdsProxy = 'yes': must be true or false"),
    ({"readReplicas": 1, "engineVersion": "17", "upgradeFromEngineVersion": "16"},
     "cruddur-db:readReplicas = 1: must be 0 while upgradeFromEngineVersion is set: the blue/green upgrade cannot "
     "carry read replicas (they would be left on the old primary); set readReplicas to 0 for the upgrade and back "
     "after it (runbooks/upgrade-major.md)"),
], ids=["too many", "not a number", "not a class", "class without replicas", "proxy not a boolean",
        "replicas during a major upgrade"])
def test_bad_scale_out_settings_are_refused_naming_the_key(config_problems, overrides, message):
    assert only(config_problems("prod", **overrides)) == message


def test_replicas_and_a_run_schedule_are_refused_together(config_problems):
    assert only(config_problems("dev", readReplicas=1, dbRunSchedule="Mon-Fri 08:00-19:00 Europe/Dublin")) == (
        "cruddur-db:readReplicas = 1: must be 0 while dbRunSchedule is set: RDS cannot stop an instance that has "
        "read replicas; leave dbRunSchedule empty to keep replicas")


def test_the_defaults_are_off():
    evaluation_config = yaml.safe_load((PROJECT_ROOT / "Pulumi.yaml").read_text())["config"]
    assert evaluation_config["readReplicas"]["default"] == 0
    assert evaluation_config["replicaInstanceClass"]["default"] == ""
    assert evaluation_config["rdsProxy"]["default"] is False
    for stack in ("dev", "prod"):
        assert not {"cruddur-db:readReplicas", "cruddur-db:rdsProxy"} & set(
            yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())["config"])


def test_a_dev_stack_may_have_a_replica_without_deletion_protection(evaluate_with):
    evaluation = evaluate_with("dev", overrides={"readReplicas": 1, "deletionProtection": False})
    (replica,) = replicas(evaluation)
    assert replica.props["deletionProtection"] is False and replica.protect is False
    assert replica.props["performanceInsightsEnabled"] is False  # dev's primary has it off
    assert "performanceInsightsKmsKeyId" not in replica.props

