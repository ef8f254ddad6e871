"""The restore drill: AWS Backup (vault with the CMK, plan, selection), restore testing (plan + selection), the
validation functions (event trigger, roles limited to what they do, the probe's network path) and its settings."""

import json

import pytest

from components.restore_drill import PROJECT_DIR, expected_migrations
from ops.offline.stack_eval import evaluate
from tests.components.conftest import only, policy
from tests.components.signing_support import signed_source, signing_job
from tests.components.types import ACCOUNT, ATTACHMENT, FUNCTION, REGION, ROLE_POLICY

# dev leaves the drill off (prod's drill proves the backups); it is judged here as dev would have it switched on.
DEV_WITH_DRILL = {"restoreDrill": True}


@pytest.fixture(scope="module")
def dev():
    return evaluate("dev", overrides=DEV_WITH_DRILL)


@pytest.fixture(scope="module", params=["dev", "prod"])
def stack(request, dev):
    return dev if request.param == "dev" else request.getfixturevalue("prod")


def test_dev_leaves_the_drill_off_by_default():
    stack = evaluate("dev")
    assert stack.of_type("cruddur:restore_drill:RestoreDrill") == [] and "backupVaultName" not in stack.outputs


def data_key_arn(stack) -> str:
    return stack.one("aws:kms/key:Key", "data-key").outputs["arn"]


def db_arn(stack) -> str:
    return f"arn:aws:rds:{REGION}:{ACCOUNT}:db:cruddur-{stack.stack}-db"


def drill(stack):
    return stack.one("cruddur:restore_drill:RestoreDrill", "restore-drill")


def part(stack, typ, name):
    """A resource of the drill: its child, or a child of one of its functions (components/function.py)."""
    resource = stack.one(typ, name)
    parent = stack.parent_of(resource)
    if parent.type == "cruddur:function:Function":
        parent = stack.parent_of(parent)
    assert parent.type == "cruddur:restore_drill:RestoreDrill"
    return resource


def statements(stack, name) -> dict:
    return {s["Sid"]: s for s in policy(part(stack, ROLE_POLICY, name))["Statement"]}


def attached(stack, role_name) -> list[str]:
    return sorted(a.props["policyArn"] for a in stack.of_type(ATTACHMENT) if a.props["role"] == role_name)


# -- AWS Backup ---------------------------------------------------------------------------------------------------
def test_vault_is_encrypted_with_the_data_key_and_kept(stack):
    vault = part(stack, "aws:backup/vault:Vault", "restore-drill-vault")
    assert vault.props == {"name": f"cruddur-{stack.stack}-backup", "kmsKeyArn": data_key_arn(stack),
                           "forceDestroy": False}
    assert stack.outputs["backupVaultName"] == f"cruddur-{stack.stack}-backup"


def test_vault_failures_notify_the_alarm_topic(stack):
    notifications = part(stack, "aws:backup/vaultNotifications:VaultNotifications",
                         "restore-drill-vault-notifications")
    assert notifications.props == {"backupVaultName": f"cruddur-{stack.stack}-backup",
                                   "snsTopicArn": stack.outputs["alarmTopicArn"],
                                   "backupVaultEvents": ["BACKUP_JOB_FAILED", "COPY_JOB_FAILED", "RESTORE_JOB_FAILED"]}


@pytest.mark.parametrize("name, daily, weekly", [("dev", 7, 28), ("prod", 35, 180)])
def test_plan_has_daily_and_weekly_rules_with_the_stack_retention(request, name, daily, weekly):
    stack = request.getfixturevalue(name)
    rules = part(stack, "aws:backup/plan:Plan", "restore-drill-plan").props["rules"]
    assert [(r["ruleName"], r["schedule"], r["lifecycle"], r["targetVaultName"]) for r in rules] == [
        ("daily", "cron(0 5 * * ? *)", {"deleteAfter": daily}, f"cruddur-{name}-backup"),
        ("weekly", "cron(0 5 ? * SUN *)", {"deleteAfter": weekly}, f"cruddur-{name}-backup"),
    ]


def test_selection_names_the_instance_by_arn(stack):
    selection = part(stack, "aws:backup/selection:Selection", "restore-drill-selection")
    role = part(stack, "aws:iam/role:Role", "restore-drill-backup-role")
    assert selection.props["resources"] == [db_arn(stack)]
    assert selection.props["planId"] == part(stack, "aws:backup/plan:Plan", "restore-drill-plan").id
    assert selection.props["iamRoleArn"] == role.outputs["arn"]
    assert json.loads(role.props["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "backup.amazonaws.com"}
    assert attached(stack, f"cruddur-{stack.stack}-backup") == [
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"]


# -- restore testing ----------------------------------------------------------------------------------------------
def test_restore_testing_plan_restores_the_latest_snapshot_of_this_vault_weekly(stack):
    plan = part(stack, "aws:backup/restoreTestingPlan:RestoreTestingPlan", "restore-drill-restore-testing")
    vault = stack.one("aws:backup/vault:Vault", "restore-drill-vault")
    assert plan.props["name"] == f"cruddur_{stack.stack}_restore_drill"
    assert plan.props["scheduleExpression"] == "cron(0 6 ? * MON *)"
    assert plan.props["scheduleExpressionTimezone"] == "Etc/UTC"
    assert plan.props["recoveryPointSelection"] == {
        "algorithm": "LATEST_WITHIN_WINDOW", "includeVaults": [vault.outputs["arn"]],
        "recoveryPointTypes": ["SNAPSHOT"], "selectionWindowDays": 7}
    assert stack.outputs["restoreTestingPlanName"] == plan.props["name"]


def test_restore_testing_selection_restores_privately_and_leaves_time_to_validate(stack):
    selection = part(stack, "aws:backup/restoreTestingSelection:RestoreTestingSelection",
                     "restore-drill-restore-testing-selection")
    db_sg = stack.one("aws:ec2/securityGroup:SecurityGroup", "db-sg")
    subnets = stack.one("aws:rds/subnetGroup:SubnetGroup", "db-subnets")
    assert selection.props["protectedResourceType"] == "RDS"
    assert selection.props["protectedResourceArns"] == [db_arn(stack)]
    assert selection.props["restoreTestingPlanName"] == f"cruddur_{stack.stack}_restore_drill"
    assert selection.props["iamRoleArn"] == stack.one("aws:iam/role:Role", "restore-drill-backup-role").outputs["arn"]
    assert selection.props["restoreMetadataOverrides"] == {
        "dbsubnetgroupname": subnets.outputs["name"], "vpcsecuritygroupids": json.dumps([db_sg.id])}
    assert selection.props["validationWindowHours"] == 4


def test_restore_job_completion_triggers_the_reporter(stack):
    rule = part(stack, "aws:cloudwatch/eventRule:EventRule", "restore-drill-restore-completed")
    assert json.loads(rule.props["eventPattern"]) == {
        "source": ["aws.backup"], "detail-type": ["Restore Job State Change"],
        "detail": {"status": ["COMPLETED"], "resourceType": ["RDS"]}}
    reporter = stack.one(FUNCTION, "restore-drill-report-function")
    target = part(stack, "aws:cloudwatch/eventTarget:EventTarget", "restore-drill-restore-completed-target")
    assert target.props == {"rule": rule.props["name"], "arn": reporter.outputs["arn"]}
    permission = part(stack, "aws:lambda/permission:Permission", "restore-drill-report-invoke")
    assert permission.props == {"action": "lambda:InvokeFunction", "function": reporter.outputs["name"],
                                "principal": "events.amazonaws.com", "sourceArn": rule.outputs["arn"]}


# -- the validation functions -------------------------------------------------------------------------------------
def test_probe_runs_in_the_private_subnets_with_what_it_must_check(stack):
    probe = part(stack, FUNCTION, "restore-drill-probe-function")
    latest, count = expected_migrations()
    assert probe.props["handler"] == "handler.probe_handler"
    assert probe.props["environment"]["variables"] == {
        "EXPECTED_MIGRATION": latest,
        "EXPECTED_MIGRATION_COUNT": str(count), "MIN_ROWS": "0" if stack.stack == "dev" else "1"}
    sg = stack.one("aws:ec2/securityGroup:SecurityGroup", "restore-drill-probe-sg")
    assert probe.props["vpcConfig"] == {"subnetIds": stack.outputs["privateSubnetIds"], "securityGroupIds": [sg.id]}
    psycopg2_layer = stack.one("aws:lambda/layerVersion:LayerVersion", "layers-psycopg2")
    assert probe.props["layers"] == [psycopg2_layer.outputs["arn"]]
    code = signed_source(stack, probe)
    assert {name: asset.path for name, asset in code.assets.items()} == {
        "handler.py": str(PROJECT_DIR / "lambda" / "restore_check" / "handler.py"),
        "master_login.py": str(PROJECT_DIR / "lambda" / "shared" / "master_login.py"),  # the migrator's same file
        "global-bundle.pem": str(PROJECT_DIR / "lambda" / "post_confirmation" / "global-bundle.pem")}
    # one package, signed once, for both functions
    assert signing_job(stack, stack.one(FUNCTION, "restore-drill-report-function")) is signing_job(stack, probe)
    logs = stack.one("aws:cloudwatch/logGroup:LogGroup", "restore-drill-probe-logs")
    assert logs.props["name"] == f"/aws/lambda/cruddur-{stack.stack}-restore-probe"
    assert logs.props["kmsKeyId"] == data_key_arn(stack)


def test_probe_is_admitted_to_the_database_port_only_by_security_group(stack):
    sg = stack.one("aws:ec2/securityGroup:SecurityGroup", "restore-drill-probe-sg")
    ingress = stack.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "db-in-from-restore-check")
    egress = stack.one("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "db-out-from-restore-check")
    db_sg = stack.one("aws:ec2/securityGroup:SecurityGroup", "db-sg")
    assert (ingress.props["securityGroupId"], ingress.props["referencedSecurityGroupId"]) == (db_sg.id, sg.id)
    assert (egress.props["securityGroupId"], egress.props["referencedSecurityGroupId"]) == (sg.id, db_sg.id)
    assert ingress.props["fromPort"] == ingress.props["toPort"] == 5432
    assert "egress" not in sg.props and "ingress" not in sg.props


def test_probe_calls_no_aws_api(stack):
    """It gets the master's credentials from the reporter: no secret policy, no endpoint, nothing but its ENIs and
    its X-Ray segments (active tracing, as every function that is not a database side)."""
    probe = stack.one(FUNCTION, "restore-drill-probe-function")
    assert {sid: (s["Action"], s["Resource"]) for sid, s in statements(stack, "restore-drill-probe-policy").items()} == {
        "XRayTracing": (["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*")}
    assert probe.props["tracingConfig"] == {"mode": "Active"}
    assert attached(stack, f"cruddur-{stack.stack}-restore-probe") == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"]
    assert "MASTER_SECRET_ARN" not in probe.props["environment"]["variables"]
    sg = stack.one("aws:ec2/securityGroup:SecurityGroup", "restore-drill-probe-sg")
    egress = [r for r in stack.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
              if r.props["securityGroupId"] == sg.id]
    assert [r.name for r in egress] == ["db-out-from-restore-check"]
    assert stack.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") == []


def test_reporter_runs_outside_the_vpc_and_knows_its_plan_probe_and_topic(stack):
    reporter = part(stack, FUNCTION, "restore-drill-report-function")
    plan = stack.one("aws:backup/restoreTestingPlan:RestoreTestingPlan")
    assert reporter.props["handler"] == "handler.report_handler"
    assert "vpcConfig" not in reporter.props
    assert reporter.props["environment"]["variables"] == {
        "RESTORE_TESTING_PLAN_ARN": plan.outputs["arn"], "PROBE_FUNCTION_NAME": f"cruddur-{stack.stack}-restore-probe",
        "MASTER_SECRET_ARN": stack.outputs["masterSecretArn"],
        "STACK": stack.stack, "ALARM_TOPIC_ARN": stack.outputs["alarmTopicArn"]}
    assert reporter.props["timeout"] > stack.one(FUNCTION, "restore-drill-probe-function").props["timeout"]


def test_reporter_role_does_only_what_the_reporter_does(stack):
    found = statements(stack, "restore-drill-report-policy")
    probe = stack.one(FUNCTION, "restore-drill-probe-function")
    assert {sid: (s["Action"], s["Resource"]) for sid, s in found.items()} == {
        "ReadAndValidateRestoreJobs": (["backup:DescribeRestoreJob", "backup:PutRestoreValidationResult"], "*"),
        "FindTheRestoredInstance": ("rds:DescribeDBInstances", f"arn:aws:rds:{REGION}:{ACCOUNT}:db:*"),
        "InvokeTheProbe": ("lambda:InvokeFunction", probe.outputs["arn"]),
        # the master's credentials for the probe, read outside the VPC
        "ReadTheMasterSecret": ("secretsmanager:GetSecretValue", stack.outputs["masterSecretArn"]),
        "DecryptTheSecretThroughSecretsManager": ("kms:Decrypt", data_key_arn(stack)),
        "PublishTheVerdict": ("sns:Publish", stack.outputs["alarmTopicArn"]),
        "EncryptForTheTopic": (["kms:GenerateDataKey*", "kms:Decrypt"], data_key_arn(stack)),
        "XRayTracing": (["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*"),
    }
    assert found["DecryptTheSecretThroughSecretsManager"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}}
    assert found["EncryptForTheTopic"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}}
    assert attached(stack, f"cruddur-{stack.stack}-restore-report") == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]


def test_without_alarms_the_drill_reports_to_backup_only(evaluate_with):
    stack = evaluate_with("dev", overrides={**DEV_WITH_DRILL, "alarms": False})
    assert "PublishTheVerdict" not in statements(stack, "restore-drill-report-policy")
    assert "ALARM_TOPIC_ARN" not in stack.one(FUNCTION, "restore-drill-report-function").props["environment"]["variables"]
    assert stack.of_type("aws:backup/vaultNotifications:VaultNotifications") == []


# -- settings -----------------------------------------------------------------------------------------------------
def test_prod_cannot_switch_the_drill_off(config_problems):
    assert only(config_problems("prod", restoreDrill=False)) == (
        "cruddur-db:restoreDrill = False: prod must keep its restore drill on (runbooks/restore.md)")


def test_dev_may_switch_the_drill_off(evaluate_with):
    stack = evaluate_with("dev", overrides={"restoreDrill": False})
    assert stack.of_type("cruddur:restore_drill:RestoreDrill") == []
    assert stack.of_type("aws:backup/vault:Vault") == []
    assert "backupVaultName" not in stack.outputs


def test_prod_needs_rows_in_the_restored_copy(config_problems):
    assert only(config_problems("prod", restoreDrillMinRows=0)) == (
        "cruddur-db:restoreDrillMinRows = 0: prod's restored copy must hold users and activities (at least 1)")


def test_prod_keeps_daily_recovery_points_a_week(config_problems):
    assert only(config_problems("prod", backupDailyRetentionDays=6)) == (
        "cruddur-db:backupDailyRetentionDays = 6: prod keeps daily AWS Backup recovery points at least 7 days")


def test_weekly_retention_outlives_daily(config_problems):
    assert only(config_problems("dev", backupDailyRetentionDays=30, backupWeeklyRetentionDays=14)) == (
        "cruddur-db:backupWeeklyRetentionDays = 14: must be at least backupDailyRetentionDays (30): weekly "
        "backups outlive daily ones")


@pytest.mark.parametrize("key, low, high", [("backupDailyRetentionDays", 1, 365),
                                            ("backupWeeklyRetentionDays", 7, 3650),
                                            ("restoreDrillMinRows", 0, 1_000_000_000)])
def test_drill_number_bounds_name_the_key(config_problems, key, low, high):
    assert only(config_problems("dev", **{key: low - 1})) == (
        f"cruddur-db:{key} = {low - 1}: must be from {low} to {high}")
    problems = config_problems("dev", **{key: high + 1})
    assert f"cruddur-db:{key} = {high + 1}: must be from {low} to {high}" in problems


def test_drill_schedule_must_be_a_cron_expression(config_problems):
    assert only(config_problems("dev", restoreDrillSchedule="every monday")) == (
        "cruddur-db:restoreDrillSchedule = 'every monday': is not a cron expression: cron(minutes hours "
        "day-of-month month day-of-week year) in UTC, e.g. cron(0 6 ? * MON *)")


def test_drill_schedule_follows_the_setting(evaluate_with):
    stack = evaluate_with("dev", overrides={**DEV_WITH_DRILL, "restoreDrillSchedule": "cron(30 4 ? * WED *)"})
    plan = stack.one("aws:backup/restoreTestingPlan:RestoreTestingPlan")
    assert plan.props["scheduleExpression"] == "cron(30 4 ? * WED *)"


# -- packaging ----------------------------------------------------------------------------------------------------
def test_packaging_names_what_is_missing(tmp_path):
    from components.restore_drill import PackagingError, function_archive
    with pytest.raises(PackagingError, match=f"^{tmp_path / 'handler.py'} is missing: the restore drill's "
                                             "validation needs its handler$"):
        function_archive(source_dir=tmp_path)
    (tmp_path / "handler.py").write_text("")
    with pytest.raises(PackagingError, match=f"^{tmp_path / 'none.pem'} is missing: the restore check verifies"):
        function_archive(source_dir=tmp_path, ca_bundle=tmp_path / "none.pem")
    from components.lambda_shared import SharedModuleMissing
    with pytest.raises(SharedModuleMissing, match=f"^{tmp_path / 'master_login.py'} is missing: the functions that "
                                                  "connect as the master"):
        function_archive(source_dir=tmp_path, ca_bundle=PROJECT_DIR / "lambda" / "post_confirmation" /
                         "global-bundle.pem", shared_dir=tmp_path)
    with pytest.raises(PackagingError, match=rf"^no migrations \(\*\.sql\) in {tmp_path}: the drill has no schema"):
        expected_migrations(tmp_path)


def test_new_components_take_their_own_section_naming_and_aws_context():
    import dataclasses

    from components.monitoring import MonitoringArgs
    from components.restore_drill import RestoreDrillArgs
    from components.settings import Settings

    for args, section in ((MonitoringArgs, "MonitoringSettings"), (RestoreDrillArgs, "RestoreDrillSettings")):
        annotations = {f.name: f.type for f in dataclasses.fields(args)}
        assert "settings" not in annotations and Settings.__name__ not in annotations.values(), args
        # the stack's naming and account context come on their own, or with the functions' Platform
        assert (annotations.get("naming"), annotations.get("aws_context")) == ("Naming", "AwsContext") \
            or annotations.get("platform") == "Platform", args
        assert section in annotations.values(), args
