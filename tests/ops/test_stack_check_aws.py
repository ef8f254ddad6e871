"""`cruddur stack check`'s AWS checks, each against a healthy dev stack in moto (ok) and the same stack with that
one promise broken (FAIL and its fix line). Where moto lacks an API or a field, a Stubber client answers in the
shape of the AWS API reference (botocore validates each stubbed response against the service model)."""

from __future__ import annotations

import datetime

import pytest

from ops.stack.check import alarms, audit, backups, credentials, database, network, signup
from ops.stack.check.context import Abort
from ops.stack.check.runner import run
from tests.ops.stack_check_support import (
    FUNCTIONS,
    INSTANCE,
    PARAMETER_GROUP,
    build,
    client,
    judge,
    now,
    stub,
)

DAY = datetime.timedelta(days=1)


@pytest.fixture
def stack(moto_aws):
    return build()


# -- every promise of the healthy stack holds ------------------------------------------------------------------------
IN_MOTO = [
    (database.available, f"{INSTANCE} is available"),
    (database.encrypted, "encrypted with arn:aws:kms:eu-west-1:"),
    (database.not_public, "PubliclyAccessible is false"),
    (database.deletion_protection, "DeletionProtection is true"),
    (database.backups, "BackupRetentionPeriod is 1 days"),
    (database.tls_only, f"{PARAMETER_GROUP}: rds.force_ssl=1, in-sync"),
    (database.iam_auth, "IAMDatabaseAuthenticationEnabled is true"),
    (database.multi_az, "MultiAZ is false"),
    (database.restorable, "latest restorable time"),
    (credentials.master_rotation, "every 30 days, last "),
    (credentials.app_rotation, "every 30 days, last "),
    (signup.trigger, f"-> {FUNCTIONS['confirmationFunctionName']}"),
    (signup.errors_and_throttles, "0 errors, 0 throttles in 24 h"),
    (audit.trail_bucket, "logging, last delivery "),
    (audit.guardduty, "enabled, RDS_LOGIN_EVENTS enabled"),
    (alarms.alarms_exist, "alarms -> cruddur-dev-alarms"),
    (alarms.none_firing, "none in ALARM"),
    (alarms.subscribed, "1 confirmed"),
    (alarms.budget, "cruddur-dev-monthly: 25 USD a month"),
    (network.no_world_ingress, "3 groups, none open to the world"),
    (network.private_subnets, "2 private subnets, no route out"),
]


@pytest.mark.parametrize(("check", "evidence"), IN_MOTO, ids=[c.run.__name__ for c, _ in IN_MOTO])
def test_the_healthy_stack_keeps_the_promise(stack, check, evidence):
    result = judge(stack.context(), check)
    assert result.status == "ok", result
    assert evidence in result.detail


def lifecycle(stack, support: str = "open-source-rds-extended-support-disabled", version: str | None = None):
    """DescribeDBInstances as RDS answers it (API reference, DescribeDBInstances: DBInstance.EngineLifecycleSupport),
    which moto leaves out."""
    answer = stack.described()
    answer["DBInstances"][0]["EngineLifecycleSupport"] = support
    if version:
        answer["DBInstances"][0]["EngineVersion"] = version
    return stub("rds", ("describe_db_instances", answer))


def trail_status(**fields):
    """GetTrailStatus as CloudTrail answers it (API reference, GetTrailStatus response elements)."""
    return stub("cloudtrail", ("get_trail_status", {"IsLogging": True, "LatestDeliveryTime": now() - 600 * SECOND,
                                                    "LatestCloudWatchLogsDeliveryTime": now() - 300 * SECOND,
                                                    **fields}))


SECOND = datetime.timedelta(seconds=1)
CSC = "arn:aws:lambda:eu-west-1:123456789012:code-signing-config:csc-0123456789abcdef0"


def signing(policy: str = "Enforce", missing: str | None = None):
    """GetFunctionCodeSigningConfig and GetCodeSigningConfig as Lambda answers them (API reference), which moto does
    not implement: one pair per function of the stack, in the order of audit.FUNCTION_OUTPUTS."""
    calls = []
    for output in audit.FUNCTION_OUTPUTS:
        name = FUNCTIONS[output]
        calls.append(("get_function_code_signing_config",
                      {"CodeSigningConfigArn": "" if name == missing else CSC, "FunctionName": name}))
        if name != missing:
            calls.append(("get_code_signing_config", {"CodeSigningConfig": {
                "CodeSigningConfigId": "csc-0123456789abcdef0", "CodeSigningConfigArn": CSC,
                "AllowedPublishers": {"SigningProfileVersionArns": [
                    "arn:aws:signer:eu-west-1:123456789012:/signing-profiles/cruddur_dev/abcdef0123"]},
                "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": policy},
                "LastModified": "2026-12-01T10:00:00.000+0000"}}))
    return stub("lambda", *calls)


def test_engine_and_lifecycle_as_configured(stack):
    result = judge(stack.context(clients={"rds": lifecycle(stack)}), database.engine)
    assert (result.status, result.detail) == ("ok", "postgres 17.4, open-source-rds-extended-support-disabled")


def test_the_trail_delivers_to_its_log_group(stack):
    result = judge(stack.context(clients={"cloudtrail": trail_status()}), audit.trail_logs)
    assert result.status == "ok" and result.detail.startswith("last delivery ")


def test_every_function_runs_under_an_enforcing_code_signing_config(stack):
    result = judge(stack.context(clients={"lambda": signing()}), audit.code_signing)
    assert (result.status, result.detail) == ("ok", "4 functions, Enforce")


# -- each promise broken -----------------------------------------------------------------------------------------------
def rds_change(**changes):
    client("rds").modify_db_instance(DBInstanceIdentifier=INSTANCE, ApplyImmediately=True, **changes)


def test_a_stopped_instance_fails_with_wake(stack):
    client("rds").stop_db_instance(DBInstanceIdentifier=INSTANCE)
    result = judge(stack.context(), database.available)
    assert result.status == "FAIL"
    assert result.detail == (f"{INSTANCE} is stopped: `cruddur stack wake -s dev` starts it (a dev run schedule stops "
                             "it outside its hours, runbooks/dev-schedule.md)")


def test_a_missing_instance_fails_with_pulumi_up(stack):
    result = judge(stack.context(dbInstanceId="cruddur-dev-gone"), database.available)
    assert result.status == "FAIL"
    assert result.detail.startswith("RDS has no instance cruddur-dev-gone in eu-west-1: run `pulumi up -s dev`")


def test_storage_under_another_key_fails(stack):
    other = client("kms").create_key(Description="not the stack's")["KeyMetadata"]["Arn"]
    result = judge(stack.context(kmsKeyArn=other), database.encrypted)
    assert result.status == "FAIL"
    assert result.detail == (f"storage is encrypted with {stack.ids['key']}, not the stack's key {other}: restore a "
                             "copy of a snapshot encrypted with kmsKeyArn (runbooks/restore.md)")


@pytest.mark.parametrize(("check", "change", "fix"), [
    (database.not_public, {"PubliclyAccessible": True},
     "PubliclyAccessible is true: run `pulumi up -s dev` (it puts back what the stack file configures), or at once "
     f"`aws rds modify-db-instance --db-instance-identifier {INSTANCE} --no-publicly-accessible --apply-immediately`"),
    (database.deletion_protection, {"DeletionProtection": False},
     "DeletionProtection is false, the stack file says true: run `pulumi up -s dev` (it puts back what the stack "
     "file configures)"),
    (database.backups, {"BackupRetentionPeriod": 5},
     "BackupRetentionPeriod is 5 days, the stack file says 1: run `pulumi up -s dev` (it puts back what the stack "
     "file configures)"),
    (database.iam_auth, {"EnableIAMDatabaseAuthentication": False},
     "IAM database authentication is off, so the sign-up function cannot log in: run `pulumi up -s dev` (it puts "
     "back what the stack file configures)"),
    (database.multi_az, {"MultiAZ": True},
     "MultiAZ is true, the stack file says false: run `pulumi up -s dev` (it puts back what the stack file "
     "configures)"),
], ids=["public", "deletion-protection", "backups", "iam-auth", "multi-az"])
def test_an_instance_changed_outside_pulumi_fails(stack, check, change, fix):
    rds_change(**change)
    result = judge(stack.context(), check)
    assert (result.status, result.detail) == ("FAIL", fix)


def test_a_parameter_group_that_allows_plain_text_fails(stack):
    client("rds").modify_db_parameter_group(DBParameterGroupName=PARAMETER_GROUP, Parameters=[
        {"ParameterName": "rds.force_ssl", "ParameterValue": "0", "ApplyMethod": "immediate"}])
    result = judge(stack.context(), database.tls_only)
    assert (result.status, result.detail) == ("FAIL", (
        f"parameter group {PARAMETER_GROUP} has rds.force_ssl=0, so plain-text connections are accepted: run `pulumi "
        "up -s dev` (it puts back what the stack file configures)"))


def test_a_parameter_group_pending_reboot_fails_with_the_reboot(stack):
    # DescribeDBInstances (API reference: DBParameterGroupStatus.ParameterApplyStatus "pending-reboot"), which moto
    # always reports in-sync; DescribeDBParameters from moto's own answer.
    answer = stack.described()
    answer["DBInstances"][0]["DBParameterGroups"][0]["ParameterApplyStatus"] = "pending-reboot"
    parameters = client("rds").describe_db_parameters(DBParameterGroupName=PARAMETER_GROUP, Source="user")
    parameters.pop("ResponseMetadata")
    rds = stub("rds", ("describe_db_instances", answer), ("describe_db_parameters", parameters))
    result = judge(stack.context(clients={"rds": rds}), database.tls_only)
    assert (result.status, result.detail) == ("FAIL", (
        f"parameter group {PARAMETER_GROUP} is pending-reboot: the instance still runs the old parameters; reboot it "
        f"in a quiet hour: `aws rds reboot-db-instance --db-instance-identifier {INSTANCE}`"))


def test_paid_extended_support_fails(stack):
    result = judge(stack.context(clients={"rds": lifecycle(stack, "open-source-rds-extended-support")}),
                   database.engine)
    assert (result.status, result.detail) == ("FAIL", (
        "EngineLifecycleSupport is open-source-rds-extended-support (billed once the major leaves standard support), "
        "the stack sets open-source-rds-extended-support-disabled: run `pulumi up -s dev` (it puts back what the "
        "stack file configures)"))


def test_another_major_fails(stack):
    result = judge(stack.context(clients={"rds": lifecycle(stack, version="16.8")}), database.engine)
    assert (result.status, result.detail) == ("FAIL", (
        "the instance runs postgres 16.8, the stack file says postgres 17: finish or roll back the upgrade "
        "(runbooks/upgrade-major.md)"))


def test_a_stale_restorable_time_fails(stack):
    result = judge(stack.context(at=now() + datetime.timedelta(hours=1)), database.restorable)
    assert result.status == "FAIL"
    assert "minutes old: RDS is not archiving transaction logs" in result.detail


def test_rotation_turned_off_fails(stack):
    # DescribeSecret (API reference) of a secret whose rotation was cancelled: RotationEnabled false. moto refuses
    # CancelRotateSecret on a secret rotated without a Lambda function.
    described = client("secretsmanager").describe_secret(SecretId=stack.outputs["masterSecretArn"])
    described.pop("ResponseMetadata")
    described["VersionIdsToStages"] = {v: s for v, s in described["VersionIdsToStages"].items() if s}
    off = stub("secretsmanager", ("describe_secret", {**described, "RotationEnabled": False}))
    result = judge(stack.context(clients={"secretsmanager": off}), credentials.master_rotation)
    assert (result.status, result.detail) == ("FAIL", (
        f"rotation is OFF for {stack.outputs['masterSecretArn']}: run `pulumi up -s dev` (the stack rotates it every "
        "30 days)"))


def test_a_rotation_stopped_half_way_fails(stack):
    arn = stack.outputs["appSecretArn"]
    version = client("secretsmanager").put_secret_value(SecretId=arn, SecretString="{}",
                                                        VersionStages=["AWSPENDING"])["VersionId"]
    result = judge(stack.context(), credentials.app_rotation)
    assert (result.status, result.detail) == ("FAIL", (
        f"a rotation of {arn} stopped half-way (version {version} is AWSPENDING): read the log of "
        f"{FUNCTIONS['appRotationFunctionName']} (/aws/lambda/{FUNCTIONS['appRotationFunctionName']}), fix the cause, "
        f"then `aws secretsmanager rotate-secret --secret-id {arn}` (runbooks/rotate-master-password.md)"))


def test_rotations_that_stopped_happening_fail(stack):
    result = judge(stack.context(at=now() + 40 * DAY), credentials.master_rotation)
    assert result.status == "FAIL"
    assert result.detail == (
        f"{stack.outputs['masterSecretArn']} last rotated 40 days ago (every 30 days configured): the scheduled "
        f"rotations fail; read the log of {FUNCTIONS['masterRotationFunctionName']} "
        f"(/aws/lambda/{FUNCTIONS['masterRotationFunctionName']}) (runbooks/rotate-master-password.md)")


def never_rotated(stack, created):
    """DescribeSecret (API reference) of a secret whose rotation is on but has never run: no LastRotatedDate."""
    described = client("secretsmanager").describe_secret(SecretId=stack.outputs["appSecretArn"])
    described.pop("ResponseMetadata")
    described.pop("LastRotatedDate")
    described["VersionIdsToStages"] = {v: s for v, s in described["VersionIdsToStages"].items() if s}
    return stub("secretsmanager", ("describe_secret", {**described, "CreatedDate": created}))


def test_a_secret_that_never_rotated_fails(stack):
    arn, function = stack.outputs["appSecretArn"], FUNCTIONS["appRotationFunctionName"]
    result = judge(stack.context(clients={"secretsmanager": never_rotated(stack, now() - 3 * DAY)}),
                   credentials.app_rotation)
    assert (result.status, result.detail) == ("FAIL", (
        f"{arn} has never rotated (the first rotation runs at deploy): read the log of {function}, then `aws "
        f"secretsmanager rotate-secret --secret-id {arn}` (runbooks/rotate-master-password.md)"))


def test_a_first_rotation_still_running_is_not_checked(stack):
    result = judge(stack.context(clients={"secretsmanager": never_rotated(stack, now() - 600 * SECOND)}),
                   credentials.app_rotation)
    assert result.status == "not checked"
    assert result.detail.endswith("minutes ago and its first rotation has not finished yet: re-run the check in a "
                                  "few minutes")


def test_a_trigger_of_another_function_fails(stack):
    other = "arn:aws:lambda:eu-west-1:123456789012:function:someone-elses"
    client("cognito-idp").update_user_pool(UserPoolId=stack.ids["pool"], LambdaConfig={"PostConfirmation": other})
    result = judge(stack.context(), signup.trigger)
    assert (result.status, result.detail) == ("FAIL", (
        f"user pool {stack.ids['pool']} triggers {other}, not {FUNCTIONS['confirmationFunctionName']}: run `pulumi up "
        "-s dev`, then `cruddur users sync -s dev` (runbooks/repair-users.md)"))


def test_function_errors_fail(stack):
    name = FUNCTIONS["confirmationFunctionName"]
    client("cloudwatch").put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "Errors", "Dimensions": [{"Name": "FunctionName", "Value": name}], "Value": 2.0}])
    result = judge(stack.context(at=now() + 60 * SECOND), signup.errors_and_throttles)
    assert (result.status, result.detail) == ("FAIL", (
        f"2 errors, 0 throttles in 24 h: read /aws/lambda/{name} (docs/functions.md), then `cruddur users sync -s dev` "
        "for the users it missed (runbooks/repair-users.md)"))


def test_a_trail_that_stopped_logging_fails(stack):
    client("cloudtrail").stop_logging(Name=stack.ids["trail"])
    result = judge(stack.context(), audit.trail_bucket)
    assert (result.status, result.detail) == ("FAIL", (
        f"the trail is not logging: `aws cloudtrail start-logging --name {stack.ids['trail']}`, then `pulumi up -s "
        "dev`"))


def test_a_trail_bucket_delivery_error_fails(stack):
    result = judge(stack.context(clients={"cloudtrail": trail_status(LatestDeliveryError="AccessDenied")}),
                   audit.trail_bucket)
    assert (result.status, result.detail) == ("FAIL", (
        "the trail cannot write to cruddur-dev-trail (AccessDenied): check the bucket policy and the audit key's "
        "policy for cloudtrail.amazonaws.com (components/audit.py)"))


def test_a_trail_that_cannot_publish_to_its_encrypted_topic_fails(stack):
    error = "KMS.AccessDeniedException"
    topic = "arn:aws:sns:eu-west-1:123456789012:cruddur-dev-trail-notifications"
    result = judge(stack.context(clients={"cloudtrail": trail_status(LatestNotificationError=error)},
                                 auditTopicArn=topic), audit.trail_bucket)
    assert (result.status, result.detail) == ("FAIL", (
        f"the trail cannot publish to {topic} ({error}): check the topic policy and the audit key's statement for "
        "CloudTrail's SNS notifications (components/audit.py)"))


def test_a_trail_that_just_started_is_not_checked_yet(stack):
    # GetTrailStatus of a trail created minutes ago: logging, no delivery yet (no Latest*DeliveryTime).
    status = {"IsLogging": True, "StartLoggingTime": now() - 300 * SECOND}
    ctx = stack.context(clients={"cloudtrail": stub("cloudtrail", ("get_trail_status", status))})
    results = [judge(ctx, audit.trail_bucket), judge(ctx, audit.trail_logs)]
    assert [r.status for r in results] == ["not checked", "not checked"]
    assert results[0].detail == ("the trail started logging less than an hour ago and has delivered nothing yet: "
                                 "re-run the check in 15 minutes")


def test_a_trail_that_cannot_assume_its_logs_role_fails(stack):
    error = "Access denied. Verify in IAM that the role has adequate permissions."
    result = judge(stack.context(clients={"cloudtrail": trail_status(LatestCloudWatchLogsDeliveryError=error)}),
                   audit.trail_logs)
    assert (result.status, result.detail) == ("FAIL", (
        f"CloudTrail cannot write to /cruddur/dev/trail ({error}): CloudTrail could not assume its logs role; check "
        "the role's trust policy (aws:SourceArn = the trail's ARN) in components/audit.py"))


def test_guardduty_without_rds_protection_fails(stack):
    detector = stack.ids["detector"]
    client("guardduty").update_detector(DetectorId=detector, Features=[{"Name": "RDS_LOGIN_EVENTS",
                                                                        "Status": "DISABLED"}])
    result = judge(stack.context(), audit.guardduty)
    assert (result.status, result.detail) == ("FAIL", (
        f"RDS Protection is DISABLED on detector {detector}: run `pulumi up -s dev` (it manages the RDS_LOGIN_EVENTS "
        "feature)"))


@pytest.mark.parametrize(("clients", "shown"), [
    ({"policy": "Warn"}, "{migrator} only warns (Warn)"),
    ({"missing": FUNCTIONS["migratorFunctionName"]}, "{migrator} has no code signing config"),
], ids=["warn", "none"])
def test_a_function_without_enforced_signing_fails(stack, clients, shown):
    result = judge(stack.context(clients={"lambda": signing(**clients)}), audit.code_signing)
    assert result.status == "FAIL"
    assert shown.format(migrator=FUNCTIONS["migratorFunctionName"]) in result.detail
    assert result.detail.endswith(": run `pulumi up -s dev` (components/code_signing.py attaches an enforcing one)")


def test_a_function_that_was_never_created_fails(stack):
    # moto holds no function: GetFunctionCodeSigningConfig answers ResourceNotFoundException, as Lambda does.
    result = judge(stack.context(), audit.code_signing)
    assert (result.status, result.detail) == ("FAIL", (
        f"{', '.join(FUNCTIONS[o] for o in audit.FUNCTION_OUTPUTS)} does not exist: run `pulumi up -s dev` (a "
        "function whose signed upload Signer could not read is never created)"))


def test_a_missing_alarm_fails(stack):
    client("cloudwatch").delete_alarms(AlarmNames=["cruddur-dev-alarm-cpu"])
    result = judge(stack.context(), alarms.alarms_exist)
    assert (result.status, result.detail) == ("FAIL", "missing: cruddur-dev-alarm-cpu: run `pulumi up -s dev`")


def test_an_alarm_in_alarm_fails(stack):
    client("cloudwatch").set_alarm_state(AlarmName="cruddur-dev-alarm-free-storage", StateValue="ALARM",
                                         StateReason="test")
    result = judge(stack.context(), alarms.none_firing)
    assert (result.status, result.detail) == ("FAIL", (
        "in ALARM: cruddur-dev-alarm-free-storage: read each alarm's reason (`aws cloudwatch describe-alarms "
        "--alarm-names cruddur-dev-alarm-free-storage`) and docs/operations.md"))


def test_a_topic_without_a_confirmed_subscription_fails(stack):
    # ListSubscriptionsByTopic (API reference): an unconfirmed e-mail subscription's SubscriptionArn is
    # "PendingConfirmation"; moto confirms every subscription at once.
    pending = stub("sns", ("list_subscriptions_by_topic", {"Subscriptions": [{
        "SubscriptionArn": "PendingConfirmation", "Owner": "123456789012", "Protocol": "email",
        "Endpoint": "oncall@example.com", "TopicArn": stack.ids["topic"]}]}))
    result = judge(stack.context(clients={"sns": pending}), alarms.subscribed)
    assert (result.status, result.detail) == ("FAIL", (
        "no confirmed subscription (1 pending): each alarmEmails address must click the link in AWS's \"Subscription "
        "Confirmation\" e-mail; set alarmEmails and run `pulumi up -s dev` if there are none"))


def test_a_missing_budget_fails(stack):
    client("budgets").delete_budget(AccountId=stack.ids["account"], BudgetName="cruddur-dev-monthly")
    result = judge(stack.context(), alarms.budget)
    assert (result.status, result.detail) == ("FAIL", (
        f"no budget cruddur-dev-monthly in account {stack.ids['account']}: run `pulumi up -s dev`"))


def test_a_world_open_security_group_fails(stack):
    group = stack.ids["app"]
    client("ec2").authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    result = judge(stack.context(), network.no_world_ingress)
    assert (result.status, result.detail) == ("FAIL", (
        f"open to the world: {group} 0.0.0.0/0 port 5432: the stack declares no such rule; remove it (`aws ec2 "
        f"revoke-security-group-ingress --group-id {group} --ip-permissions ...`) and run `pulumi up -s dev`"))


def test_a_private_subnet_with_a_route_out_fails(stack):
    ec2 = client("ec2")
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=stack.ids["vpc"])
    (table,) = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [stack.ids["vpc"]]}])["RouteTables"]
    ec2.create_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    result = judge(stack.context(), network.private_subnets)
    assert result.status == "FAIL"
    assert f"-> {gateway} ({table['RouteTableId']})" in result.detail
    assert result.detail.startswith("a private subnet routes out: ")


# -- backups and the restore drill: AWS Backup's recovery points and restore testing are not in moto ----------------
PLAN = "cruddur_dev_restore_test"
PLAN_ARN = f"arn:aws:backup:eu-west-1:123456789012:restore-testing-plan:{PLAN}-0123"
DRILL = {"backupVaultName": "cruddur-dev-backup", "restoreTestingPlanName": PLAN}


def recovery_points(*points):
    """ListRecoveryPointsByBackupVault (API reference: RecoveryPointByBackupVault)."""
    return stub("backup", ("list_recovery_points_by_backup_vault", {"RecoveryPoints": [
        {"RecoveryPointArn": f"arn:aws:rds:eu-west-1:123456789012:snapshot:awsbackup:job-{i}",
         "BackupVaultName": "cruddur-dev-backup", "ResourceType": "RDS", "Status": status, "CreationDate": created,
         "ResourceArn": f"arn:aws:rds:eu-west-1:123456789012:db:{INSTANCE}"}
        for i, (status, created) in enumerate(points)]}))


def restore_jobs(*jobs):
    """GetRestoreTestingPlan and ListRestoreJobs (API reference: RestoreTestingPlanForGet, RestoreJobsListMember with
    Status, StatusMessage, ValidationStatus FAILED|SUCCESSFUL|TIMED_OUT|VALIDATING, ValidationStatusMessage)."""
    return stub("backup", ("get_restore_testing_plan", {"RestoreTestingPlan": {
        "RestoreTestingPlanArn": PLAN_ARN, "RestoreTestingPlanName": PLAN, "CreationTime": now() - 30 * DAY,
        "ScheduleExpression": "cron(0 5 ? * SUN *)",
        "RecoveryPointSelection": {"Algorithm": "LATEST_WITHIN_WINDOW", "IncludeVaults": ["*"],
                                   "RecoveryPointTypes": ["SNAPSHOT"]}}}),
        ("list_restore_jobs", {"RestoreJobs": [{"RestoreJobId": f"job-{i}", "CreationDate": created,
                                                 "ResourceType": "RDS", **fields}
                                                for i, (created, fields) in enumerate(jobs)]}))


def test_the_latest_recovery_point_is_recent(stack):
    points = recovery_points(("COMPLETED", now() - 2 * DAY), ("COMPLETED", now() - DAY / 2))
    result = judge(stack.context(clients={"backup": points}, **DRILL), backups.recovery_point)
    assert result.status == "ok" and result.detail.endswith(", COMPLETED")


@pytest.mark.parametrize(("points", "fix"), [
    ((), "vault cruddur-dev-backup holds no recovery point of the instance: see `aws backup list-backup-jobs "
         "--by-backup-vault-name cruddur-dev-backup` for the plan's failed jobs"),
    ((("COMPLETED", now() - 5 * DAY),), "the daily backups stopped; see `aws backup list-backup-jobs "
                                        "--by-backup-vault-name cruddur-dev-backup`"),
], ids=["none", "stale"])
def test_no_recent_recovery_point_fails(stack, points, fix):
    result = judge(stack.context(clients={"backup": recovery_points(*points)}, **DRILL), backups.recovery_point)
    assert result.status == "FAIL"
    assert fix in result.detail


def test_the_latest_restore_test_passed(stack):
    jobs = restore_jobs((now() - 9 * DAY, {"Status": "FAILED", "StatusMessage": "old"}),
                        (now() - 2 * DAY, {"Status": "COMPLETED", "ValidationStatus": "SUCCESSFUL"}))
    result = judge(stack.context(clients={"backup": jobs}, **DRILL), backups.restore_test)
    assert (result.status, result.detail) == ("ok", f"{(now() - 2 * DAY).date()}: COMPLETED, validation SUCCESSFUL")


@pytest.mark.parametrize(("fields", "fix"), [
    ({"Status": "FAILED", "StatusMessage": "DB subnet group cruddur-dev-db does not exist"},
     "FAILED: DB subnet group cruddur-dev-db does not exist: check the restore overrides (subnet group, security "
     "group, instance class) in components/restore_drill.py (runbooks/restore.md)"),
    ({"Status": "COMPLETED", "ValidationStatus": "FAILED", "ValidationStatusMessage": "users has 0 rows, expected 1"},
     "restored the copy but its validation FAILED: users has 0 rows, expected 1: read the restore check's log "
     "(lambda/restore_check, runbooks/restore.md)"),
], ids=["restore", "validation"])
def test_a_failed_restore_test_fails(stack, fields, fix):
    jobs = restore_jobs((now() - DAY, fields))
    result = judge(stack.context(clients={"backup": jobs}, **DRILL), backups.restore_test)
    assert result.status == "FAIL"
    assert result.detail == f"the restore test of {(now() - DAY).date()} {fix}"


def test_no_restore_test_yet_is_not_checked(stack):
    result = judge(stack.context(clients={"backup": restore_jobs()}, **DRILL), backups.restore_test)
    assert result.status == "not checked"
    assert result.detail.startswith("no restore test has run yet (cron(0 5 ? * SUN *))")


def test_a_stack_without_the_drill_is_not_checked(stack):
    result = judge(stack.context(), backups.recovery_point)
    assert (result.status, result.detail) == ("not checked", (
        "restoreDrill is false in the stack file: RDS's own automated backups only (see the database group)"))


# -- refusals and missing outputs --------------------------------------------------------------------------------------
def test_a_denied_call_is_not_checked_and_names_the_permission(stack):
    result = judge(stack.context(clients={"rds": stub("rds", ("describe_db_instances", "AccessDenied"))}),
                   database.not_public)
    assert result.status == "not checked"
    assert result.detail.startswith("access denied to rds:DescribeDBInstances: grant it to the role running the check")


def test_every_call_of_the_checks_is_a_listed_read_action(moto_aws):
    import re
    from pathlib import Path

    from ops.stack.check.context import iam_action
    from ops.stack.check.permissions import ACTIONS

    calls = {m.groups() for path in Path(database.__file__).parent.glob("*.py")
             for m in re.finditer(r'ctx\.call\(\s*"([\w-]+)",\s*"(\w+)"', path.read_text())}
    assert len(calls) == 18  # 17 listed actions and sts:GetCallerIdentity
    actions = {iam_action(service, operation, client(service)) for service, operation in calls}
    assert actions - {"sts:GetCallerIdentity"} == set(ACTIONS) - {"secretsmanager:GetSecretValue", "kms:Decrypt"}


def test_expired_credentials_stop_the_run_with_one_line(stack):
    expired = stub("rds", ("describe_db_instances", "ExpiredTokenException"))
    with pytest.raises(Abort) as caught:
        run(stack.context(clients={"rds": expired}))
    assert caught.value.message == ("your AWS credentials have expired: sign in again (e.g. `aws sso login`) and "
                                    "re-run (ExpiredTokenException)")


def test_a_stack_file_that_does_not_load_leaves_its_settings_not_checked(stack):
    ctx = stack.context()
    ctx.settings, ctx.settings_problem = None, "stack 'dev' has 1 configuration problem(s): - cruddur-db:multiAz = 2"
    result = judge(ctx, database.multi_az)
    assert (result.status, result.detail) == ("not checked", (
        "the stack file cannot be read, so what it configures is unknown: stack 'dev' has 1 configuration "
        "problem(s): - cruddur-db:multiAz = 2"))


def test_a_missing_output_is_not_checked_with_why(stack):
    result = judge(stack.context(userPoolId=None), signup.trigger)
    assert (result.status, result.detail) == ("not checked", (
        "stack dev has no output 'userPoolId' (has `pulumi up -s dev` completed with this version of the program?)"))
