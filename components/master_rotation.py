"""``MasterRotation`` and ``AppRotation``: the stack's two database secrets rotate on a schedule, with no internet.

- ``MasterRotation``: ``cruddur/<stack>/rds/master`` every ``masterPasswordRotationDays``, single user (the master
  gets a new password, logged in as itself);
- ``AppRotation``: ``cruddur/<stack>/rds/app`` every ``appPasswordRotationDays``, alternating users: the secret
  switches between ``cruddur_app`` and ``cruddur_app_clone`` (sql/migrations/0006_app_clone_role.sql), and the user
  it switches to gets a new password set by the master user. The user the app was using keeps its password until
  the next rotation, so an app that re-reads the secret within one rotation period never meets a refused login.

Both are one component (``AppRotation`` only changes the secret, the names and the strategy) around one package,
``lambda/rotate_master`` (createSecret -> setSecret -> testSecret -> finishSecret; ``ROTATION_STRATEGY`` picks the
strategy), deployed as TWO functions:

- the rotation function (``cruddur-<stack>-rotate-master``/``-rotate-app``), OUTSIDE the VPC: Secrets Manager invokes
  it; it makes every Secrets Manager call and reaches the database only by invoking the database function. Its role
  may touch exactly its one secret (describe, read, write a new version, move its stages), the app's may also read
  the master secret (to set the password as the master), both use the data key only through Secrets Manager, and
  each may invoke its own database function only;
- the database function (``...-db``), in the private subnets with its own security group whose only egress is
  PostgreSQL to the database (``Database.allow_from``): three explicit actions (log in, set a password as a SCRAM
  verifier, test), credentials in the synchronous invocation's payload, never logged, never returned. It calls no
  AWS API, so its role has only ``AWSLambdaVPCAccessExecutionRole`` and the VPC needs no Secrets Manager endpoint
  (about $8 per AZ-month saved: docs/costs.md).

The secrets keep their names and their standard RDS JSON shape, so their readers (the migrator, the restore probe,
operators, the app) are unchanged; they read AWSCURRENT when they connect, and the master's readers in the VPC (the
migrator, the restore probe) fall back to AWSPENDING, then AWSPREVIOUS when the database refuses that password
(``lambda/shared/master_login.py``: mid-rotation, or a copy restored from before it). Pulumi never resets a rotated
password:
the instance ignores ``password`` after creation and each secret's first version ignores ``secret_string``
(components/database.py, components/app_access.py). Synchronous only: Secrets Manager invokes each step as a
synchronous invocation (Lambda developer guide, "Using Lambda with Secrets Manager") and retries a failed rotation
itself, so there is no asynchronous invocation and no on-failure destination; a failed rotation shows in the secret's
rotation status and in CloudTrail (``RotationFailed``). The package is signed once (``CodeSigning``) and both
functions enforce the stack's code signing config, like every function of the stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.database import Database
from components.function import ONE_AT_A_TIME, Function, FunctionArgs, Platform
from components.packaging import CA_BUNDLE, CA_BUNDLE_SOURCE, PROJECT_DIR, package_files

FUNCTION_SOURCE = PROJECT_DIR / "lambda" / "rotate_master"
PACKAGE_FILES = {"handler.py": FUNCTION_SOURCE / "handler.py", "db_actions.py": FUNCTION_SOURCE / "db_actions.py",
                 CA_BUNDLE: CA_BUNDLE_SOURCE}
TIMEOUT_SECONDS = 60
# Under the rotation function's timeout and botocore's 60 s read timeout (a read timeout retries the invocation,
# which every database action survives: each is idempotent).
DB_TIMEOUT_SECONDS = 30
MEMORY_MB = 256
# What the rotation function does to its one secret (the endpoint's policy must allow the same).
ROTATION_ACTIONS = ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage")


@dataclass
class MasterRotationArgs:
    platform: Platform  # naming, data key, code signing, log retention, private subnets, layers
    database: Database  # its master secret rotates; its SG admits the database function
    rotation_days: int


@dataclass
class AppRotationArgs(MasterRotationArgs):
    app_secret: aws.secretsmanager.Secret | None = None  # rotates with alternating users, set by the master
    # what must exist before the first rotation (it runs at once): the migration that creates the clone user
    after: Sequence[pulumi.Resource] = ()


@dataclass(frozen=True)
class _Kind:
    """What differs between the two rotations; the scaffolding (the function and the schedule) is shared."""
    function_part: str  # the physical name's part: cruddur-<stack>-<function_part> (and -db)
    secret: str  # "master" / "app"
    what: str  # "the master-secret rotation function"
    admission: str  # the part of the SG admissions' names
    sid: str
    service: str
    strategy: str  # lambda/rotate_master/handler.py's ROTATION_STRATEGY


MASTER = _Kind("rotate-master", "master", "the master-secret rotation function", "rotation", "RotateTheMasterSecret",
               "cruddur-rotate-master", "single-user")
APP = _Kind("rotate-app", "app", "the app-secret rotation function", "app-rotation", "RotateTheAppSecret",
            "cruddur-rotate-app", "alternating-users")


class MasterRotation(pulumi.ComponentResource):
    function: Function
    rotation: aws.secretsmanager.SecretRotation
    TYPE = "cruddur:master_rotation:MasterRotation"
    KIND = MASTER

    def __init__(self, name: str, args: MasterRotationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        platform, db, kind = args.platform, args.database, self.KIND
        secret = getattr(args, "app_secret", None) or db.secret
        region = platform.aws_context.region
        title = kind.what[len("the "):].removesuffix(" function")
        # One package, two functions (lambda/rotate_master): the rotation steps and the database actions.
        package = platform.code_signing.sign(kind.function_part, pulumi.AssetArchive(package_files(PACKAGE_FILES, {
            "handler.py": "the rotation functions run from it",
            "db_actions.py": "the database function's actions (login, set_password, test) are in it",
            CA_BUNDLE: "the database function verifies the database's TLS certificate (verify-full) against the "
                       "Amazon RDS CA bundle it ships"})))

        # The database function: in the private subnets, PostgreSQL only (no AWS call, no AWS permission beyond its
        # network interfaces and logs), egress to the database port only.
        self.db_function = Function(f"{name}-db", FunctionArgs(
            platform=platform,
            part=f"{kind.function_part}-db",
            description=f"Rotation of the {kind.secret} secret, database side: logs in and sets the new password "
                        "(invoked by the rotation function only)",
            role_description=f"Cruddur {title}, database side: VPC access and logs only",
            code=package,
            handler="handler.db_handler",
            layers=[platform.layer("psycopg2"), platform.layer("powertools")],
            environment={"POWERTOOLS_SERVICE_NAME": f"{kind.service}-db", "POWERTOOLS_LOG_LEVEL": "INFO"},
            vpc=True,
            security_group_description=f"Cruddur {title}, database side: egress to the database port only",
            reaches=[(db.allow_from, kind.what)],
            admission_part=kind.admission,
            timeout=DB_TIMEOUT_SECONDS,
            memory_size=MEMORY_MB,
            tracing=False,
            reserved_concurrency=ONE_AT_A_TIME,
        ), opts=pulumi.ResourceOptions(parent=self))

        statements = [{"sid": kind.sid, "actions": list(ROTATION_ACTIONS), "resources": [secret.arn]}]
        environment = {"POWERTOOLS_SERVICE_NAME": kind.service, "POWERTOOLS_LOG_LEVEL": "INFO",
                       "DB_FUNCTION_NAME": self.db_function.name}
        if kind is APP:  # the new user's password is set by the master user
            statements.append({"sid": "ReadTheMasterSecret", "actions": ["secretsmanager:GetSecretValue"],
                               "resources": [db.secret.arn]})
            environment |= {"ROTATION_STRATEGY": kind.strategy, "MASTER_SECRET_ARN": db.secret.arn}
        statements += [
            {"sid": "UseTheDataKeyThroughSecretsManager", "actions": ["kms:Decrypt", "kms:GenerateDataKey"],
             "resources": [platform.kms_key_arn],
             "conditions": [{"test": "StringEquals", "variable": "kms:ViaService",
                             "values": [f"secretsmanager.{region}.amazonaws.com"]}]},
            {"sid": "InvokeTheDatabaseFunction", "actions": ["lambda:InvokeFunction"],
             "resources": [self.db_function.arn]},
        ]
        # The rotation function: outside the VPC (Secrets Manager and Lambda are reached on AWS's network, so the
        # private subnets need no endpoint); it reaches the database only through the database function.
        self.function = Function(name, FunctionArgs(
            platform=platform,
            part=kind.function_part,
            description=("Secrets Manager rotation of the RDS master secret (single user)" if kind is MASTER else
                         "Secrets Manager rotation of the app secret (alternating users, set by the master)"),
            role_description=f"Cruddur {title}: logs, X-Ray, "
                             + ("its one secret" if kind is MASTER else "its secret, read the master's")
                             + ", invoke its database function",
            code=package,
            layers=[platform.layer("powertools")],
            environment=environment,
            statements=statements,
            timeout=TIMEOUT_SECONDS,
            memory_size=MEMORY_MB,
            reserved_concurrency=ONE_AT_A_TIME,
            # Synchronous only (Secrets Manager's invocations are): no on-failure destination, see the docstring.
        ), opts=pulumi.ResourceOptions(parent=self))
        self.permission = self.function.allow_invoke("secretsmanager.amazonaws.com", secret.arn)
        self.rotation = aws.secretsmanager.SecretRotation(
            f"{name}-schedule", secret_id=secret.id, rotation_lambda_arn=self.function.arn,
            rotation_rules={"automatically_after_days": args.rotation_days},
            # The first rotation runs at once: the database function must reach the database by then (and, for the
            # app, the migration that creates the alternate user must have run).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[
                self.permission, db.instance, self.db_function, *getattr(args, "after", ())]))
        self.register_outputs({"function_name": self.function.name})


class AppRotation(MasterRotation):
    """The app secret ``cruddur/<stack>/rds/app`` rotates with alternating users (same scaffolding, own role)."""
    TYPE = "cruddur:master_rotation:AppRotation"
    KIND = APP

    def __init__(self, name: str, args: AppRotationArgs, opts: pulumi.ResourceOptions | None = None):
        if args.app_secret is None:
            raise ValueError("AppRotation needs the app secret (AppRotationArgs.app_secret)")
        super().__init__(name, args, opts)
