"""``Confirmation``: Cruddur's sign-up. A Cognito user pool whose post-confirmation trigger records the user.

- the user pool: sign-in by username, email or ``preferred_username`` (aliases, unique and case-insensitive),
  required ``name``/``email``/``preferred_username``, a strong password policy, email verification, recovery by
  verified email, deletion protection in prod, and the post-confirmation trigger; a public app client (no secret,
  SRP + refresh only, no user-existence leaks) for the frontend;
- the function (``lambda/post_confirmation``, a ``Function``: signed, encrypted logs and environment, tracing):
  5 s timeout (Cognito's limit), the psycopg2 and Powertools layers, in the private subnets with its own security
  group whose only egress is PostgreSQL to the database's security group (which gains the ingress); its reserved
  concurrency is its share of the instance's connections (``connection_budget``);
- its role's inline policy: ``rds-db:connect`` as ``cruddur_confirmation`` on this instance only (IAM database
  authentication: there is no password to read, and the token is signed inside the function, so it calls no AWS
  API from the VPC); with an RDS Proxy (``rdsProxy``) also through the proxy, which it then connects to
  (``DB_HOST``), verifying it against ``rds-proxy-bundle.pem`` (the RDS bundle plus the Amazon roots that sign the
  proxy's certificate);
- a ``lambda.Permission`` letting this user pool (``source_arn``) invoke the function.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.database import Database
from components.function import Function, FunctionArgs, Platform
from components.packaging import CA_BUNDLE, PROJECT_DIR, PackagingError
from components.rds_proxy import RdsProxy
from components.settings import ConfirmationSettings

FUNCTION_SOURCE = PROJECT_DIR / "lambda" / "post_confirmation"
# What the function's package holds: the handler and the RDS CA bundle it verifies the server with. Nothing else
# (psycopg2 and Powertools come from the stack's own signed layers, boto3 from the runtime).
PACKAGE_FILES = ("handler.py", CA_BUNDLE)
# With an RDS Proxy, also the bundle that verifies it: the proxy's certificate comes from ACM and chains to the Amazon
# Trust Services roots, which the RDS bundle does not hold (the file is the RDS bundle plus Amazon Root CA 1-4).
PROXY_CA_BUNDLE = "rds-proxy-bundle.pem"
LAMBDA_TASK_ROOT = "/var/task"  # where Lambda unpacks the package

DB_USER = "cruddur_confirmation"
TIMEOUT_SECONDS = 5  # Cognito waits at most 5 s for a trigger
MEMORY_MB = 256  # more memory is more CPU: a faster cold start (TLS + token signing) for little cost


def function_archive(source_dir: Path = FUNCTION_SOURCE, proxy: bool = False) -> pulumi.AssetArchive:
    """The function's package, file by file (so caches and test leftovers never ship); with ``proxy``, also the
    bundle that verifies an RDS Proxy (``PROXY_CA_BUNDLE``)."""
    files = PACKAGE_FILES + ((PROXY_CA_BUNDLE,) if proxy else ())
    missing = [name for name in files if not (source_dir / name).is_file()]
    if CA_BUNDLE in missing:
        raise PackagingError(
            f"{source_dir / CA_BUNDLE} is missing: the function verifies the database's TLS certificate "
            "(verify-full) against the Amazon RDS CA bundle it ships. Put AWS's global bundle there "
            "(https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem; see docs/functions.md) and run "
            "again.")
    if missing:
        raise PackagingError(f"the post-confirmation function's package lacks {', '.join(missing)} "
                             f"in {source_dir}")
    return pulumi.AssetArchive({name: pulumi.FileAsset(str(source_dir / name)) for name in files})


@dataclass
class ConfirmationArgs:
    confirmation: ConfirmationSettings
    platform: Platform  # naming, data key, code signing, log retention, private subnets, layers
    database: Database
    # Containers the function may run at once = connections it may hold (one each): its share of the instance
    # class's max_connections (components/connection_budget.py), so a sign-up burst never starves the app's pool.
    reserved_concurrency: int
    source_dir: Path = FUNCTION_SOURCE
    # rdsProxy: the function connects through the proxy (IAM auth, end to end) instead of to the instance.
    proxy: RdsProxy | None = None


class Confirmation(pulumi.ComponentResource):
    user_pool: aws.cognito.UserPool
    user_pool_client: aws.cognito.UserPoolClient
    function: Function

    def __init__(self, name: str, args: ConfirmationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:confirmation:Confirmation", name, None, opts)
        conf, db, platform = args.confirmation, args.database, args.platform
        ctx = platform.aws_context
        name_of = platform.naming.physical_name
        child = pulumi.ResourceOptions(parent=self)

        db_user_arn = pulumi.Output.all(ctx.partition, ctx.region, ctx.account_id, db.instance.resource_id).apply(
            lambda v: f"arn:{v[0]}:rds-db:{v[1]}:{v[2]}:dbuser:{v[3]}/{DB_USER}")
        # With the proxy, the function logs in through it (its token signed for the proxy's endpoint) and keeps its
        # direct path too, so that turning the proxy on or off never cuts a warm container off (runbooks/rds-proxy.md).
        proxy = args.proxy
        connect_arns = [db_user_arn] if proxy is None else [db_user_arn, proxy.connect_arn(DB_USER)]
        reaches = [(db.allow_from, "the Cognito post-confirmation Lambda")]
        through_proxy: dict[str, pulumi.Input[str]] = {}
        if proxy is not None:
            reaches.append((proxy.allow_from, "the Cognito post-confirmation Lambda"))
            through_proxy = {"DB_HOST": proxy.endpoint, "DB_SSLROOTCERT": f"{LAMBDA_TASK_ROOT}/{PROXY_CA_BUNDLE}"}
        # In the private subnets; its only egress is PostgreSQL to the database (IAM auth: no secret to read, and
        # the token is signed locally, so the function calls no AWS API and the VPC needs no endpoint for it).
        self.function = Function(name, FunctionArgs(
            platform=platform,
            part="post-confirmation",
            sign_part="confirmation",
            description="Cognito post-confirmation: records the confirmed user in the users table",
            role_description="Cruddur post-confirmation Lambda: VPC access, logs, X-Ray, IAM auth as "
                             "cruddur_confirmation",
            code=function_archive(args.source_dir, proxy=proxy is not None),
            layers=[platform.layer("psycopg2"), platform.layer("powertools")],
            environment={
                "DB_HOST": db.instance.address,
                "DB_PORT": db.instance.port.apply(str),
                "DB_NAME": db.db_name,
                "DB_USER": DB_USER,
                "POWERTOOLS_SERVICE_NAME": "cruddur-post-confirmation",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **through_proxy,
            },
            statements=[{"sid": "ConnectAsConfirmationRole", "actions": ["rds-db:connect"],
                         "resources": connect_arns}],
            vpc=True,
            security_group_description="Cruddur post-confirmation Lambda: egress to the database port only",
            reaches=reaches,
            admission_part="confirmation",
            timeout=TIMEOUT_SECONDS,
            memory_size=MEMORY_MB,
            # Beyond the budget Lambda throttles; Cognito retries a throttled trigger, so nobody is lost.
            reserved_concurrency=args.reserved_concurrency,
            # Synchronous only: Cognito invokes it RequestResponse and reports a failure to the user, who retries;
            # there is no asynchronous invocation, so no on-failure destination is declared.
        ), opts=child)

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
            opts=platform.naming.stateful(child),
        )
        self.function.allow_invoke("cognito-idp.amazonaws.com", self.user_pool.arn)
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
