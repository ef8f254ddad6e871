"""Cruddur's database stack: read the settings, compose the components, export what the app needs."""

import pulumi
import pulumi_aws as aws

from components.audit import Audit, AuditArgs
from components.database import Database, DatabaseArgs
from components.guardrails import Guardrails, GuardrailsArgs
from components.kms import KmsKey, KmsKeyArgs, logs_statement
from components.network import Network, NetworkArgs
from components.settings import Settings

settings = Settings.load()

# Every AWS resource goes through this provider: the region is pinned by the stack file, never by the environment.
provider = aws.Provider(
    "aws-pinned",
    region=settings.region,
    default_tags={"tags": settings.tags},
)
pinned = pulumi.ResourceOptions(providers={"aws": provider})

data_key = KmsKey("data", KmsKeyArgs(
    description=f"Cruddur {settings.stack}: database storage, Performance Insights, secrets and logs",
    alias=f"cruddur-{settings.stack}-data",
    statements=[logs_statement],
), opts=pinned)
network = Network("network", NetworkArgs(settings=settings, kms_key_arn=data_key.arn), opts=pinned)
database = Database("db", DatabaseArgs(settings=settings, network=network, kms_key_arn=data_key.arn), opts=pinned)
audit = Audit("audit", AuditArgs(settings=settings), opts=pinned)

pulumi.export("region", settings.region)
pulumi.export("connectionUrl", database.connection_url)
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
pulumi.export("operatorSecurityGroupId", network.operator_security_group.id)
pulumi.export("operatorEndpointId", network.operator_endpoint.id)
pulumi.export("operatorPolicyArn", network.operator_policy.arn)
if audit.trail is not None:
    pulumi.export("auditTrailArn", audit.trail.arn)
    pulumi.export("auditBucketName", audit.bucket.bucket)
    pulumi.export("auditLogGroupName", audit.log_group.name)
    pulumi.export("auditKmsKeyArn", audit.key.arn)
if audit.rds_protection is not None:
    pulumi.export("guardDutyDetectorId", audit.detector_id)

# Organization guardrails (SCPs): only when the stack owns its organization's policies (runbooks/guardrails.md).
if settings.organization.manage_guardrails:
    guardrails = Guardrails("guardrails", GuardrailsArgs(
        target_id=settings.organization.target_id,
        allowed_regions=settings.allowed_regions,
        break_glass_role_name=settings.organization.break_glass_role_name,
        name_prefix=f"cruddur-{settings.stack}",
        audit_bucket_pattern=f"{settings.name('trail')}*",
        exempt_region_services=settings.organization.exempt_region_services,
    ), opts=pinned)
    pulumi.export("guardrailPolicyIds", guardrails.policy_ids)
