"""Database: KMS key, generated password in Secrets Manager, TLS-only parameters, private SG, the RDS instance."""

import json
import re

import pytest

from components.database import CA_CERT_IDENTIFIER, PASSWORD_LENGTH
from ops.offline.aws_mocks import is_secret, unwrap
from tests.components.conftest import policy
from tests.components.types import INSTANCE


def instance(evaluation):
    return evaluation.one(INSTANCE)


def data_key_arn(evaluation):
    return evaluation.one("aws:kms/key:Key", "data-key").outputs["arn"]


# -- KMS ---------------------------------------------------------------------------------------------------------
def test_data_key_is_customer_managed_with_rotation(stack):
    key = stack.one("aws:kms/key:Key", "data-key")
    assert key.props["enableKeyRotation"] is True
    assert key.props["deletionWindowInDays"] == 30
    alias = stack.one("aws:kms/alias:Alias", "data-alias")
    assert alias.props["name"] == f"alias/cruddur-{stack.stack}-data"
    assert alias.props["targetKeyId"] == key.outputs["keyId"]


def test_data_key_policy_lets_only_this_accounts_log_groups_use_it(stack):
    statements = {s["Sid"]: s for s in policy(stack.one("aws:kms/key:Key", "data-key"))["Statement"]}
    assert statements["AccountAdministersAndUsesKeyThroughIam"]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    logs = statements["AllowCloudWatchLogs"]
    assert logs["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    assert logs["Condition"] == {"ArnLike": {
        "kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:eu-west-1:123456789012:log-group:*"}}
    assert "kms:ScheduleKeyDeletion" not in logs["Action"]


def test_key_encrypts_storage_insights_secret_and_logs(prod):
    arn = data_key_arn(prod)
    db = instance(prod).props
    assert db["kmsKeyId"] == arn
    assert db["performanceInsightsKmsKeyId"] == arn
    assert prod.one("aws:secretsmanager/secret:Secret", "db-master-secret").props["kmsKeyId"] == arn
    # The database's and the network's log groups (the audit trail's group has the audit key: test_audit.py).
    groups = [g for g in prod.of_type("aws:cloudwatch/logGroup:LogGroup") if not g.name.startswith("audit-")]
    assert groups and all(g.props["kmsKeyId"] == arn for g in groups)


# -- password and secret ------------------------------------------------------------------------------------------
def test_password_is_generated_long_and_url_safe(stack):
    password = stack.one("random:index/randomPassword:RandomPassword", "db-master-password").props
    assert password["length"] == PASSWORD_LENGTH >= 32
    assert password["special"] is True
    assert password["overrideSpecial"] == "-_"
    assert password["minUpper"] >= 1 and password["minLower"] >= 1 and password["minNumeric"] >= 1


def test_rds_gets_the_generated_password_as_a_secret(stack):
    generated = stack.one("random:index/randomPassword:RandomPassword", "db-master-password").outputs["result"]
    raw = instance(stack).inputs["password"]
    assert is_secret(raw)
    assert unwrap(raw) == generated


def test_secret_holds_the_standard_rds_json(stack):
    secret = stack.one("aws:secretsmanager/secret:Secret", "db-master-secret")
    version = stack.one("aws:secretsmanager/secretVersion:SecretVersion", "db-master-secret-value")
    db = instance(stack)
    assert secret.props["name"] == f"cruddur/{stack.stack}/rds/master"
    assert secret.props["recoveryWindowInDays"] == (30 if stack.stack == "prod" else 7)
    assert version.props["secretId"] == secret.id
    assert is_secret(version.inputs["secretString"])
    document = json.loads(version.props["secretString"])
    assert document == {
        "engine": "postgres",
        "host": db.outputs["address"],
        "port": 5432,
        "username": "cruddur_admin",
        "password": stack.one("random:index/randomPassword:RandomPassword", "db-master-password").outputs["result"],
        "dbname": "cruddur",
        "dbInstanceIdentifier": f"cruddur-{stack.stack}-db",
    }


# -- parameter group, subnet group, security group ------------------------------------------------------------------
@pytest.mark.parametrize("version,family", [("16", "postgres16"), ("17", "postgres17")])
def test_parameter_group_matches_the_engine_and_forces_tls(evaluate_with, version, family):
    evaluation = evaluate_with("prod", overrides={"cruddur-db:engineVersion": version})
    group = evaluation.one("aws:rds/parameterGroup:ParameterGroup")
    params = {p["name"]: p["value"] for p in group.props["parameters"]}
    assert group.props["family"] == family
    assert params["rds.force_ssl"] == "1"
    assert params["password_encryption"] == "scram-sha-256"
    assert params["log_statement"] == "ddl"
    assert params["log_min_duration_statement"] == "500"
    assert params["log_connections"] == "1" and params["log_disconnections"] == "1"
    db = instance(evaluation).props
    assert db["parameterGroupName"] == group.outputs["name"]
    assert db["engineVersion"] == version


def test_subnet_group_covers_exactly_the_private_subnets(stack):
    group = stack.one("aws:rds/subnetGroup:SubnetGroup")
    assert sorted(group.props["subnetIds"]) == sorted(s.id for s in stack.of_type("aws:ec2/subnet:Subnet"))
    assert instance(stack).props["dbSubnetGroupName"] == group.outputs["name"]


def test_database_admits_its_port_only_from_named_security_groups(stack):
    group = stack.one("aws:ec2/securityGroup:SecurityGroup", "db-sg")
    assert not group.props.get("ingress") and not group.props.get("egress")
    rules = [r for r in stack.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
             if r.props["securityGroupId"] == group.id]
    operator = stack.one("aws:ec2/securityGroup:SecurityGroup", "network-operator-sg")
    assert operator.id in {r.props["referencedSecurityGroupId"] for r in rules}
    for rule in rules:
        props = rule.props
        assert (props["ipProtocol"], props["fromPort"], props["toPort"]) == ("tcp", 5432, 5432)
        assert "cidrIpv4" not in props and "cidrIpv6" not in props and "prefixListId" not in props
    assert instance(stack).props["vpcSecurityGroupIds"] == [group.id]


def test_no_rule_anywhere_is_open_to_the_world(stack):
    for rule in stack.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                              "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"):
        assert rule.props.get("cidrIpv4") != "0.0.0.0/0" and rule.props.get("cidrIpv6") != "::/0"
    for group in stack.of_type("aws:ec2/securityGroup:SecurityGroup"):
        for rule in (group.props.get("ingress") or []) + (group.props.get("egress") or []):
            assert "0.0.0.0/0" not in (rule.get("cidrBlocks") or []) and "::/0" not in (rule.get("ipv6CidrBlocks") or [])


# -- the instance ----------------------------------------------------------------------------------------------------
def test_instance_is_private_encrypted_and_authenticates_strongly(stack):
    db = instance(stack).props
    assert db["publiclyAccessible"] is False
    assert db["storageEncrypted"] is True
    assert db["kmsKeyId"] == data_key_arn(stack)
    assert db["iamDatabaseAuthenticationEnabled"] is True
    assert db["caCertIdentifier"] == CA_CERT_IDENTIFIER == "rds-ca-rsa2048-g1"
    assert db["username"] == "cruddur_admin"
    assert db["engine"] == "postgres"
    assert db["dbName"] == "cruddur"
    assert db["port"] == 5432
    assert db["identifier"] == f"cruddur-{stack.stack}-db"


def test_instance_keeps_data_safe(stack):
    db = instance(stack).props
    assert db["deletionProtection"] is True
    assert db["copyTagsToSnapshot"] is True
    assert db["autoMinorVersionUpgrade"] is True
    assert db["allowMajorVersionUpgrade"] is False
    assert db["deleteAutomatedBackups"] is False
    assert db["storageType"] == "gp3"
    assert db["maxAllocatedStorage"] > db["allocatedStorage"]


def test_stack_specific_sizes_and_protections(dev, prod):
    d, p = instance(dev).props, instance(prod).props
    assert (d["instanceClass"], p["instanceClass"]) == ("db.t4g.micro", "db.t4g.small")
    assert (d["multiAz"], p["multiAz"]) == (False, True)
    assert (d["backupRetentionPeriod"], p["backupRetentionPeriod"]) == (1, 14)
    assert (d["allocatedStorage"], d["maxAllocatedStorage"]) == (20, 50)
    assert (p["allocatedStorage"], p["maxAllocatedStorage"]) == (20, 500)
    # prod keeps a final snapshot named after the stack, with a suffix drawn per instance (tests/components/
    # test_upgrade_guards.py); dev (allowed by settings) skips it.
    assert p["skipFinalSnapshot"] is False
    assert re.fullmatch(r"cruddur-prod-db-final-[0-9a-f]{8}", p["finalSnapshotIdentifier"])
    assert d["skipFinalSnapshot"] is True and "finalSnapshotIdentifier" not in d
    assert (d["applyImmediately"], p["applyImmediately"]) == (True, False)


def test_performance_insights_encrypted_when_on(dev, prod):
    p, d = instance(prod).props, instance(dev).props
    assert p["performanceInsightsEnabled"] is True
    assert p["performanceInsightsKmsKeyId"] == data_key_arn(prod)
    assert p["performanceInsightsRetentionPeriod"] == 7
    assert d["performanceInsightsEnabled"] is False and "performanceInsightsKmsKeyId" not in d


def test_logs_export_into_precreated_encrypted_groups(stack):
    db = instance(stack)
    assert db.props["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    groups = {g.props["name"]: g for g in stack.of_type("aws:cloudwatch/logGroup:LogGroup")
              if g.name.startswith("db-log-")}
    identifier = db.props["identifier"]
    assert set(groups) == {f"/aws/rds/instance/{identifier}/postgresql", f"/aws/rds/instance/{identifier}/upgrade"}
    for group in groups.values():
        assert group.props["retentionInDays"] == (30 if stack.stack == "dev" else 365)
        assert group.props["kmsKeyId"] == data_key_arn(stack)
        # The instance waits for its log groups, so RDS never creates them unencrypted and unbounded.
        assert group.urn in db.dependencies


def test_enhanced_monitoring_role(stack):
    db = instance(stack).props
    role = stack.one("aws:iam/role:Role", "db-monitoring-role")
    assert db["monitoringInterval"] == 60
    assert db["monitoringRoleArn"] == role.outputs["arn"]
    assert policy(role, "assumeRolePolicy")["Statement"] == [{
        "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "monitoring.rds.amazonaws.com"},
        # RDS acting for this instance of this account only (against the confused deputy)
        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"},
                      "ArnLike": {"aws:SourceArn": f"arn:aws:rds:eu-west-1:123456789012:db:{db['identifier']}"}}}]
    attachment = stack.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "db-monitoring-policy")
    assert attachment.props["role"] == role.outputs["name"]
    assert attachment.props["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"


def test_monitoring_off_declares_no_role(evaluate_with):
    evaluation = evaluate_with("dev", overrides={"cruddur-db:monitoringIntervalSeconds": 0})
    assert instance(evaluation).props["monitoringInterval"] == 0
    assert "monitoringRoleArn" not in instance(evaluation).props
    assert [r for r in evaluation.of_type("aws:iam/role:Role") if r.name == "db-monitoring-role"] == []


def test_database_children_are_parented_to_the_component(stack):
    database = stack.one("cruddur:database:Database")
    assert stack.parent_of(instance(stack)) is database
    assert stack.parent_of(stack.one("aws:secretsmanager/secret:Secret", "db-master-secret")) is database
    assert stack.parent_of(stack.one("random:index/randomPassword:RandomPassword", "db-master-password")) is database
