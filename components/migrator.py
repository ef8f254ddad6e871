"""``Migrator``: ``pulumi up`` migrates the database itself, from inside the VPC, with no operator tunnel.

- the function (``lambda/migrator``, a ``Function``: signed, encrypted logs and environment, tracing): the
  psycopg2, yoyo and Powertools layers; its environment holds names and ARNs, never a password; in the private
  subnets with its own security group, whose only egress is PostgreSQL to the database (``Database.allow_from``)
  and HTTPS to the Secrets Manager VPC endpoint (``SecretsEndpoint.allow_from``);
- its package: ``handler.py``, ``master_login.py`` and ``yoyo_one_transaction.py`` (from ``lambda/shared``,
  ``components/lambda_shared.py``: the login through a rotation of the master secret; each migration applied in one
  transaction with its yoyo records, the code ``cruddur db migrate`` uses too), the RDS CA bundle
  (``global-bundle.pem``, verify-full) and ``migrations/*.sql`` (every file of ``sql/migrations``): the schema
  ships with the function, so the function version changes when a migration does;
- its role's inline policy: ``secretsmanager:GetSecretValue`` on exactly the master and the app secret, and
  ``kms:Decrypt`` on the stack's key only through Secrets Manager in this region (``kms:ViaService``). (The
  environment needs no ``kms:Decrypt`` on the role: Lambda decrypts it through the KMS grant it creates for the
  execution role when the deployer, whom the key policy lets use the key through IAM, creates the function);
- the run: an ``aws.lambda_.Invocation`` of the published version, with the event
  ``{"migrations_sha256": ..., "app_secret_version": ...}``. Pulumi invokes synchronously (RequestResponse) and
  fails ``pulumi up`` when the handler raises; there is no asynchronous invocation and so no async destination.
  ``triggers`` hold the migrations' hash, the function version, the app secret's version and the instance's
  resource id (a replaced instance is empty), so ``pulumi up`` re-runs it exactly when one of those changes, and
  never for an unchanged migration set.

The handler: reads the master secret, applies the pending migrations with yoyo (its lock makes a
concurrent run wait), sets ``APP_ROLE``'s password from the app secret, and raises on any failure.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.app_access import APP_ROLE, AppAccess
from components.confirmation import PackagingError
from components.database import Database
from components.function import Function, FunctionArgs, Platform
from components.lambda_shared import SHARED_SOURCE, master_login_assets, yoyo_one_transaction_assets
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
            "see docs/functions.md) and run again.")
    migrations = sorted((p for p in migrations_dir.glob("*.sql") if p.is_file()), key=lambda p: p.name)
    if not migrations:
        raise PackagingError(f"no migrations (*.sql) in {migrations_dir}: the migrator has nothing to apply")
    assets: dict = {"handler.py": pulumi.FileAsset(str(handler)), CA_BUNDLE: pulumi.FileAsset(str(ca_bundle)),
                    **master_login_assets(shared_dir), **yoyo_one_transaction_assets(shared_dir)}
    assets.update({f"migrations/{p.name}": pulumi.FileAsset(str(p)) for p in migrations})
    return pulumi.AssetArchive(assets)


@dataclass
class MigratorArgs:
    platform: Platform  # naming, data key, code signing, log retention, private subnets, layers
    database: Database
    db_name: str
    app_access: AppAccess  # the app secret (ARN, version) and the role whose password the migrator sets
    secrets_endpoint: SecretsEndpoint  # the function's only way to Secrets Manager (no NAT)
    # What the package is made of; None: this repo's (the module constants, read when the component is built).
    source_dir: Path | None = None
    ca_bundle: Path | None = None
    migrations_dir: Path | None = None


class Migrator(pulumi.ComponentResource):
    function: Function
    invocation: aws.lambda_.Invocation
    migrations_sha256: str

    def __init__(self, name: str, args: MigratorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:migrator:Migrator", name, None, opts)
        platform, db, app = args.platform, args.database, args.app_access
        region = platform.aws_context.region
        migrations_dir = args.migrations_dir or MIGRATIONS_DIR
        code = migrator_archive(args.source_dir or FUNCTION_SOURCE, args.ca_bundle or CA_BUNDLE_SOURCE,
                                migrations_dir)
        self.migrations_sha256 = migrations_sha256(migrations_dir)

        # Published, so each deploy of new code or migrations gets a version of its own; in the private subnets,
        # egress PostgreSQL to the database and HTTPS to the Secrets Manager endpoint only.
        self.function = Function(name, FunctionArgs(
            platform=platform,
            part="migrator",
            description="Applies sql/migrations and sets the app role's password; invoked by pulumi up",
            role_description="Cruddur migrator Lambda: VPC access, logs, X-Ray, read the master and app secrets",
            code=code,
            layers=[platform.layer("psycopg2"), platform.layer("yoyo"), platform.layer("powertools")],
            environment={
                "MASTER_SECRET_ARN": db.secret.arn,
                "APP_SECRET_ARN": app.secret.arn,
                "DB_HOST": db.instance.address,
                "DB_PORT": db.instance.port.apply(str),
                "DB_NAME": args.db_name,
                "APP_ROLE": APP_ROLE,
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
            statements=[
                {"sid": "ReadTheMasterAndAppSecrets", "actions": ["secretsmanager:GetSecretValue"],
                 "resources": [db.secret.arn, app.secret.arn]},
                {"sid": "DecryptSecretsThroughSecretsManager", "actions": ["kms:Decrypt"],
                 "resources": [platform.kms_key_arn],
                 "conditions": [{"test": "StringEquals", "variable": "kms:ViaService",
                                 "values": [f"secretsmanager.{region}.amazonaws.com"]}]},
            ],
            vpc=True,
            security_group_description="Cruddur migrator Lambda: egress to the database port and the Secrets "
                                       "Manager endpoint only",
            reaches=[(db.allow_from, "the migrator Lambda (pulumi up)"),
                     (args.secrets_endpoint.allow_from, "the migrator Lambda")],
            timeout=TIMEOUT_SECONDS,
            memory_size=MEMORY_MB,
            publish=True,
            # Synchronous only: its one caller is the aws.lambda_.Invocation below (RequestResponse; a failure fails
            # `pulumi up`), so there is no asynchronous invocation and no on-failure destination to declare.
        ), opts=pulumi.ResourceOptions(parent=self))

        # -- the run: synchronous (RequestResponse) through Pulumi; a raised error fails `pulumi up` ------------
        event = pulumi.Output.json_dumps({
            "migrations_sha256": self.migrations_sha256,
            "app_secret_version": app.secret_version.version_id,
        })
        self.invocation = aws.lambda_.Invocation(
            f"{name}-run",
            function_name=self.function.name,
            qualifier=self.function.function.version,
            input=event,
            triggers={
                "migrations_sha256": self.migrations_sha256,
                "function_version": self.function.function.version,
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
