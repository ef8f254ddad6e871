"""Schema migrator: ``pulumi up`` invokes this function (an ``aws.lambda_.Invocation``) from inside the VPC.

One invocation, under yoyo's lock (the ``yoyo_lock`` row that ``cruddur db migrate`` also takes):

1. checks the event and the package: ``migrations_sha256`` in the event, when present, must equal the hash of the
   migrations packaged beside this file (``migrations_sha256(directory)`` below);
2. reads the master secret and the app secret (Secrets Manager, standard RDS JSON; through the Secrets Manager
   interface endpoint with private DNS) and connects as the master user, TLS ``verify-full`` against the RDS CA
   bundle packaged beside this file. The master password rotates (single user), so the login goes through
   ``master_login.connect_through_rotation`` (``master_login.py`` beside this file, from ``lambda/shared``): the
   master secret's AWSCURRENT value, and only if the server refuses that password (SQLSTATE 28P01: between the
   rotation's setSecret and finishSecret) its AWSPENDING, then AWSPREVIOUS value, each once; the log says which
   stage logged in. Any other connection error fails at once, and when no stage logs in the error is the one of
   AWSCURRENT;
3. refuses, before applying anything, a database that has applied migrations the package does not have (an old
   commit deployed over a newer schema): ``SchemaNewerThanPackage``;
4. applies the pending migrations with yoyo, with the bookkeeping of ``ops/migrations.py`` (tables ``_yoyo_migration``,
   ``_yoyo_log``, ``yoyo_lock``; ids are the file stems), so ``cruddur db status`` agrees. Each migration runs in ONE
   transaction together with its ``_yoyo_migration``/``_yoyo_log`` rows (``yoyo_one_transaction.py`` beside this
   file, from ``lambda/shared``: the same code as ``cruddur db migrate``; a ``-- transactional: false`` migration
   keeps yoyo's own path): a failure leaves nothing of it applied and the lock released (``MigrationFailed``); a
   concurrent invocation waits for the lock, then finds nothing to do;
5. sets the password of the user the app secret names (its AWSCURRENT value) from that secret, as a SCRAM verifier
   computed client-side (``psycopg2.extensions.encrypt_password``), so no plaintext reaches SQL text,
   pg_stat_activity or server logs. Always (idempotent: the same password gives a new verifier that accepts the same
   password). The app's password rotates with alternating users (``lambda/rotate_master/handler.py``), so that user
   is ``APP_ROLE`` or its clone ``APP_ROLE_clone`` (sql/migrations/0006_app_clone_role.sql); the other one, which
   keeps the previous password as the app's grace until the next rotation, is never touched.

Returns ``{"applied": [ids], "already_applied": n, "app_password_set": true}``; every failure raises a
``MigratorError`` subclass whose message says what failed and what to do (Lambda returns a FunctionError and
``pulumi up`` fails with it). No password, secret value, verifier or URL is ever logged or put in an exception.

Package (built by ``components/migrator.py``): ``handler.py``, ``master_login.py``, ``yoyo_one_transaction.py``,
``global-bundle.pem``, ``migrations/*.sql``; psycopg2,
yoyo (``components/psycopg2_layer.py``) and Powertools come from layers, boto3 from the runtime.

Environment:
    MASTER_SECRET_ARN, APP_SECRET_ARN   required; secrets ``{"engine","host","port","username","password","dbname"}``
    DB_HOST, DB_NAME                    required; DB_PORT (default 5432)
    APP_ROLE                            the app's role (default ``cruddur_app``); the app secret names it or
                                        ``<APP_ROLE>_clone``, and that user's password is set
    POWERTOOLS_SERVICE_NAME             the log's service name (default ``cruddur-migrator``)
Optional, with safe defaults:
    DB_CONNECT_TIMEOUT_S (10), MIGRATION_LOCK_TIMEOUT_S (120; never past the invocation's remaining time)
    MIGRATIONS_DIR                      the migrations (default: ``migrations/`` beside this file); tests point it at
                                        ``sql/migrations``
    DB_SSLROOTCERT                      the CA bundle (default: ``global-bundle.pem`` beside this file)
    DB_SSLMODE                          TESTS ONLY: ``disable`` turns TLS off for a local server without SSL (the
                                        suite's embedded PostgreSQL). Empty or unset means ``verify-full``; any other
                                        value, and ``disable`` for an ``*.rds.amazonaws.com`` host, is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import master_login  # lambda/shared/master_login.py, packaged beside this file
import psycopg2
import yoyo_one_transaction  # lambda/shared/yoyo_one_transaction.py, packaged beside this file
from aws_lambda_powertools import Logger
from psycopg2 import sql
from psycopg2.extensions import encrypt_password

SERVICE = "cruddur-migrator"
HERE = Path(__file__).resolve().parent
DEFAULT_MIGRATIONS_DIR = HERE / "migrations"
DEFAULT_CA_BUNDLE = HERE / "global-bundle.pem"
DEFAULT_APP_ROLE = "cruddur_app"
CLONE_SUFFIX = "_clone"  # the alternate login user of the app role (AWS's multi-user rotation naming)
DEFAULT_PORT = 5432
DEFAULT_CONNECT_TIMEOUT_S = 10
DEFAULT_LOCK_TIMEOUT_S = 120  # as long as `cruddur db migrate` waits (ops/migrations.py)
# Stop waiting, and cancel a statement, this long before Lambda would kill the invocation, so the lock row is
# released and the error is ours rather than a timeout that leaves yoyo_lock held.
DEADLINE_MARGIN_MS = 15_000
SSLMODE_VERIFY_FULL = "verify-full"
SSLMODE_DISABLE = "disable"  # tests only, see DB_SSLMODE
MIGRATION_TABLE = "_yoyo_migration"  # yoyo.migrations.default_migration_table, as ops/migrations.py uses
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))


# -- errors: each message says what failed and what to do --------------------------------------------------------
class MigratorError(Exception):
    """Base class: every failure of the migrator raises one of these (``pulumi up`` then fails with its message)."""


class ConfigurationError(MigratorError):
    """The function's environment or package is incomplete or unsafe."""


class MalformedEvent(MigratorError, ValueError):
    """The event is not the JSON object the Invocation sends."""


class PackageMismatch(MigratorError):
    """The event's ``migrations_sha256`` is not the hash of the migrations this function carries."""


class SecretError(MigratorError):
    """A Secrets Manager secret could not be read, or lacks a field the migrator needs."""


class DatabaseUnavailable(MigratorError):
    """The database could not be reached, or dropped the connection."""


class MigrationLocked(MigratorError):
    """Another migration run held yoyo's lock for longer than the migrator may wait."""


class SchemaNewerThanPackage(MigratorError):
    """The database has applied migrations that this package does not have (forward-only: refused)."""


class MigrationFailed(MigratorError):
    """A migration failed; it was rolled back entirely."""


class AppPasswordFailed(MigratorError):
    """The app role's password could not be set."""


# -- the migration set --------------------------------------------------------------------------------------------
def migration_files(directory: Path) -> list[Path]:
    """The ``*.sql`` files of ``directory``, sorted by name."""
    return sorted((p for p in Path(directory).glob("*.sql") if p.is_file()), key=lambda p: p.name)


def migrations_sha256(directory: Path) -> str:
    """The migration set's fingerprint, as ``components/migrator.py`` computes it for the event: sha256 over every
    ``*.sql`` file of ``directory`` sorted by file name, each contributing ``name`` NUL ``content`` NUL (the name as
    UTF-8, the content as the bytes on disk)."""
    digest = hashlib.sha256()
    for path in migration_files(directory):
        digest.update(path.name.encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


# -- configuration ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    master_secret_arn: str
    app_secret_arn: str
    host: str
    port: int
    dbname: str
    app_role: str
    sslmode: str
    sslrootcert: Path | None
    connect_timeout_s: int
    lock_timeout_s: int
    migrations_dir: Path


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    return value


def load_config() -> Config:
    missing = [name for name in ("MASTER_SECRET_ARN", "APP_SECRET_ARN", "DB_HOST", "DB_NAME") if not _env(name)]
    if missing:
        raise ConfigurationError(f"the migrator's environment lacks {', '.join(missing)}: "
                                 "components/migrator.py sets them; redeploy the function")
    host = _env("DB_HOST")
    app_role = _env("APP_ROLE") or DEFAULT_APP_ROLE
    if not _ROLE_NAME.fullmatch(app_role):
        raise ConfigurationError(f"APP_ROLE must be a plain lower-case role name, got {app_role!r}")
    sslmode = _env("DB_SSLMODE") or SSLMODE_VERIFY_FULL
    if sslmode not in (SSLMODE_VERIFY_FULL, SSLMODE_DISABLE):
        raise ConfigurationError(f"DB_SSLMODE must be {SSLMODE_VERIFY_FULL} (the default) or {SSLMODE_DISABLE} "
                                 f"(tests against a local server only), got {sslmode!r}")
    sslrootcert = None
    if sslmode == SSLMODE_DISABLE:
        if host.lower().rstrip(".").endswith(".rds.amazonaws.com"):
            raise ConfigurationError(f"DB_SSLMODE={SSLMODE_DISABLE} is for tests against a local server; {host} is "
                                     "an RDS host, which the migrator reaches only with TLS verify-full: unset "
                                     "DB_SSLMODE")
    else:
        sslrootcert = Path(_env("DB_SSLROOTCERT") or DEFAULT_CA_BUNDLE)
        if not sslrootcert.is_file():
            raise ConfigurationError(f"the RDS CA bundle {sslrootcert} is missing from the package; TLS "
                                     "verify-full cannot work without it: rebuild the function's package")
    migrations_dir = Path(_env("MIGRATIONS_DIR") or DEFAULT_MIGRATIONS_DIR)
    if not migrations_dir.is_dir() or not migration_files(migrations_dir):
        raise ConfigurationError(f"no migrations (*.sql) in {migrations_dir}: the function's package must carry "
                                 "sql/migrations as migrations/; rebuild it")
    if any(migrations_dir.glob("*.py")):
        raise ConfigurationError(f"{migrations_dir} holds Python migrations; the migrator applies only *.sql")
    return Config(
        master_secret_arn=_env("MASTER_SECRET_ARN"),
        app_secret_arn=_env("APP_SECRET_ARN"),
        host=host,
        port=_env_int("DB_PORT", DEFAULT_PORT),
        dbname=_env("DB_NAME"),
        app_role=app_role,
        sslmode=sslmode,
        sslrootcert=sslrootcert,
        connect_timeout_s=_env_int("DB_CONNECT_TIMEOUT_S", DEFAULT_CONNECT_TIMEOUT_S),
        lock_timeout_s=_env_int("MIGRATION_LOCK_TIMEOUT_S", DEFAULT_LOCK_TIMEOUT_S),
        migrations_dir=migrations_dir,
    )


def check_event(event: Any, package_sha256: str) -> None:
    """The event is a JSON object; its ``migrations_sha256``, when present, is the package's. Unknown keys are
    ignored."""
    if not isinstance(event, dict):
        raise MalformedEvent(f"the event must be a JSON object such as {{\"migrations_sha256\": \"<hex>\"}}, got "
                             f"{type(event).__name__}")
    expected = event.get("migrations_sha256")
    if expected is not None:
        if not isinstance(expected, str) or not _SHA256_HEX.fullmatch(expected):
            raise MalformedEvent("the event's migrations_sha256 must be 64 lower-case hex characters, got "
                                 f"{expected!r:.80}")
        if expected != package_sha256:
            raise PackageMismatch(
                f"the event's migrations_sha256 {expected} is not the hash of the migrations this function carries "
                f"({package_sha256}): the deployed function is not the one this deployment built; run pulumi up "
                "again so the function and its invocation come from the same commit")
    version = event.get("app_secret_version")
    if version is not None and not isinstance(version, str):
        raise MalformedEvent(f"the event's app_secret_version must be a string, got {type(version).__name__}")


# -- secrets ------------------------------------------------------------------------------------------------------
def _secrets_client():
    import boto3  # in the Lambda runtime
    from botocore.config import Config as BotoConfig

    return boto3.client("secretsmanager", config=BotoConfig(connect_timeout=5, read_timeout=10,
                                                            retries={"max_attempts": 3, "mode": "standard"}))


def read_secret(client, arn: str, label: str) -> tuple[dict, str | None]:
    """(the secret's JSON object, its version id). The value is never logged, nor quoted in an error."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = client.get_secret_value(SecretId=arn)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SecretError(f"cannot read the {label} secret {arn} ({code}): check that it exists and that the "
                          "function's role may secretsmanager:GetSecretValue on it and kms:Decrypt its key") from None
    except BotoCoreError as exc:
        raise SecretError(f"cannot reach Secrets Manager for the {label} secret ({type(exc).__name__}): the "
                          "function's subnets need the Secrets Manager interface endpoint with private DNS, and its "
                          "security group HTTPS to it") from None
    text = response.get("SecretString")
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise SecretError(f"the {label} secret {arn} is not a JSON object in the RDS shape "
                          "{\"username\", \"password\", ...}: put a value of that shape in it")
    for key in ("username", "password"):
        if not isinstance(value.get(key), str) or not value[key]:
            raise SecretError(f"the {label} secret {arn} has no '{key}': put the RDS JSON shape "
                              "{\"username\", \"password\", ...} in it")
    return value, response.get("VersionId")


# -- the database -------------------------------------------------------------------------------------------------
def _first_line(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = (primary or str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect_kwargs(config: Config, master: dict, statement_timeout_ms: int | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "host": config.host, "port": config.port, "dbname": config.dbname,
        "user": master["username"], "password": master["password"],
        "connect_timeout": config.connect_timeout_s, "application_name": SERVICE,
        "keepalives": 1, "keepalives_idle": 30, "sslmode": config.sslmode,
    }
    if config.sslrootcert is not None:
        kwargs["sslrootcert"] = str(config.sslrootcert)
    if statement_timeout_ms:
        kwargs["options"] = f"-c statement_timeout={statement_timeout_ms}"
    return kwargs


def _backend_class():
    from yoyo.backends.core.postgresql import PostgresqlBackend

    class MigratorBackend(yoyo_one_transaction.OneTransactionApply, PostgresqlBackend):
        """yoyo's PostgreSQL backend with three changes: it connects with keyword parameters held apart from the
        URI (so the password is in no URI object); a transactional migration runs in ONE transaction with its
        ``_yoyo_log`` and ``_yoyo_migration`` rows (``OneTransactionApply`` from ``yoyo_one_transaction.py``, the
        same code ``cruddur db migrate`` uses; yoyo alone would mark it in a second transaction); the log rows name
        this function rather than the sandbox's OS user."""

        def __init__(self, dburi, migration_table, kwargs: dict[str, Any], applied_by: str):
            self._kwargs = kwargs
            self._applied_by = applied_by
            super().__init__(dburi, migration_table)

        def connect(self, dburi):
            connection = psycopg2.connect(**self._kwargs)
            connection.autocommit = True  # yoyo issues BEGIN/COMMIT itself
            return connection

        def copy(self):
            return self.__class__(self.uri, self.migration_table, self._kwargs, self._applied_by)

        def get_log_data(self, migration=None, operation="apply"):
            return {
                "id": str(uuid.uuid4()),
                "migration_id": migration.id if migration else None,
                "migration_hash": migration.hash if migration else None,
                "username": self._applied_by,
                "hostname": socket.gethostname(),
                "created_at_utc": datetime.now(UTC).replace(tzinfo=None),
                "operation": operation,
            }

    return MigratorBackend


def open_backend(config: Config, master: dict, secrets_client, statement_timeout_ms: int | None,
                 applied_by: str) -> tuple[Any, dict]:
    """(yoyo's backend, connected as the master with yoyo's tables ready; the master secret value that logged in).
    ``master`` is the secret's AWSCURRENT value; a refused password falls back to AWSPENDING, then AWSPREVIOUS."""
    from yoyo.connections import DatabaseURI

    backend_class = _backend_class()

    def connect(secret: dict):
        kwargs = connect_kwargs(config, secret, statement_timeout_ms)
        uri = DatabaseURI(scheme="postgresql", username=kwargs["user"], password=None, hostname=config.host,
                          port=config.port, database=config.dbname, args={})
        return backend_class(uri, MIGRATION_TABLE, kwargs, applied_by)  # connects

    try:
        login = master_login.connect_through_rotation(master, secrets_client, config.master_secret_arn, connect,
                                                      logger)
        backend = login.connection
        backend.init_database()
    except psycopg2.OperationalError as exc:
        # libpq's message names the host and port, never the password.
        raise DatabaseUnavailable(f"cannot connect to {config.host}:{config.port}/{config.dbname} as the master "
                                  f"user: {_first_line(exc)}; check the database's security group admits the "
                                  "migrator's, and the master secret is current") from None
    except psycopg2.Error as exc:
        raise MigrationFailed(f"cannot prepare yoyo's tables in {config.dbname} as the master user: "
                              f"{_first_line(exc)} (SQLSTATE {exc.pgcode}); nothing was applied") from None
    return backend, login.secret


def applied_ids(backend) -> list[str]:
    backend.get_applied_migration_hashes()  # brings yoyo's own tables up to date first, as yoyo does
    cursor = backend.execute(f"SELECT migration_id FROM {backend.quote_identifier(MIGRATION_TABLE)}")  # noqa: S608 - a quoted identifier, no user input
    return sorted(row[0] for row in cursor.fetchall())


def set_role_password(connection, role: str, password: str, master_user: str, app_role: str | None = None) -> bool:
    """Give ``role`` the password as a SCRAM verifier computed here (no plaintext in SQL text or server logs).

    ``role`` is ``app_role`` itself or its clone, which must inherit ``app_role``'s privileges."""
    app_role = app_role or role
    if role == master_user:
        raise ConfigurationError(f"APP_ROLE {role} is the master user; the migrator sets only the app role's password")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_catalog.pg_roles "
                           "WHERE rolname = %s", (role,))
            row = cursor.fetchone()
            if row is None:
                creator = ("sql/migrations/0002_roles.sql creates (cruddur_app)" if role == app_role else
                           "sql/migrations/0006_app_clone_role.sql creates (cruddur_app_clone)")
                raise AppPasswordFailed(f"role {role} does not exist after the migrations: APP_ROLE must name the "
                                        f"role {creator}")
            if row[0]:
                raise ConfigurationError(f"APP_ROLE {role} is a privileged role (superuser, CREATEROLE or CREATEDB); "
                                         "the migrator sets only the least-privilege app role's password")
            if role != app_role:
                cursor.execute("SELECT pg_catalog.pg_has_role(%s, %s, 'USAGE')", (role, app_role))
                if not cursor.fetchone()[0]:
                    raise AppPasswordFailed(f"{role} does not inherit {app_role}'s privileges, so the app could not "
                                            f"work as {role}: GRANT {app_role} TO {role} (sql/migrations/"
                                            "0006_app_clone_role.sql does), then deploy again")
            verifier = encrypt_password(password, role, connection, "scram-sha-256")
            cursor.execute(sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(sql.Identifier(role),
                                                                            sql.Literal(verifier)))
    except psycopg2.Error as exc:
        raise AppPasswordFailed(f"could not set {role}'s password: {_first_line(exc)} "
                                f"(SQLSTATE {exc.pgcode})") from None
    return True


def _remaining_ms(context: Any) -> int | None:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    try:
        return int(getter()) if callable(getter) else None
    except (TypeError, ValueError):
        return None


def run(config: Config, master: dict, app: dict, context: Any, secrets_client) -> dict:
    """Apply the pending migrations and set the app role's password, all under yoyo's lock. ``master`` is the master
    secret's AWSCURRENT value; ``secrets_client`` reads its other stages if the database refuses that password."""
    from yoyo import read_migrations
    from yoyo.exceptions import BadMigration, LockTimeout

    remaining = _remaining_ms(context)
    statement_timeout_ms = max(1000, remaining - DEADLINE_MARGIN_MS) if remaining else None
    lock_timeout_s = config.lock_timeout_s
    if remaining:
        lock_timeout_s = max(1, min(lock_timeout_s, (remaining - 2 * DEADLINE_MARGIN_MS) // 1000))
    applied_by = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or SERVICE
    migrations = read_migrations(str(config.migrations_dir))
    package_ids = {m.id for m in migrations}
    backend, master = open_backend(config, master, secrets_client, statement_timeout_ms, applied_by)
    applied: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # yoyo's deprecation warnings
            with backend.lock(timeout=lock_timeout_s):
                before = applied_ids(backend)
                unknown = sorted(set(before) - package_ids)
                if unknown:
                    raise SchemaNewerThanPackage(
                        f"the database has applied migrations this package does not have ({', '.join(unknown)}): "
                        "an older commit is being deployed over a newer schema; nothing was applied. Deploy the "
                        "commit that added them (or a later one); migrations are forward-only")
                try:
                    pending = backend.to_apply(migrations)  # loads each file and orders them by `-- depends:`
                except BadMigration as exc:
                    raise MigrationFailed(f"the packaged migrations cannot be read ({exc}); nothing was applied. "
                                          "Fix them in a new commit and run pulumi up again") from None
                logger.info("migrations to apply", pending=[m.id for m in pending], already_applied=len(before))
                for migration in pending:
                    try:
                        backend.apply_one(migration)
                    except (psycopg2.Error, BadMigration) as exc:
                        detail = _first_line(exc)
                        state = f", SQLSTATE {exc.pgcode}" if getattr(exc, "pgcode", None) else ""
                        done = f"; applied before it: {', '.join(applied)}" if applied else ""
                        raise MigrationFailed(
                            f"migration {migration.id} failed and was rolled back, nothing of it is applied "
                            f"({detail}{state}){done}. Fix it in a new commit (an applied migration is never "
                            "edited) and run pulumi up again") from None
                    applied.append(migration.id)
                    logger.info("migration applied", migration_id=migration.id)
                if pending:
                    backend.run_post_apply(pending)
                password_set = set_role_password(backend.connection, app["username"], app["password"],
                                                 master["username"], config.app_role)
    except LockTimeout:
        raise MigrationLocked(
            f"another migration run holds yoyo's lock on {config.dbname} (waited {lock_timeout_s} s); nothing was "  # noqa: S608 - a message, not SQL
            "applied. If no migration is running (a run that was killed leaves its row), clear it through the "
            "operator tunnel: DELETE FROM yoyo_lock; then run pulumi up again") from None
    except psycopg2.Error as exc:
        raise DatabaseUnavailable(f"the database connection failed during the migration: {_first_line(exc)}"
                                  + (f"; applied: {', '.join(applied)}" if applied else "")) from None
    finally:
        try:
            backend.connection.close()
        except psycopg2.Error:
            pass
    return {"applied": applied, "already_applied": len(before), "app_password_set": password_set}


@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: Any) -> dict:
    try:
        config = load_config()
        package_sha256 = migrations_sha256(config.migrations_dir)
        logger.append_keys(migrations_sha256=package_sha256, database=config.dbname)
        check_event(event, package_sha256)
        client = _secrets_client()
        master, _ = read_secret(client, config.master_secret_arn, "master")
        app, app_version = read_secret(client, config.app_secret_arn, "app")
        if app["username"] not in (config.app_role, config.app_role + CLONE_SUFFIX):
            raise ConfigurationError(f"the app secret {config.app_secret_arn} is for {app['username']}, not APP_ROLE "
                                     f"{config.app_role} (or {config.app_role}{CLONE_SUFFIX}): point APP_SECRET_ARN "
                                     "at the app role's secret")
        logger.info("secrets read", app_secret_version=app_version, app_user=app["username"],
                    requested_app_secret_version=event.get("app_secret_version"))
        result = run(config, master, app, context, client)
    except MigratorError as exc:
        logger.error("migration run failed", error_type=type(exc).__name__, error=str(exc))
        raise
    except Exception as exc:  # a bug, or a failure nobody foresaw: logged by type only (its text may quote
        # anything); Lambda reports the exception itself to the Invocation
        logger.error("migration run failed unexpectedly", error_type=type(exc).__name__)
        raise
    logger.info("migration run done", **result)
    return result
