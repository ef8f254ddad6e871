"""Cruddur's database stack, in the order the data flows (docs: DESIGN.md, "Data flow"):

settings -> pinned provider -> account context -> data key -> network -> database (-> its run schedule, its read
replicas) -> audit -> code signing -> layers -> the app's access (-> the RDS Proxy) -> sign-up -> migrator ->
rotations -> monitoring -> budget -> restore drill -> guardrails -> exports (all in one place, at the end).
"""

import pulumi
import pulumi_aws as aws

from components.app_access import AppAccess, AppAccessArgs
from components.audit import Audit, AuditArgs
from components.aws_context import AwsContext
from components.budget import Budget, BudgetArgs
from components.code_signing import ACCESS_LOG_PREFIX, CodeSigning, CodeSigningArgs, artifacts_bucket_name
from components.confirmation import DB_USER as CONFIRMATION_DB_USER
from components.confirmation import Confirmation, ConfirmationArgs
from components.connection_budget import connection_budget, proxy_max_connections_percent
from components.database import Database, DatabaseArgs
from components.db_schedule import DbSchedule, DbScheduleArgs
from components.function import Platform
from components.guardrails import Guardrails, GuardrailsArgs
from components.kms import (
    KmsKey,
    KmsKeyArgs,
    backup_notifications_statement,
    budgets_notifications_statement,
    cloudwatch_alarms_statement,
    logs_statement,
)
from components.layers import Layers, LayersArgs, LayerSpec
from components.master_rotation import (
    AppRotation,
    AppRotationArgs,
    MasterRotation,
    MasterRotationArgs,
)
from components.migrator import Migrator, MigratorArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.network import Network, NetworkArgs
from components.psycopg2_layer import build_layer, build_migrator_layer, build_powertools_layer
from components.rds_proxy import RdsProxy, RdsProxyArgs
from components.read_replicas import ReadReplicas, ReadReplicasArgs
from components.restore_drill import RestoreDrill, RestoreDrillArgs
from components.settings import Settings

settings = Settings.load()

# Every AWS resource goes through this provider: the region is pinned by the stack file, never by the environment.
provider = aws.Provider(
    "aws-pinned",
    region=settings.region,
    default_tags={"tags": settings.tags},
)
pinned = pulumi.ResourceOptions(providers={"aws": provider})
# What every component shares: the stack's naming, its account/partition/region (looked up once) and log retention.
naming = settings.naming
context = AwsContext.lookup(provider, settings.region)
log_days = settings.log_retention_days

data_key = KmsKey("data", KmsKeyArgs(
    description=f"Cruddur {settings.stack}: database storage, Performance Insights, secrets and logs",
    alias=naming.physical_name("data"),
    aws_context=context,
    statements=[logs_statement, cloudwatch_alarms_statement, backup_notifications_statement,
                budgets_notifications_statement],
    protect=naming.protect,
), opts=pinned)
network = Network("network", NetworkArgs(
    network=settings.network, naming=naming, aws_context=context, log_retention_days=log_days,
    kms_key_arn=data_key.arn,
), opts=pinned)
database = Database("db", DatabaseArgs(
    database=settings.database, naming=naming, aws_context=context, log_retention_days=log_days,
    network=network, kms_key_arn=data_key.arn,
), opts=pinned)
# dev only, opt-in: the instance runs in the hours dbRunSchedule names and is stopped outside them.
db_schedule = None
if settings.database.run_schedule is not None:
    db_schedule = DbSchedule("db-schedule", DbScheduleArgs(
        schedule=settings.database.run_schedule, naming=naming, aws_context=context,
        db_instance_identifier=database.instance.identifier, db_instance_arn=database.instance.arn,
    ), opts=pinned)
# Opt-in (readReplicas): streaming read replicas of the instance, for the app's feed queries.
read_replicas = None
if settings.database.read_replicas:
    read_replicas = ReadReplicas("db-replicas", ReadReplicasArgs(
        database=settings.database, naming=naming, primary=database, kms_key_arn=data_key.arn,
        zones=pulumi.Output.all(*[subnet.availability_zone for subnet in network.private_subnets]),
        log_retention_days=log_days,
    ), opts=pinned)
artifacts_bucket_arn = pulumi.Output.concat("arn:", context.partition, ":s3:::",
                                            artifacts_bucket_name(naming, context.account_id))
audit = Audit("audit", AuditArgs(
    audit=settings.audit, naming=naming, aws_context=context,
    # the log bucket also takes the code-signing artifacts bucket's server access logs
    access_log_sources=[("S3ServerAccessLogsFromTheArtifactsBucket", artifacts_bucket_arn, ACCESS_LOG_PREFIX)],
), opts=pinned)

# Code signing (one per stack): every function and layer is created from a copy signed by the stack's Signer
# profile, and every function carries its code signing config, which Enforces it (components/code_signing.py).
code_signing = CodeSigning("code-signing", CodeSigningArgs(
    naming=naming, kms_key_arn=data_key.arn, account_id=context.account_id,
    access_log_bucket=audit.access_log_bucket.name if audit.access_log_bucket is not None else None,
), opts=pinned)
# The layer zips come from the on-disk cache (built from the pinned wheels on a cache miss only).
layers = Layers("layers", LayersArgs(naming=naming, code_signing=code_signing, layers=(
    LayerSpec("psycopg2", "psycopg2-binary", build_layer(),
              was=("confirmation-psycopg2", "cruddur:confirmation:Confirmation", "confirmation")),
    LayerSpec("powertools", "aws-lambda-powertools", build_powertools_layer(),
              was=("confirmation-powertools", "cruddur:confirmation:Confirmation", "confirmation")),
    LayerSpec("yoyo", "yoyo-migrations", build_migrator_layer(),
              was=("migrator-yoyo", "cruddur:migrator:Migrator", "migrator")),
)), opts=pinned)
# What every function shares, passed once: naming, account, data key, signing, log retention, subnets, layers.
platform = Platform(naming=naming, aws_context=context, kms_key_arn=data_key.arn, code_signing=code_signing,
                    log_retention_days=log_days, vpc_id=network.vpc.id, subnet_ids=network.private_subnet_ids,
                    layers=layers.arns)

# The app's path: its own role's credentials and security group, and the migrator that `pulumi up` invokes to apply
# sql/migrations and set that role's password (outside the VPC, through a database function inside it: the private
# subnets need no Secrets Manager endpoint).
app_access = AppAccess("app", AppAccessArgs(
    settings=settings.app_access, naming=naming, database=database, db_name=settings.database.name,
    db_port=settings.database.port, vpc_id=network.vpc.id, kms_key_arn=data_key.arn,
), opts=pinned)
budget_of_connections = connection_budget(settings.database.instance_class)
# Opt-in (rdsProxy): an RDS Proxy in front of the primary for the app and the sign-up function (its pool takes what
# the connection budget leaves after RDS and the operators).
rds_proxy = None
if settings.database.rds_proxy:
    rds_proxy = RdsProxy("db-proxy", RdsProxyArgs(
        naming=naming, aws_context=context, database=database, vpc_id=network.vpc.id,
        subnet_ids=network.private_subnet_ids, kms_key_arn=data_key.arn, app_secret=app_access.secret,
        iam_users=[CONFIRMATION_DB_USER], port=settings.database.port,
        max_connections_percent=proxy_max_connections_percent(budget_of_connections),
    ), opts=pinned)
    rds_proxy.allow_from("app", app_access.security_group, "the Cruddur backend (appSecurityGroupId)")
    for sg_id in dict.fromkeys(settings.app_access.security_group_ids):
        rds_proxy.allow_existing(sg_id, "an existing app security group (appSecurityGroupIds)")

# Sign-up: Cognito's post-confirmation trigger records each user (IAM auth, inside the VPC; through the proxy when
# the stack has one).
confirmation = Confirmation("confirmation", ConfirmationArgs(
    confirmation=settings.confirmation, platform=platform, database=database,
    reserved_concurrency=budget_of_connections.confirmation, proxy=rds_proxy,
), opts=pinned)
migrator = Migrator("migrator", MigratorArgs(
    platform=platform, database=database, db_name=settings.database.name, app_access=app_access,
), opts=pinned)

# Both database secrets rotate on a schedule: a rotation function outside the VPC does the Secrets Manager calls and
# invokes a database function inside it (components/master_rotation.py). The app
# secret alternates users (cruddur_app / cruddur_app_clone, set by the master); its first rotation waits for the
# migrator, which creates the clone user (sql/migrations/0006_app_clone_role.sql).
master_rotation = MasterRotation("master-rotation", MasterRotationArgs(
    platform=platform, database=database,
    rotation_days=settings.database.master_password_rotation_days,
), opts=pinned)
app_rotation = AppRotation("app-rotation", AppRotationArgs(
    platform=platform, database=database,
    rotation_days=settings.app_access.password_rotation_days, app_secret=app_access.secret,
    after=[migrator.invocation],
), opts=pinned)

# Alarms and dashboard, and the self-running restore drill.
monitoring = None
if settings.monitoring.alarms:
    monitoring = Monitoring("monitoring", MonitoringArgs(
        monitoring=settings.monitoring, naming=naming, aws_context=context, kms_key_arn=data_key.arn,
        db_instance_identifier=database.instance.identifier, instance_class=settings.database.instance_class,
        allocated_storage_gb=settings.database.allocated_storage_gb, function_name=confirmation.function.name,
        replica_identifiers=read_replicas.identifiers if read_replicas is not None else (),
    ), opts=pinned)
# The monthly budget: actual and forecasted alerts to the alarm topic and the alarm e-mails.
budget = Budget("budget", BudgetArgs(
    naming=naming, monthly_budget_usd=settings.monitoring.monthly_budget_usd,
    topic_arn=monitoring.topic.arn if monitoring is not None else None, emails=settings.monitoring.emails,
    activate_tag=settings.monitoring.activate_stack_cost_tag,
), opts=pinned)
restore_drill = None
if settings.restore_drill.enabled:
    restore_drill = RestoreDrill("restore-drill", RestoreDrillArgs(
        drill=settings.restore_drill, platform=platform,
        db_instance_arn=database.instance.arn, db_subnet_group_name=database.subnet_group.name,
        db_security_group_id=database.security_group.id, master_secret_arn=database.secret.arn,
        # The probe reaches the restored copy, which gets the database's SG.
        admissions=[database.allow_from],
        alarm_topic_arn=monitoring.topic.arn if monitoring is not None else None,
    ), opts=pinned)

# Organization guardrails (SCPs): only when the stack owns its organization's policies (runbooks/guardrails.md).
guardrails = None
if settings.organization.manage_guardrails:
    guardrails = Guardrails("guardrails", GuardrailsArgs(
        target_id=settings.organization.target_id,
        allowed_regions=settings.allowed_regions,
        break_glass_role_name=settings.organization.break_glass_role_name,
        name_prefix=f"cruddur-{settings.stack}",
        audit_bucket_pattern=f"{naming.physical_name('trail')}*",
        partition=context.partition,
        exempt_region_services=settings.organization.exempt_region_services,
    ), opts=pinned)

# -- exports: what the app, the operators and `cruddur stack ...` read ------------------------------------------------
# The database and its network.
pulumi.export("region", settings.region)
pulumi.export("masterConnectionUrl", database.connection_url)  # operators only (cruddur db -s STACK)
pulumi.export("dbHost", database.instance.address)
pulumi.export("dbPort", database.instance.port)
pulumi.export("dbName", database.instance.db_name)
pulumi.export("dbInstanceId", database.instance.identifier)
pulumi.export("dbResourceId", database.instance.resource_id)
pulumi.export("masterSecretArn", database.secret.arn)
pulumi.export("kmsKeyArn", data_key.arn)
pulumi.export("vpcId", network.vpc.id)
pulumi.export("privateSubnetIds", network.private_subnet_ids)
pulumi.export("dbSecurityGroupId", database.security_group.id)
# Scaling out (docs/scaling.md): RDS has no reader endpoint for instance replicas, so readerEndpoint is the first
# replica's address and readerEndpoints lists them all; proxyEndpoint is where the app and the sign-up function
# connect when the stack has a proxy.
if read_replicas is not None:
    pulumi.export("readerEndpoint", read_replicas.reader_host)
    pulumi.export("readerEndpoints", read_replicas.endpoints)
    pulumi.export("replicaInstanceIds", read_replicas.identifiers)
if rds_proxy is not None:
    pulumi.export("proxyEndpoint", rds_proxy.endpoint)
pulumi.export("operatorSecurityGroupId", network.operator_security_group.id)
pulumi.export("operatorEndpointId", network.operator_endpoint.id)
pulumi.export("operatorPolicyArn", network.operator_policy.arn)
# The audit trail and threat detection.
if audit.trail is not None:
    pulumi.export("auditTrailArn", audit.trail.arn)
    pulumi.export("auditBucketName", audit.bucket.bucket)
    pulumi.export("auditLogGroupName", audit.log_group.name)
    pulumi.export("auditKmsKeyArn", audit.key.arn)
    pulumi.export("auditTopicArn", audit.topic.arn)  # the trail's log-delivery notifications (docs/security.md)
if audit.rds_protection is not None:
    pulumi.export("guardDutyDetectorId", audit.detector_id)
if guardrails is not None:
    pulumi.export("guardrailPolicyIds", guardrails.policy_ids)
# Sign-up.
pulumi.export("userPoolId", confirmation.user_pool.id)
pulumi.export("userPoolArn", confirmation.user_pool.arn)
pulumi.export("userPoolClientId", confirmation.user_pool_client.id)
pulumi.export("confirmationFunctionName", confirmation.function.name)
# The app's credentials, the migrations and the rotations.
pulumi.export("masterRotationFunctionName", master_rotation.function.name)
pulumi.export("appRotationFunctionName", app_rotation.function.name)
pulumi.export("appConnectionUrl", app_access.connection_url)
pulumi.export("appSecretArn", app_access.secret.arn)
pulumi.export("appSecurityGroupId", app_access.security_group.id)
pulumi.export("migratorFunctionName", migrator.function.name)
pulumi.export("migrationsSha256", migrator.migrations_sha256)
# Alarms and the restore drill.
if monitoring is not None:
    pulumi.export("alarmTopicArn", monitoring.topic.arn)
    if monitoring.dashboard is not None:
        pulumi.export("dashboardName", monitoring.dashboard.dashboard_name)
pulumi.export("budgetName", budget.budget.name)
if db_schedule is not None:
    pulumi.export("dbScheduledHoursPerWeek", db_schedule.hours_per_week)  # the cost estimate's instance-hours
if restore_drill is not None:
    pulumi.export("backupVaultName", restore_drill.vault.name)
    pulumi.export("restoreTestingPlanName", restore_drill.restore_testing_plan.name)
