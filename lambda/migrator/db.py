"""The migrator's database function (``handler.db_handler``), INSIDE the VPC: it talks to PostgreSQL and to nothing
else. It makes no AWS call and its code imports no AWS SDK (Powertools only probes for botocore and does without
it; the tests run this function with boto3 and botocore unimportable), so its role needs only
``AWSLambdaVPCAccessExecutionRole`` (network interfaces and logs); the migrator's outer function (``handler.handler``)
reads the secrets and invokes it synchronously with them (the payload: ``handler.py``'s docstring).

One invocation, under yoyo's lock (the ``yoyo_lock`` row that ``cruddur db migrate`` also takes):

1. checks the payload (``check_payload``: a malformed one is a one-line ``MalformedEvent`` that quotes no value) and
   the package: the payload's ``migrations_sha256`` must equal the hash of the migrations packaged beside this file;
2. connects as the master user, TLS ``verify-full`` against the RDS CA bundle packaged beside this file, through
   ``master_login.login`` (``master_login.py`` beside this file, from ``lambda/shared``): the payload's
   ``master_candidates`` in order (AWSCURRENT, then AWSPENDING and AWSPREVIOUS where the secret has them), the next
   one only when the server refuses the password (SQLSTATE 28P01: a rotation between setSecret and finishSecret, or a
   database restored from before the last one); the log says which stage logged in. Any other connection error
   fails at once, and when no candidate logs in the error is the one of AWSCURRENT;
3. refuses, before applying anything, a database that has applied migrations the package does not have (an old
   commit deployed over a newer schema): ``SchemaNewerThanPackage``;
4. applies the pending migrations with yoyo, with the bookkeeping of ``ops/db/migrations.py`` (tables
   ``_yoyo_migration``, ``_yoyo_log``, ``yoyo_lock``; ids are the file stems), so ``cruddur db status`` agrees. Each
   migration runs in ONE transaction together with its ``_yoyo_migration``/``_yoyo_log`` rows
   (``yoyo_one_transaction.py`` beside this file, from ``lambda/shared``: the same code as ``cruddur db migrate``; a
   ``-- transactional: false`` migration keeps yoyo's own path): a failure leaves nothing of it applied and the lock
   released (``MigrationFailed``); a concurrent invocation waits for the lock, then finds nothing to do;
5. sets the password of the app user the payload names (``APP_ROLE`` or its clone ``APP_ROLE_clone``,
   sql/migrations/0006_app_clone_role.sql: the app's password rotates with alternating users) as a SCRAM verifier
   computed client-side (``psycopg2.extensions.encrypt_password``), so no plaintext reaches SQL text,
   pg_stat_activity or server logs. Always (idempotent: the same password gives a new verifier that accepts the same
   password). The other user, which keeps the previous password as the app's grace until the next rotation, is
   never touched.

Returns ``{"applied": [ids], "already_applied": n, "app_password_set": true}``; every failure raises a
``MigratorError`` subclass (``common.py``) whose message says what failed and what to do: Lambda returns it to the
outer function as a FunctionError, and the outer fails with the same one line. The event and the passwords are
never logged nor put in an exception or the result (a failure nobody foresaw is reported by its type only).

Environment:
    DB_HOST, DB_NAME                    required; DB_PORT (default 5432)
    APP_ROLE                            the app's role (default ``cruddur_app``); the payload's app user must be it
                                        or ``<APP_ROLE>_clone``
    POWERTOOLS_SERVICE_NAME             the log's service name (default ``cruddur-migrator``)
Optional, with safe defaults:
    DB_CONNECT_TIMEOUT_S (10), MIGRATION_LOCK_TIMEOUT_S (120; never past the invocation's remaining time)
    MIGRATIONS_DIR                      the migrations (default: ``migrations/`` beside this file); tests point it at
                                        ``sql/migrations``
    DB_SSLROOTCERT                      the CA bundle (default: ``global-bundle.pem`` beside this file)
    DB_SSLMODE                          TESTS ONLY: ``disable`` turns TLS off for a local server without SSL (the
                                        suite's embedded PostgreSQL). Empty or unset means ``verify-full``; any other
                                        value, and ``disable`` for any host but this machine
                                        (``common.tls_may_be_off``), is refused.
"""

from __future__ import annotations

import os
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
from common import (
    HERE,
    SERVICE,
    SHA256_HEX,
    AppPasswordFailed,
    ConfigurationError,
    DatabaseUnavailable,
    MalformedEvent,
    MigrationFailed,
    MigrationLocked,
    MigratorError,
    PackageMismatch,
    SchemaNewerThanPackage,
    app_role_from_env,
    app_users,
    env,
    env_int,
    logger,
    migrations_dir_from_env,
    migrations_sha256,
    require_env,
    tls_may_be_off,
    unexpected,
)
from psycopg2 import sql
from psycopg2.extensions import encrypt_password

WHOSE = "the migrator's database function's"  # for messages: this function, not the outer one
DEFAULT_CA_BUNDLE = HERE / "global-bundle.pem"
DEFAULT_PORT = 5432
DEFAULT_CONNECT_TIMEOUT_S = 10
DEFAULT_LOCK_TIMEOUT_S = 120  # as long as `cruddur db migrate` waits (ops/db/migrations.py)
# Stop waiting, and cancel a statement, this long before Lambda would kill the invocation, so the lock row is
# released and the error is ours rather than a timeout that leaves yoyo_lock held.
DEADLINE_MARGIN_MS = 15_000
SSLMODE_VERIFY_FULL = "verify-full"
SSLMODE_DISABLE = "disable"  # tests only, see DB_SSLMODE
MIGRATION_TABLE = "_yoyo_migration"  # yoyo.migrations.default_migration_table, as ops/db/migrations.py uses
ACTION = "migrate"
PAYLOAD_KEYS = {"action", "migrations_sha256", "master_candidates", "app", "app_secret_version"}
REQUIRED_PAYLOAD_KEYS = PAYLOAD_KEYS - {"app_secret_version"}


# -- configuration and payload ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    host: str
    port: int
    dbname: str
    app_role: str
    sslmode: str
    sslrootcert: Path | None
    connect_timeout_s: int
    lock_timeout_s: int
    migrations_dir: Path


def load_config() -> Config:
    require_env(("DB_HOST", "DB_NAME"), WHOSE)
    host = env("DB_HOST")
    app_role = app_role_from_env()
    sslmode = env("DB_SSLMODE") or SSLMODE_VERIFY_FULL
    if sslmode not in (SSLMODE_VERIFY_FULL, SSLMODE_DISABLE):
        raise ConfigurationError(f"DB_SSLMODE must be {SSLMODE_VERIFY_FULL} (the default) or {SSLMODE_DISABLE} "
                                 f"(tests against a local server only), got {sslmode!r}")
    sslrootcert = None
    if sslmode == SSLMODE_DISABLE:
        if not tls_may_be_off(host):
            raise ConfigurationError(f"DB_SSLMODE={SSLMODE_DISABLE} is for tests against a server on this machine "
                                     f"(localhost, a loopback address); {host!r} is not one, and the migrator "
                                     "reaches any other host only with TLS verify-full: unset DB_SSLMODE")
    else:
        sslrootcert = Path(env("DB_SSLROOTCERT") or DEFAULT_CA_BUNDLE)
        if not sslrootcert.is_file():
            raise ConfigurationError(f"the RDS CA bundle {sslrootcert} is missing from the package; TLS "
                                     "verify-full cannot work without it: rebuild the function's package")
    return Config(
        host=host,
        port=env_int("DB_PORT", DEFAULT_PORT),
        dbname=env("DB_NAME"),
        app_role=app_role,
        sslmode=sslmode,
        sslrootcert=sslrootcert,
        connect_timeout_s=env_int("DB_CONNECT_TIMEOUT_S", DEFAULT_CONNECT_TIMEOUT_S),
        lock_timeout_s=env_int("MIGRATION_LOCK_TIMEOUT_S", DEFAULT_LOCK_TIMEOUT_S),
        migrations_dir=migrations_dir_from_env(),
    )


@dataclass(frozen=True)
class Request:
    """The payload, checked. ``repr`` shows no password."""

    master_candidates: list[dict[str, str]]
    app: dict[str, str]
    app_secret_version: str | None

    def __repr__(self) -> str:
        return (f"Request(master_stages={[c['stage'] for c in self.master_candidates]}, "
                f"app_user={self.app['username']!r}, app_secret_version={self.app_secret_version!r})")


def _malformed(what: str) -> MalformedEvent:
    return MalformedEvent(f"the database function's payload {what}: it is made by the migrator's outer function "
                          "(handler.handler); deploy both from the same commit (pulumi up)")


def check_payload(event: Any, package_sha256: str, app_role: str) -> Request:
    """The payload as ``handler.py`` makes it, or a one-line ``MalformedEvent``/``PackageMismatch`` that names what is
    wrong and quotes no value (a value may be a password)."""
    if not isinstance(event, dict):
        raise _malformed(f"must be a JSON object, got {type(event).__name__}")
    unknown = sorted(str(key) for key in set(event) - PAYLOAD_KEYS)
    missing = sorted(REQUIRED_PAYLOAD_KEYS - set(event))
    if unknown or missing:
        raise _malformed("has " + "; ".join(part for part in (
            f"unknown keys ({', '.join(unknown)})" if unknown else "",
            f"no {', '.join(missing)}" if missing else "") if part))
    if event["action"] != ACTION:
        raise _malformed(f"action must be {ACTION!r}")
    expected = event["migrations_sha256"]
    if not isinstance(expected, str) or not SHA256_HEX.fullmatch(expected):
        raise _malformed("migrations_sha256 must be 64 lower-case hex characters")
    if expected != package_sha256:
        raise PackageMismatch(
            f"the outer function's migrations_sha256 {expected} is not the hash of the migrations the database "
            f"function carries ({package_sha256}): the migrator's two functions come from different packages; run "
            "pulumi up again so both come from the same commit")
    try:
        candidates = master_login.check_candidates(event["master_candidates"])
    except master_login.MalformedCandidates as exc:
        raise _malformed(f"is wrong: {exc}") from None
    app = event["app"]
    if not isinstance(app, dict) or set(app) != {"username", "password"} or not all(
            isinstance(v, str) and v for v in app.values()):
        raise _malformed("app must be an object with exactly a non-empty username and password (strings)")
    if app["username"] not in app_users(app_role):
        raise ConfigurationError(f"the payload's app user {app['username']} is not APP_ROLE {app_role} (or "
                                 f"{app_users(app_role)[1]}): give both functions the same APP_ROLE")
    version = event.get("app_secret_version")
    if version is not None and not isinstance(version, str):
        raise _malformed(f"app_secret_version must be a string, got {type(version).__name__}")
    return Request(candidates, dict(app), version)


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


def open_backend(config: Config, candidates: list[dict[str, str]], statement_timeout_ms: int | None,
                 applied_by: str) -> tuple[Any, dict]:
    """(yoyo's backend, connected as the master with yoyo's tables ready; the candidate that logged in)."""
    from yoyo.connections import DatabaseURI

    backend_class = _backend_class()

    def connect(secret: dict):
        kwargs = connect_kwargs(config, secret, statement_timeout_ms)
        uri = DatabaseURI(scheme="postgresql", username=kwargs["user"], password=None, hostname=config.host,
                          port=config.port, database=config.dbname, args={})
        return backend_class(uri, MIGRATION_TABLE, kwargs, applied_by)  # connects

    try:
        login = master_login.login(candidates, connect, logger)
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


def run(config: Config, request: Request, context: Any) -> dict:
    """Apply the pending migrations and set the app user's password, all under yoyo's lock."""
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
    backend, master = open_backend(config, request.master_candidates, statement_timeout_ms, applied_by)
    app = request.app
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


def handle(event: Any, context: Any) -> dict:
    """``handler.db_handler``'s body (the decorated entry point is in ``handler.py``)."""
    try:
        config = load_config()
        package_sha256 = migrations_sha256(config.migrations_dir)
        logger.append_keys(migrations_sha256=package_sha256, database=config.dbname)
        request = check_payload(event, package_sha256, config.app_role)
        logger.info("payload checked", master_stages=[c["stage"] for c in request.master_candidates],
                    app_user=request.app["username"], app_secret_version=request.app_secret_version)
        result = run(config, request, context)
    except MigratorError as exc:
        logger.error("migration run failed", error_type=type(exc).__name__, error=str(exc))
        raise
    except Exception as exc:  # noqa: BLE001 - reported by type only: its text may quote the payload
        raise unexpected(exc, "migrator's database function") from None
    logger.info("migration run done", **result)
    return result
