"""``Migrator``: ``pulumi up`` migrates the database itself, with no operator tunnel and no VPC endpoint.

One package (``lambda/migrator``: ``handler.py``, ``db.py``, ``common.py``, ``master_login.py`` and
``yoyo_one_transaction.py`` from ``lambda/shared``, the RDS CA bundle and every ``sql/migrations/*.sql``: the schema
ships with the code, so a changed migration is a new version), signed once and run as two ``Function``s:

- the migrator (``cruddur-<stack>-migrator``, ``handler.handler``), OUTSIDE the VPC: reads the master secret (its
  AWSCURRENT, AWSPENDING and AWSPREVIOUS versions, for a rotation in flight) and the app secret, and invokes the
  database function synchronously with them. Its role's inline policy: ``secretsmanager:GetSecretValue`` on exactly
  those two secrets, ``kms:Decrypt`` on the data key only through Secrets Manager in this region, and
  ``lambda:InvokeFunction`` on the database function's published version only;
- the database function (``cruddur-<stack>-migrator-db``, ``handler.db_handler``), in the private subnets with its
  own security group whose only egress is PostgreSQL to the database (``Database.allow_from``): logs in as the
  master through the candidates (the next one on a refused password only), applies the pending migrations with
  yoyo (each in one transaction with its records; yoyo's lock makes a concurrent run wait) and sets ``APP_ROLE``'s
  password. It calls no AWS API, so its role has only ``AWSLambdaVPCAccessExecutionRole``. The credentials travel
  in the invocation's payload: Lambda does not log payloads, neither function logs one, and no answer carries one;
- the run: an ``aws.lambda_.Invocation`` of the migrator's published version with the event
  ``{"migrations_sha256": ..., "app_secret_version": ...}``. Pulumi invokes synchronously (RequestResponse) and
  fails ``pulumi up`` with the database function's one-line error when anything fails; there is no asynchronous
  invocation and so no async destination. ``triggers`` hold the migrations' hash, both functions' versions, the app
  secret's version and the instance's resource id (a replaced instance is empty), so ``pulumi up`` re-runs it exactly
  when one of those changes, and never for an unchanged migration set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.app_access import APP_ROLE, AppAccess
from components.database import Database
from components.function import ONE_AT_A_TIME, Function, FunctionArgs, Platform
from components.lambda_shared import SHARED_SOURCE, master_login_assets, yoyo_one_transaction_assets
from components.packaging import CA_BUNDLE, CA_BUNDLE_SOURCE, MIGRATIONS_DIR, PROJECT_DIR, PackagingError, package_files

FUNCTION_SOURCE = PROJECT_DIR / "lambda" / "migrator"

# Long enough for a migration that rewrites a big table or waits for yoyo's lock behind a concurrent operator run
# (ops/migrations.py waits 120 s), well under Lambda's 900 s ceiling; Pulumi waits for the synchronous result.
DB_TIMEOUT_SECONDS = 300
TIMEOUT_SECONDS = 360  # the migrator waits for its database function, so it outlives it
MEMORY_MB = 256
SERVICE_NAME = "cruddur-migrator"
# Beside handler.py in the package: the database function's side (db.py) and what both sides share (common.py).
SIBLINGS = ("db.py", "common.py")


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
    """The package both migrator functions run from, file by file: handler (outside the VPC), db and common (the
    database side and what both share), master_login, yoyo_one_transaction, CA bundle, migrations (no caches, no test
    leftovers)."""
    code = {name: source_dir / name for name in ("handler.py", *SIBLINGS)}
    assets = package_files({**code, CA_BUNDLE: ca_bundle}, {
        **dict.fromkeys(code, "the migrator's package needs it (both functions run from it)"),
        CA_BUNDLE: "the migrator verifies the database's TLS certificate (verify-full) against the Amazon RDS CA "
                   "bundle it ships (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem; see "
                   "docs/functions.md) and run again."})
    migrations = sorted((p for p in migrations_dir.glob("*.sql") if p.is_file()), key=lambda p: p.name)
    if not migrations:
        raise PackagingError(f"no migrations (*.sql) in {migrations_dir}: the migrator has nothing to apply")
    assets |= {**master_login_assets(shared_dir), **yoyo_one_transaction_assets(shared_dir)}
    assets.update({f"migrations/{p.name}": pulumi.FileAsset(str(p)) for p in migrations})
    return pulumi.AssetArchive(assets)


@dataclass
class MigratorArgs:
    platform: Platform  # naming, data key, code signing, log retention, private subnets, layers
    database: Database
    db_name: str
    app_access: AppAccess  # the app secret (ARN, version) and the role whose password the migrator sets
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

        package = platform.code_signing.sign("migrator", code)  # one package, two functions
        # The database function: in the private subnets, PostgreSQL only (no AWS call, no AWS permission beyond its
        # network interfaces and logs); published, so the migration run names the exact code that migrates.
        self.db_function = Function(f"{name}-db", FunctionArgs(
            platform=platform,
            part="migrator-db",
            description="Migrations, database side: applies sql/migrations and sets the app role's password "
                        "(invoked by the migrator only)",
            role_description="Cruddur migrator, database side: VPC access and logs only",
            code=package,
            handler="handler.db_handler",
            layers=[platform.layer("psycopg2"), platform.layer("yoyo"), platform.layer("powertools")],
            environment={
                "DB_HOST": db.instance.address,
                "DB_PORT": db.instance.port.apply(str),
                "DB_NAME": args.db_name,
                "APP_ROLE": APP_ROLE,
                "POWERTOOLS_SERVICE_NAME": f"{SERVICE_NAME}-db",
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
            vpc=True,
            security_group_description="Cruddur migrator, database side: egress to the database port only",
            reaches=[(db.allow_from, "the migrator Lambda (pulumi up)")],
            admission_part="migrator",
            timeout=DB_TIMEOUT_SECONDS,
            memory_size=MEMORY_MB,
            publish=True,
            tracing=False,
            reserved_concurrency=ONE_AT_A_TIME,
        ), opts=pulumi.ResourceOptions(parent=self))
        # The migrator: outside the VPC; reads the master and app secrets and invokes the database function with
        # them (synchronously; the payload is never logged). Published: the Invocation below runs this version.
        self.function = Function(name, FunctionArgs(
            platform=platform,
            part="migrator",
            description="Applies sql/migrations and sets the app role's password; invoked by pulumi up",
            role_description="Cruddur migrator Lambda: logs, X-Ray, read the master and app secrets, invoke its "
                             "database function",
            code=package,
            # handler.py imports its database side, which needs psycopg2 (not yoyo) to load
            layers=[platform.layer("psycopg2"), platform.layer("powertools")],
            environment={
                "MASTER_SECRET_ARN": db.secret.arn,
                "APP_SECRET_ARN": app.secret.arn,
                "DB_FUNCTION_NAME": self.db_function.function.qualified_arn,  # the published version
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
                {"sid": "InvokeTheDatabaseFunction", "actions": ["lambda:InvokeFunction"],
                 "resources": [self.db_function.function.qualified_arn]},
            ],
            timeout=TIMEOUT_SECONDS,
            memory_size=MEMORY_MB,
            publish=True,
            reserved_concurrency=ONE_AT_A_TIME,
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
                "db_function_version": self.db_function.function.version,
                "app_secret_version": app.secret_version.version_id,
                # a replaced instance (same name, new resource id) is an empty database: migrate it
                "db_resource_id": db.instance.resource_id,
            },
            # The instance, the master secret and the database's SG rules (all of `db`), the app secret's value and
            # the database function: everything the handler reaches must exist first.
            # The handler returns a summary (never a secret); its result is kept secret in state all the same.
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"], depends_on=[
                db.instance, db, app.secret_version, self.db_function]),
        )

        self.register_outputs({"function_name": self.function.name, "migrations_sha256": self.migrations_sha256})
