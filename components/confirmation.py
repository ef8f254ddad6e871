"""``Confirmation``: Cruddur's sign-up. A Cognito user pool whose post-confirmation trigger records the user.

- the user pool: sign-in by username, email or ``preferred_username`` (aliases, unique and case-insensitive),
  required ``name``/``email``/``preferred_username``, a strong password policy, email verification, recovery by
  verified email, deletion protection in prod, and the post-confirmation trigger; a public app client (no secret,
  SRP + refresh only, no user-existence leaks) for the frontend;
- the function (``lambda/post_confirmation``): python3.13 on arm64, 5 s timeout (Cognito's limit), X-Ray tracing,
  JSON logs into a pre-created, encrypted log group with the stack's retention; in the private subnets with its own
  security group whose only egress is PostgreSQL to the database's security group (which gains the ingress);
- its role: ``AWSLambdaVPCAccessExecutionRole`` plus one inline policy: ``rds-db:connect`` as
  ``cruddur_confirmation`` on this instance only, and the two X-Ray write actions active tracing requires;
- its layers: psycopg2 and Powertools, each built from its pinned wheels by ``components.psycopg2_layer`` (cached by
  content); no public layer: code signing is enforced and a public layer is not signed by this stack's profile;
- code signing: the package and both layers are uploaded to the stack's artifacts bucket and signed
  (``CodeSigning.sign``); the function and the layers are created from the signed copies and the function carries
  the stack's code signing config (Enforce), so Lambda refuses anything this stack did not sign;
- a ``lambda.Permission`` letting this user pool (``source_arn``) invoke the function.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.aws_context import AwsContext
from components.code_signing import CodeSigning
from components.database import Database
from components.iam import service_trust_policy
from components.naming import Naming
from components.network import Network
from components.psycopg2_layer import LayerArchive
from components.settings import ConfirmationSettings

PROJECT_DIR = Path(__file__).resolve().parent.parent
FUNCTION_SOURCE = PROJECT_DIR / "lambda" / "post_confirmation"
# What the function's package holds: the handler and the RDS CA bundle it verifies the server with. Nothing else
# (psycopg2 and Powertools come from the stack's own signed layers, boto3 from the runtime).
PACKAGE_FILES = ("handler.py", "global-bundle.pem")
CA_BUNDLE = "global-bundle.pem"

DB_USER = "cruddur_confirmation"
RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
TIMEOUT_SECONDS = 5  # Cognito waits at most 5 s for a trigger
MEMORY_MB = 256  # more memory is more CPU: a faster cold start (TLS + token signing) for little cost

class PackagingError(pulumi.RunError):
    """The function's package cannot be assembled (a file it must ship is missing)."""


def function_archive(source_dir: Path = FUNCTION_SOURCE) -> pulumi.AssetArchive:
    """The function's package, file by file (so caches and test leftovers never ship)."""
    missing = [name for name in PACKAGE_FILES if not (source_dir / name).is_file()]
    if CA_BUNDLE in missing:
        raise PackagingError(
            f"{source_dir / CA_BUNDLE} is missing: the function verifies the database's TLS certificate "
            "(verify-full) against the Amazon RDS CA bundle it ships. Put AWS's global bundle there "
            "(https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem; see README, 'Sign-up "
            "confirmation') and run again.")
    if missing:
        raise PackagingError(f"the post-confirmation function's package lacks {', '.join(missing)} "
                             f"in {source_dir}")
    return pulumi.AssetArchive({name: pulumi.FileAsset(str(source_dir / name)) for name in PACKAGE_FILES})


def signed_layer(resource_name: str, layer_name: str, what: str, layer: LayerArchive, code_signing: CodeSigning,
                 part: str, opts: pulumi.ResourceOptions) -> aws.lambda_.LayerVersion:
    """A python3.13/arm64 layer created from the signed copy of ``layer``'s zip. ``source_code_hash`` (the unsigned
    zip's) records which build it is; a new build also means a new upload, signing job and key (code_signing.py)."""
    signed = code_signing.sign(part, pulumi.FileAsset(str(layer.path)))  # the zip, byte for byte
    return aws.lambda_.LayerVersion(
        resource_name,
        layer_name=layer_name,
        description=f"{what} for python3.13 arm64 (sha256 {layer.sha256_hex[:12]})",
        s3_bucket=signed.bucket,
        s3_key=signed.key,
        source_code_hash=layer.source_code_hash,
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        opts=opts,
    )


@dataclass
class ConfirmationArgs:
    confirmation: ConfirmationSettings
    naming: Naming
    aws_context: AwsContext
    log_retention_days: int  # the stack's, for the function's log group
    network: Network
    database: Database
    kms_key_arn: pulumi.Input[str]
    psycopg2_layer: LayerArchive  # build_layer()
    powertools_layer: LayerArchive  # build_powertools_layer(): shared by every function that logs with Powertools
    code_signing: CodeSigning  # the stack's: signs the package and the layers, and its config is enforced
    # Containers the function may run at once = connections it may hold (one each): its share of the instance
    # class's max_connections (components/connection_budget.py), so a sign-up burst never starves the app's pool.
    reserved_concurrency: int
    source_dir: Path = FUNCTION_SOURCE


class Confirmation(pulumi.ComponentResource):
    user_pool: aws.cognito.UserPool
    user_pool_client: aws.cognito.UserPoolClient
    function: aws.lambda_.Function
    role: aws.iam.Role
    security_group: aws.ec2.SecurityGroup
    log_group: aws.cloudwatch.LogGroup

    def __init__(self, name: str, args: ConfirmationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:confirmation:Confirmation", name, None, opts)
        conf, net, db, ctx = args.confirmation, args.network, args.database, args.aws_context
        name_of = args.naming.physical_name
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        function_name = name_of("post-confirmation")
        code = function_archive(args.source_dir)

        # -- network: own SG; its only egress is PostgreSQL to the database SG, which gains the matching ingress --
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=net.vpc.id,
            description="Cruddur post-confirmation Lambda: egress to the database port only",
            tags={"Name": function_name},
            opts=child,
        )
        db.allow_from("confirmation", self.security_group, "the Cognito post-confirmation Lambda")

        # -- identity: VPC access execution role + rds-db:connect as cruddur_confirmation on this instance ---------
        self.role = aws.iam.Role(
            f"{name}-role",
            name=function_name,
            assume_role_policy=service_trust_policy("lambda.amazonaws.com", invoke),
            description="Cruddur post-confirmation Lambda: VPC access, logs, X-Ray, IAM auth as cruddur_confirmation",
            opts=child,
        )
        vpc_access = aws.iam.RolePolicyAttachment(
            f"{name}-vpc-access",
            role=self.role.name,
            policy_arn=ctx.managed_policy_arn("service-role/AWSLambdaVPCAccessExecutionRole"),
            opts=child,
        )
        db_user_arn = pulumi.Output.all(ctx.partition, ctx.region, ctx.account_id, db.instance.resource_id).apply(
            lambda v: f"arn:{v[0]}:rds-db:{v[1]}:{v[2]}:dbuser:{v[3]}/{DB_USER}")
        inline = aws.iam.get_policy_document_output(statements=[
            {"sid": "ConnectAsConfirmationRole", "actions": ["rds-db:connect"], "resources": [db_user_arn]},
            # Active tracing: the function's role must be able to send segments (X-Ray has no resource scoping).
            {"sid": "XRayTracing", "actions": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
             "resources": ["*"]},
        ], opts=invoke)
        inline_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=inline.json,
            opts=child,
        )

        # -- logs: created before the function so retention and encryption apply from the first line ------------
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=child,
        )

        # -- layers: the stack's own, each created from its signed copy --------------------------------------
        self.psycopg2_layer = signed_layer(f"{name}-psycopg2", name_of("psycopg2"), "psycopg2-binary",
                                           args.psycopg2_layer, args.code_signing, "psycopg2", child)
        self.powertools_layer = signed_layer(f"{name}-powertools", name_of("powertools"), "aws-lambda-powertools",
                                             args.powertools_layer, args.code_signing, "powertools", child)
        signed = args.code_signing.sign("confirmation", code)

        # -- the function --------------------------------------------------------------------------------------
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=function_name,
            description="Cognito post-confirmation: records the confirmed user in the users table",
            role=self.role.arn,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler="handler.handler",
            s3_bucket=signed.bucket,
            s3_key=signed.key,
            code_signing_config_arn=args.code_signing.config_arn,
            timeout=TIMEOUT_SECONDS,
            memory_size=MEMORY_MB,
            # Beyond the budget Lambda throttles; Cognito retries a throttled trigger, so nobody is lost.
            reserved_concurrent_executions=args.reserved_concurrency,
            # Synchronous only: Cognito invokes it RequestResponse and reports a failure to the user, who retries;
            # there is no asynchronous invocation, so no on-failure destination is declared.
            kms_key_arn=args.kms_key_arn,  # the environment is encrypted with the stack's data key
            layers=[self.psycopg2_layer.arn, self.powertools_layer.arn],
            environment={"variables": {
                "DB_HOST": db.instance.address,
                "DB_PORT": db.instance.port.apply(str),
                "DB_NAME": db.db_name,
                "DB_USER": DB_USER,
                "POWERTOOLS_SERVICE_NAME": "cruddur-post-confirmation",
                "POWERTOOLS_LOG_LEVEL": "INFO",
            }},
            vpc_config={"subnet_ids": net.private_subnet_ids, "security_group_ids": [self.security_group.id]},
            tracing_config={"mode": "Active"},
            logging_config={"log_format": "JSON", "log_group": self.log_group.name,
                            "application_log_level": "INFO", "system_log_level": "WARN"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, vpc_access, inline_policy]),
        )

        # -- the user pool -------------------------------------------------------------------------------------
        def required(attribute: str, max_length: int) -> dict:
            return {"name": attribute, "attribute_data_type": "String", "required": True, "mutable": True,
                    "developer_only_attribute": False,
                    "string_attribute_constraints": {"min_length": "1", "max_length": str(max_length)}}

        self.user_pool = aws.cognito.UserPool(
            f"{name}-pool",
            name=name_of("users"),
            alias_attributes=["email", "preferred_username"],
            username_configuration={"case_sensitive": False},
            auto_verified_attributes=["email"],
            schemas=[required("email", 254), required("name", 2048), required("preferred_username", 128)],
            password_policy={
                "minimum_length": 12,
                "require_lowercase": True,
                "require_uppercase": True,
                "require_numbers": True,
                "require_symbols": True,
                "temporary_password_validity_days": 3,
            },
            verification_message_template={"default_email_option": "CONFIRM_WITH_CODE"},
            account_recovery_setting={"recovery_mechanisms": [{"name": "verified_email", "priority": 1}]},
            admin_create_user_config={"allow_admin_create_user_only": False},
            deletion_protection="ACTIVE" if conf.user_pool_deletion_protection else "INACTIVE",
            lambda_config={"post_confirmation": self.function.arn},
            opts=args.naming.stateful(child),
        )
        aws.lambda_.Permission(
            f"{name}-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="cognito-idp.amazonaws.com",
            source_arn=self.user_pool.arn,
            opts=child,
        )
        self.user_pool_client = aws.cognito.UserPoolClient(
            f"{name}-client",
            name=name_of("web"),
            user_pool_id=self.user_pool.id,
            generate_secret=False,
            explicit_auth_flows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            prevent_user_existence_errors="ENABLED",
            enable_token_revocation=True,
            supported_identity_providers=["COGNITO"],
            opts=child,
        )

        self.register_outputs({
            "user_pool_id": self.user_pool.id,
            "user_pool_arn": self.user_pool.arn,
            "user_pool_client_id": self.user_pool_client.id,
            "function_name": self.function.name,
        })
