"""``RestoreDrill``: AWS Backup for the instance, and a restore drill that runs and checks itself every week.

Why AWS Backup (and not only RDS automated backups): its restore testing restores a recovery point on a schedule,
waits for a validation verdict and then deletes the restored copy by itself, so the drill costs a few instance-hours
a week and leaves nothing behind. RDS automated backups (``backupRetentionDays``, point in time) stay as they are.

- the vault (``cruddur-<stack>-backup``), encrypted with the stack's data CMK; vault notifications (backup, copy
  and restore jobs that fail) go to the alarm topic when there is one;
- the plan: a daily rule (05:00 UTC, kept ``backupDailyRetentionDays``) and a weekly rule (Sundays 05:00 UTC, kept
  ``backupWeeklyRetentionDays``), outside the RDS backup (02:00-03:00) and maintenance (Sun 03:30-04:30) windows;
  a selection naming the instance by ARN; the role AWS Backup assumes (AWS's backup and restore managed policies);
- the restore testing plan (``restoreDrillSchedule``) restores the LATEST snapshot of the last 7 days from this
  vault; its selection (the instance's ARN) restores into the stack's private subnet group and database security
  group, and gives the validation ``VALIDATION_WINDOW_HOURS`` before Backup deletes the copy anyway;
- the validation (``lambda/restore_check``, one package, two functions):
    * ``report`` (outside the VPC), triggered by EventBridge on ``aws.backup`` "Restore Job State Change" with
      status COMPLETED for RDS: keeps only this plan's jobs, finds the restored endpoint, reads the master secret's
      AWSCURRENT, AWSPENDING and AWSPREVIOUS values (the copy may predate a rotation), invokes ``probe`` with them,
      reports with ``backup:PutRestoreValidationResult`` and publishes the verdict to the alarm topic. Outside the
      VPC, its AWS calls need no VPC endpoints;
    * ``probe`` (in the private subnets, own security group with no rule of its own, admitted to the database by
      ``admissions``: ``Database.allow_from``): logs in with the first candidate the copy accepts (the next one on
      a refused password only, ``master_login.py`` from ``lambda/shared``) and checks the restored copy (schema
      version, migration count, row counts) over TLS verify-full. It calls no AWS API: its role has only
      ``AWSLambdaVPCAccessExecutionRole``.
- each role gets only what its function does (see the inline policies below);
- both functions come from one signed package (``CodeSigning.sign("restore-check", ...)``) and carry the stack's
  enforced code signing config; their environments are encrypted with the stack's data key;
- failures: EventBridge invokes ``report`` asynchronously, so a ``FunctionEventInvokeConfig`` sends an event that
  still fails after Lambda's retries to the alarm topic (an operator is told the drill did not report), or, when
  the stack has no alarms, to an SQS queue encrypted with the data key (``<name>-report-failures``, kept 14 days).
  ``probe`` is synchronous only: ``report`` invokes it RequestResponse and turns its failure into the verdict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.function import ONE_AT_A_TIME, Admission, Function, FunctionArgs, Platform
from components.iam import service_trust_policy, source_account
from components.lambda_shared import SHARED_SOURCE, master_login_assets
from components.naming import Naming
from components.packaging import CA_BUNDLE, CA_BUNDLE_SOURCE, MIGRATIONS_DIR, PROJECT_DIR, PackagingError, package_files
from components.settings import RestoreDrillSettings

FUNCTION_SOURCE = PROJECT_DIR / "lambda" / "restore_check"

PROBE_TIMEOUT_SECONDS = 60
REPORT_TIMEOUT_SECONDS = 120  # waits for the probe
VALIDATION_WINDOW_HOURS = 4
REPORT_RETRIES = 2  # Lambda's asynchronous retries before the event goes to the on-failure destination
REPORT_MAX_EVENT_AGE_SECONDS = 3 * 3600  # inside the validation window, so a retried verdict still counts
FAILURE_QUEUE_RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum
SELECTION_WINDOW_DAYS = 7
DAILY_SCHEDULE = "cron(0 5 * * ? *)"
WEEKLY_SCHEDULE = "cron(0 5 ? * SUN *)"
VAULT_EVENTS = ("BACKUP_JOB_FAILED", "COPY_JOB_FAILED", "RESTORE_JOB_FAILED")
RESTORE_EVENT_PATTERN = {
    "source": ["aws.backup"],
    "detail-type": ["Restore Job State Change"],
    "detail": {"status": ["COMPLETED"], "resourceType": ["RDS"]},
}


def expected_migrations(migrations_dir: Path = MIGRATIONS_DIR) -> tuple[str, int]:
    """(latest migration id, number of migrations) as yoyo records them: file stems, in name order."""
    ids = sorted(p.stem for p in migrations_dir.glob("*.sql"))
    if not ids:
        raise PackagingError(f"no migrations (*.sql) in {migrations_dir}: the drill has no schema to expect")
    return ids[-1], len(ids)


def function_archive(source_dir: Path = FUNCTION_SOURCE, ca_bundle: Path = CA_BUNDLE_SOURCE,
                     shared_dir: Path = SHARED_SOURCE) -> pulumi.AssetArchive:
    files = package_files({"handler.py": source_dir / "handler.py", CA_BUNDLE: ca_bundle}, {
        "handler.py": "the restore drill's validation needs its handler",
        CA_BUNDLE: "the restore check verifies the restored copy's TLS certificate (verify-full) against the Amazon "
                   "RDS CA bundle (docs/functions.md says where it comes from)"})
    return pulumi.AssetArchive({**files, **master_login_assets(shared_dir)})


def plan_name(naming: Naming) -> str:
    """Restore testing names allow only letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9_]", "_", naming.physical_name("restore_drill"))


@dataclass
class RestoreDrillArgs:
    drill: RestoreDrillSettings
    platform: Platform  # naming, data key (vault, log groups; the instance's storage key), signing, subnets, layers
    db_instance_arn: pulumi.Input[str]
    db_subnet_group_name: pulumi.Input[str]
    db_security_group_id: pulumi.Input[str]  # the restored copy gets the database's SG (admits the probe)
    master_secret_arn: pulumi.Input[str]
    # Who must let the probe in: Database.allow_from (part, source SG, why); the restored copy gets the database's SG.
    admissions: Sequence[Admission] = field(default_factory=tuple)
    alarm_topic_arn: pulumi.Input[str] | None = None  # Monitoring's topic; None when alarms are off
    source_dir: Path = FUNCTION_SOURCE
    ca_bundle: Path = CA_BUNDLE_SOURCE
    migrations_dir: Path = MIGRATIONS_DIR


class RestoreDrill(pulumi.ComponentResource):
    vault: aws.backup.Vault
    plan: aws.backup.Plan
    restore_testing_plan: aws.backup.RestoreTestingPlan
    probe: Function
    reporter: Function

    def __init__(self, name: str, args: RestoreDrillArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:restore_drill:RestoreDrill", name, None, opts)
        platform, d = args.platform, args.drill
        naming, ctx, kms_key_arn = platform.naming, platform.aws_context, platform.kms_key_arn
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        partition, region, account_id = ctx.partition, ctx.region, ctx.account_id
        # One package, two functions: signed once.
        signed = platform.code_signing.sign("restore-check", function_archive(args.source_dir, args.ca_bundle))
        latest_migration, migration_count = expected_migrations(args.migrations_dir)

        # -- AWS Backup: vault, role, plan, selection -----------------------------------------------------------
        self.vault = aws.backup.Vault(
            f"{name}-vault",
            name=naming.physical_name("backup"),
            kms_key_arn=kms_key_arn,
            force_destroy=False,
            opts=child,
        )
        if args.alarm_topic_arn is not None:
            aws.backup.VaultNotifications(
                f"{name}-vault-notifications",
                backup_vault_name=self.vault.name,
                sns_topic_arn=args.alarm_topic_arn,
                backup_vault_events=list(VAULT_EVENTS),
                opts=child,
            )
        self.backup_role = aws.iam.Role(
            f"{name}-backup-role",
            name=naming.physical_name("backup"),
            assume_role_policy=service_trust_policy("backup.amazonaws.com", invoke, [source_account(account_id)]),
            description="AWS Backup: back up and restore (drill) the Cruddur database",
            opts=child,
        )
        for part, policy in (("backup", "service-role/AWSBackupServiceRolePolicyForBackup"),
                             ("restores", "service-role/AWSBackupServiceRolePolicyForRestores")):
            aws.iam.RolePolicyAttachment(f"{name}-backup-role-{part}", role=self.backup_role.name,
                                         policy_arn=ctx.managed_policy_arn(policy), opts=child)
        self.plan = aws.backup.Plan(
            f"{name}-plan",
            name=naming.physical_name("backup"),
            rules=[
                {"rule_name": "daily", "target_vault_name": self.vault.name, "schedule": DAILY_SCHEDULE,
                 "start_window": 60, "completion_window": 360,
                 "lifecycle": {"delete_after": d.daily_retention_days},
                 "recovery_point_tags": {"Rule": "daily"}},
                {"rule_name": "weekly", "target_vault_name": self.vault.name, "schedule": WEEKLY_SCHEDULE,
                 "start_window": 60, "completion_window": 360,
                 "lifecycle": {"delete_after": d.weekly_retention_days},
                 "recovery_point_tags": {"Rule": "weekly"}},
            ],
            opts=child,
        )
        aws.backup.Selection(
            f"{name}-selection",
            name=naming.physical_name("db"),
            plan_id=self.plan.id,
            iam_role_arn=self.backup_role.arn,
            resources=[args.db_instance_arn],
            opts=child,
        )

        # -- restore testing: the latest snapshot, restored privately, validated, then deleted by Backup -------
        self.restore_testing_plan = aws.backup.RestoreTestingPlan(
            f"{name}-restore-testing",
            name=plan_name(naming),
            schedule_expression=d.schedule,
            schedule_expression_timezone="Etc/UTC",
            start_window_hours=24,
            recovery_point_selection={
                "algorithm": "LATEST_WITHIN_WINDOW",
                "include_vaults": [self.vault.arn],
                "recovery_point_types": ["SNAPSHOT"],
                "selection_window_days": SELECTION_WINDOW_DAYS,
            },
            opts=child,
        )
        aws.backup.RestoreTestingSelection(
            f"{name}-restore-testing-selection",
            name="cruddur_db",
            restore_testing_plan_name=self.restore_testing_plan.name,
            protected_resource_type="RDS",
            protected_resource_arns=[args.db_instance_arn],
            iam_role_arn=self.backup_role.arn,
            restore_metadata_overrides={
                "dbsubnetgroupname": args.db_subnet_group_name,
                "vpcsecuritygroupids": pulumi.Output.from_input(args.db_security_group_id).apply(
                    lambda sg: json.dumps([sg])),
            },
            validation_window_hours=VALIDATION_WINDOW_HOURS,
            opts=child,
        )

        # -- the probe: in the private subnets, checks the copy with the credentials the reporter hands it -------
        self.probe = Function(f"{name}-probe", FunctionArgs(
            platform=platform,
            part="restore-probe",
            description="Restore drill: checks the restored copy's schema version and row counts",
            role_description="Cruddur restore check probe: VPC access and logs only",
            code=signed,
            handler="handler.probe_handler",
            layers=[platform.layer("psycopg2")],
            environment={
                "EXPECTED_MIGRATION": latest_migration,
                "EXPECTED_MIGRATION_COUNT": str(migration_count),
                "MIN_ROWS": str(d.min_rows),
            },
            vpc=True,
            security_group_description="Cruddur restore check: egress to the database port only",
            security_group_tag=naming.physical_name("restore-check"),
            reaches=[(admit, "the restore drill's check") for admit in args.admissions],
            admission_part="restore-check",
            timeout=PROBE_TIMEOUT_SECONDS,
            reserved_concurrency=ONE_AT_A_TIME,
            function_alias_name=f"{name}-probe",
            # Synchronous only: `report` invokes it RequestResponse; no asynchronous caller, no destination.
        ), opts=child)

        # -- the reporter: outside the VPC, triggered by the restore job's completion ---------------------------
        restored_instances = pulumi.Output.all(partition, region, account_id).apply(
            lambda v: f"arn:{v[0]}:rds:{v[1]}:{v[2]}:db:*")
        statements: list = [
            # Restore jobs are not an IAM resource type: these two actions take no resource ARN.
            {"sid": "ReadAndValidateRestoreJobs",
             "actions": ["backup:DescribeRestoreJob", "backup:PutRestoreValidationResult"], "resources": ["*"]},
            {"sid": "FindTheRestoredInstance", "actions": ["rds:DescribeDBInstances"],
             "resources": [restored_instances]},
            {"sid": "InvokeTheProbe", "actions": ["lambda:InvokeFunction"], "resources": [self.probe.arn]},
            # the master's credentials for the probe (AWSCURRENT, AWSPENDING, AWSPREVIOUS: the copy may predate a
            # rotation), read here so that the probe in the VPC calls no AWS API
            {"sid": "ReadTheMasterSecret", "actions": ["secretsmanager:GetSecretValue"],
             "resources": [args.master_secret_arn]},
            {"sid": "DecryptTheSecretThroughSecretsManager", "actions": ["kms:Decrypt"],
             "resources": [kms_key_arn],
             "conditions": [{"test": "StringEquals", "variable": "kms:ViaService",
                             "values": [f"secretsmanager.{region}.amazonaws.com"]}]},
        ]
        # Where an asynchronous invocation (EventBridge's) that still fails after the retries goes.
        self.failure_queue = None
        if args.alarm_topic_arn is not None:
            self.failure_destination = args.alarm_topic_arn  # published by the role's PublishTheVerdict statement
        else:
            self.failure_queue = aws.sqs.Queue(
                f"{name}-report-failures",
                name=naming.physical_name("restore-report-failures"),
                kms_master_key_id=kms_key_arn,
                kms_data_key_reuse_period_seconds=300,
                message_retention_seconds=FAILURE_QUEUE_RETENTION_SECONDS,
                opts=child,
            )
            self.failure_destination = self.failure_queue.arn
            statements += [
                {"sid": "SendFailedEvents", "actions": ["sqs:SendMessage"], "resources": [self.failure_queue.arn]},
                {"sid": "EncryptForTheQueue", "actions": ["kms:GenerateDataKey", "kms:Decrypt"],
                 "resources": [kms_key_arn],
                 "conditions": [{"test": "StringEquals", "variable": "kms:ViaService",
                                 "values": [f"sqs.{region}.amazonaws.com"]}]},
            ]
        if args.alarm_topic_arn is not None:
            sns_service = f"sns.{region}.amazonaws.com"
            statements += [
                {"sid": "PublishTheVerdict", "actions": ["sns:Publish"], "resources": [args.alarm_topic_arn]},
                {"sid": "EncryptForTheTopic", "actions": ["kms:GenerateDataKey*", "kms:Decrypt"],
                 "resources": [kms_key_arn],
                 "conditions": [{"test": "StringEquals", "variable": "kms:ViaService", "values": [sns_service]}]},
            ]
        report_env = {
            "RESTORE_TESTING_PLAN_ARN": self.restore_testing_plan.arn,
            "PROBE_FUNCTION_NAME": self.probe.name,
            "MASTER_SECRET_ARN": args.master_secret_arn,
            "STACK": naming.stack,
        }
        if args.alarm_topic_arn is not None:
            report_env["ALARM_TOPIC_ARN"] = args.alarm_topic_arn
        self.reporter = Function(f"{name}-report", FunctionArgs(
            platform=platform,
            part="restore-report",
            description="Restore drill: validates each restore test and reports the verdict to AWS Backup",
            role_description="Cruddur restore check reporter: read the restore job and the master secret, invoke "
                             "the probe, report the verdict",
            code=signed,
            handler="handler.report_handler",
            layers=[platform.layer("psycopg2")],  # the package imports psycopg2 at load time
            environment=report_env,
            statements=statements,
            timeout=REPORT_TIMEOUT_SECONDS,
            reserved_concurrency=ONE_AT_A_TIME,
            function_alias_name=f"{name}-report",
        ), opts=child)
        # Lambda checks the role may reach the destination when the config is created: after the role's policy.
        self.report_failures = aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-report-async",
            function_name=self.reporter.name,
            maximum_retry_attempts=REPORT_RETRIES,
            maximum_event_age_in_seconds=REPORT_MAX_EVENT_AGE_SECONDS,
            destination_config={"on_failure": {"destination": self.failure_destination}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.reporter]),
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-restore-completed",
            name=naming.physical_name("restore-completed"),
            description="AWS Backup restore jobs that completed (the drill's restored copies)",
            event_pattern=json.dumps(RESTORE_EVENT_PATTERN),
            opts=child,
        )
        aws.cloudwatch.EventTarget(f"{name}-restore-completed-target", rule=rule.name, arn=self.reporter.arn,
                                   opts=child)
        self.reporter.allow_invoke("events.amazonaws.com", rule.arn)
        self.register_outputs({"vault_name": self.vault.name, "plan_id": self.plan.id,
                               "restore_testing_plan_arn": self.restore_testing_plan.arn,
                               "probe_function_name": self.probe.name,
                               "report_function_name": self.reporter.name})
