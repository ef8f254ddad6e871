"""``Migrator``: ``pulumi up`` migrates the database itself, from inside the VPC, with no operator tunnel.

- the function (``lambda/migrator``): python3.13 on arm64, the psycopg2, yoyo and Powertools layers (the stack's
  own; the package and the yoyo layer are signed by ``CodeSigning`` and the code signing config is enforced), X-Ray
  tracing, JSON logs into a pre-created log group encrypted with the stack's key and kept for the stack's log
  retention; its environment (names and ARNs, never a password) encrypted with the stack's key; in the private
  subnets with its own security group, whose only egress is PostgreSQL to the database (``Database.allow_from``)
  and HTTPS to the Secrets Manager VPC endpoint (``SecretsEndpoint.allow_from``);
- its package: ``handler.py``, ``master_login.py`` and ``yoyo_one_transaction.py`` (from ``lambda/shared``,
  ``components/lambda_shared.py``: the login through a rotation of the master secret; each migration applied in one
  transaction with its yoyo records, the code ``cruddur db migrate`` uses too), the RDS CA bundle
  (``global-bundle.pem``, verify-full) and ``migrations/*.sql`` (every file of ``sql/migrations``): the schema
  ships with the function, so the function version changes when a migration does;
- its role: ``AWSLambdaVPCAccessExecutionRole`` (ENIs, and logs as the confirmation function has it) plus one
  inline policy: ``secretsmanager:GetSecretValue`` on exactly the master and the app secret, ``kms:Decrypt`` on the
  stack's key only through Secrets Manager in this region (``kms:ViaService``), and the two X-Ray write actions.
  (The environment needs no ``kms:Decrypt`` on the role: Lambda decrypts it through the KMS grant it creates for
  the execution role when the deployer, whom the key policy lets use the key through IAM, creates the function);
- the run: an ``aws.lambda_.Invocation`` of the published version, with the event
  ``{"migrations_sha256": ..., "app_secret_version": ...}``. Pulumi invokes synchronously (RequestResponse) and
  fails ``pulumi up`` when the handler raises; there is no asynchronous invocation and so no async destination.
  ``triggers`` hold the migrations' hash, the function version, the app secret's version and the instance's
  resource id (a replaced instance is empty), so ``pulumi up`` re-runs it exactly when one of those changes, and
  never for an unchanged migration set.

The handler (E1's contract): reads the master secret, applies the pending migrations with yoyo (its lock makes a
concurrent run wait), sets ``APP_ROLE``'s password from the app secret, and raises on any failure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.app_access import APP_ROLE, AppAccess
from components.aws_context import AwsContext
from components.code_signing import CodeSigning
from components.confirmation import ARCHITECTURE, RUNTIME, PackagingError, signed_layer
from components.database import Database
from components.iam import service_trust_policy
from components.lambda_shared import SHARED_SOURCE, master_login_assets, yoyo_one_transaction_assets
from components.naming import Naming
from components.psycopg2_layer import LayerArchive
from components.secrets_endpoint import SecretsEndpoint

PROJECT_DIR = Path(__file__).resolve().parent.parent
FUNCTION_SOURCE = PROJECT_DIR / "lambda" / "migrator"
CA_BUNDLE_SOURCE = PROJECT_DIR / "lambda" / "post_confirmation" / "global-bundle.pem"
MIGRATIONS_DIR = PROJECT_DIR / "sql" / "migrations"
CA_BUNDLE = "global-bundle.pem"

# Long enough for a migration that rewrites a big table or waits for yoyo's lock behind a concurrent operator run
# (ops/migrations.py waits 120 s), well under Lambda's 900 s ceiling; Pulumi waits for the synchronous result.
TIMEOUT_SECONDS = 300
MEMORY_MB = 256
SERVICE_NAME = "cruddur-migrator"


def migrations_sha256(migrations_dir: Path) -> str:
    """The migration set's fingerprint: sha256 over each ``*.sql`` file, sorted by name, as
    ``name`` NUL ``content`` NUL (bytes as on disk). Pure Python, so ``pulumi preview`` knows it."""
    digest = hashlib.sha256()
    for path in sorted((p for p in migrations_dir.glob("*.sql") if p.is_file()), key=lambda p: p.name):
        digest.update(path.name.encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def migrator_archive(source_dir: Path, ca_bundle: Path, migrations_dir: Path,
                     shared_dir: Path = SHARED_SOURCE) -> pulumi.AssetArchive:
    """The function's package, file by file: handler, master_login, yoyo_one_transaction, CA bundle, migrations (no
    caches, no test leftovers)."""
    handler = source_dir / "handler.py"
    if not handler.is_file():
        raise PackagingError(f"{handler} is missing: the migrator function's package needs its handler")
    if not ca_bundle.is_file():
        raise PackagingError(
            f"{ca_bundle} is missing: the migrator verifies the database's TLS certificate (verify-full) against "
            "the Amazon RDS CA bundle it ships (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem; "
            "see README, 'Sign-up confirmation') and run again.")
    migrations = sorted((p for p in migrations_dir.glob("*.sql") if p.is_file()), key=lambda p: p.name)
    if not migrations:
        raise PackagingError(f"no migrations (*.sql) in {migrations_dir}: the migrator has nothing to apply")
    assets: dict = {"handler.py": pulumi.FileAsset(str(handler)), CA_BUNDLE: pulumi.FileAsset(str(ca_bundle)),
                    **master_login_assets(shared_dir), **yoyo_one_transaction_assets(shared_dir)}
    assets.update({f"migrations/{p.name}": pulumi.FileAsset(str(p)) for p in migrations})
    return pulumi.AssetArchive(assets)


@dataclass
class MigratorArgs:
    naming: Naming
    aws_context: AwsContext
    database: Database
    db_name: str
    app_access: AppAccess  # the app secret (ARN, version) and the role whose password the migrator sets
    secrets_endpoint: SecretsEndpoint  # the function's only way to Secrets Manager (no NAT)
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    kms_key_arn: pulumi.Input[str]
    log_retention_days: int
    psycopg2_layer_arn: pulumi.Input[str]  # shared with the confirmation function (same pinned wheel)
    yoyo_layer: LayerArchive  # build_migrator_layer()
    powertools_layer_arn: pulumi.Input[str]  # the confirmation function's (the stack's own, signed)
    code_signing: CodeSigning
    # What the package is made of; None: this repo's (the module constants, read when the component is built).
    source_dir: Path | None = None
    ca_bundle: Path | None = None
    migrations_dir: Path | None = None


class Migrator(pulumi.ComponentResource):
    function: aws.lambda_.Function
    role: aws.iam.Role
    security_group: aws.ec2.SecurityGroup
    log_group: aws.cloudwatch.LogGroup
    invocation: aws.lambda_.Invocation
    migrations_sha256: str

    def __init__(self, name: str, args: MigratorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:migrator:Migrator", name, None, opts)
        naming, db, app = args.naming, args.database, args.app_access
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        region = args.aws_context.region
        function_name = naming.physical_name("migrator")
        migrations_dir = args.migrations_dir or MIGRATIONS_DIR
        code = migrator_archive(args.source_dir or FUNCTION_SOURCE, args.ca_bundle or CA_BUNDLE_SOURCE,
                                migrations_dir)
        self.migrations_sha256 = migrations_sha256(migrations_dir)

        # -- network: own SG; egress PostgreSQL to the database and HTTPS to the Secrets Manager endpoint only --
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="Cruddur migrator Lambda: egress to the database port and the Secrets Manager endpoint only",
            tags={"Name": function_name},
            opts=child,
        )
        db.allow_from("migrator", self.security_group, "the migrator Lambda (pulumi up)")
        args.secrets_endpoint.allow_from("migrator", self.security_group, "the migrator Lambda")

        # -- identity ---------------------------------------------------------------------------------------
        self.role = aws.iam.Role(
            f"{name}-role",
            name=function_name,
            assume_role_policy=service_trust_policy("lambda.amazonaws.com", invoke),
            description="Cruddur migrator Lambda: VPC access, logs, X-Ray, read the master and app secrets",
            opts=child,
        )
        vpc_access = aws.iam.RolePolicyAttachment(
            f"{name}-vpc-access",
            role=self.role.name,
            policy_arn=args.aws_context.managed_policy_arn("service-role/AWSLambdaVPCAccessExecutionRole"),
            opts=child,
        )
        inline = aws.iam.get_policy_document_output(statements=[
            {"sid": "ReadTheMasterAndAppSecrets", "actions": ["secretsmanager:GetSecretValue"],
             "resources": [db.secret.arn, app.secret.arn]},
            {"sid": "DecryptSecretsThroughSecretsManager", "actions": ["kms:Decrypt"],
             "resources": [args.kms_key_arn],
             "conditions": [{"test": "StringEquals", "variable": "kms:ViaService",
                             "values": [f"secretsmanager.{region}.amazonaws.com"]}]},
            # Active tracing: the function's role must be able to send segments (X-Ray has no resource scoping).
            {"sid": "XRayTracing", "actions": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
             "resources": ["*"]},
        ], opts=invoke)
        inline_policy = aws.iam.RolePolicy(f"{name}-policy", role=self.role.id, policy=inline.json, opts=child)

        # -- logs: created before the function so retention and encryption apply from the first line ----------
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=child,
        )

        # -- layers ------------------------------------------------------------------------------------------
        self.yoyo_layer = signed_layer(f"{name}-yoyo", naming.physical_name("yoyo"), "yoyo-migrations",
                                       args.yoyo_layer, args.code_signing, "yoyo", child)
        signed = args.code_signing.sign("migrator", code)

        # -- the function: published, so each deploy of new code or migrations gets a version of its own --------
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=function_name,
            description="Applies sql/migrations and sets the app role's password; invoked by pulumi up",
            role=self.role.arn,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler="handler.handler",
            s3_bucket=signed.bucket,
            s3_key=signed.key,
            code_signing_config_arn=args.code_signing.config_arn,
            publish=True,
            timeout=TIMEOUT_SECONDS,
            memory_size=MEMORY_MB,
            layers=[args.psycopg2_layer_arn, self.yoyo_layer.arn, args.powertools_layer_arn],
            # Synchronous only: its one caller is the aws.lambda_.Invocation below (RequestResponse; a failure fails
            # `pulumi up`), so there is no asynchronous invocation and no on-failure destination to declare.
            kms_key_arn=args.kms_key_arn,  # the environment is encrypted with the stack's data key
            environment={"variables": {
                "MASTER_SECRET_ARN": db.secret.arn,
                "APP_SECRET_ARN": app.secret.arn,
                "DB_HOST": db.instance.address,
                "DB_PORT": db.instance.port.apply(str),
                "DB_NAME": args.db_name,
                "APP_ROLE": APP_ROLE,
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_LOG_LEVEL": "INFO",
            }},
            vpc_config={"subnet_ids": args.subnet_ids, "security_group_ids": [self.security_group.id]},
            tracing_config={"mode": "Active"},
            logging_config={"log_format": "JSON", "log_group": self.log_group.name,
                            "application_log_level": "INFO", "system_log_level": "WARN"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, vpc_access, inline_policy]),
        )

        # -- the run: synchronous (RequestResponse) through Pulumi; a raised error fails `pulumi up` ------------
        event = pulumi.Output.json_dumps({
            "migrations_sha256": self.migrations_sha256,
            "app_secret_version": app.secret_version.version_id,
        })
        self.invocation = aws.lambda_.Invocation(
            f"{name}-run",
            function_name=self.function.name,
            qualifier=self.function.version,
            input=event,
            triggers={
                "migrations_sha256": self.migrations_sha256,
                "function_version": self.function.version,
                "app_secret_version": app.secret_version.version_id,
                # a replaced instance (same name, new resource id) is an empty database: migrate it
                "db_resource_id": db.instance.resource_id,
            },
            # The instance, the master secret and the database's SG rules (all of `db`), the app secret's value,
            # and the endpoint with its SG rules: everything the handler reaches must exist first.
            # The handler returns a summary (never a secret); its result is kept secret in state all the same.
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"], depends_on=[
                db.instance, db, app.secret_version, args.secrets_endpoint]),
        )

        self.register_outputs({"function_name": self.function.name, "migrations_sha256": self.migrations_sha256})
