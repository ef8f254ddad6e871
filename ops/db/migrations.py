"""Schema migrations with yoyo-migrations: ordered, forward-only ``sql/migrations/*.sql``, one transaction each.

``apply(target)`` takes the migration lock, computes what is pending *inside* the lock and applies it, so two
operators (or two processes) migrating at once end with one applied set and no error: the second waits, then
finds nothing to do.

The lock is two things on the ONE connection that does the work:

* a session-level ``pg_advisory_lock(MIGRATION_LOCK_KEY)``: it is the authority. PostgreSQL releases it when the
  holder's session ends, however it ends (``kill -9`` of the CLI, a lost network, a terminated backend), so a dead
  holder never blocks the next run. The backend notices a dead client within ``client_connection_check_interval``
  even in the middle of a blocked statement, and ``lock_timeout`` bounds how long any statement waits for a lock.
* yoyo's ``yoyo_lock`` row (so plain ``yoyo`` runs also see the database as locked). A row found while holding
  the advisory lock was left by a holder that died: it is deleted, and the run goes on.

A role that may not run migrations (no CREATE on the schema, no rights on yoyo's tables) fails at once, naming
the role and the missing privilege. ``status`` only reads (works on a read-only connection or replica).
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from ops.db.connections import cursor, describe_connect_error, dsn_params
from ops.db.target import DbTarget
from ops.errors import CruddurError
from ops.paths import MIGRATIONS_DIR
from ops.urls import scrub

LOCK_TIMEOUT = 120  # seconds to wait for another (live) migrate run to finish
STATEMENT_LOCK_TIMEOUT = "30s"  # the longest one statement waits for a table lock (then the run fails, rolled back)
CLIENT_CHECK_INTERVAL = "2s"  # how soon the server notices a dead client inside a long statement
MIGRATION_LOCK_KEY = 0x637275646475  # "cruddu": pg_advisory_lock key of `cruddur db migrate`
POLL = 0.2
YOYO_TABLES = ("yoyo_lock", "_yoyo_migration", "_yoyo_log", "_yoyo_version")


@dataclass(frozen=True)
class MigrationState:
    id: str
    applied: bool


def _backend(target: DbTarget, *, statement_lock_timeout: str = STATEMENT_LOCK_TIMEOUT):
    from yoyo.backends.core.postgresql import PostgresqlBackend
    from yoyo.connections import DatabaseURI
    from yoyo.migrations import default_migration_table

    params = dsn_params(target)
    options = f"-c lock_timeout={statement_lock_timeout} -c client_connection_check_interval={CLIENT_CHECK_INTERVAL}"
    params["options"] = f"{params['options']} {options}" if params.get("options") else options
    args = {k: v for k, v in params.items() if k not in {"user", "password", "host", "port", "dbname"}}
    uri = DatabaseURI(
        scheme="postgresql",
        username=params.get("user"),
        password=params.get("password"),
        hostname=params.get("host"),
        port=int(params["port"]) if params.get("port") else None,
        database=params["dbname"],
        args=args,
    )
    try:
        backend = PostgresqlBackend(uri, default_migration_table)
        _check_privileges(backend.connection, target)
        backend.init_database()
    except psycopg2.OperationalError as exc:
        raise CruddurError(describe_connect_error(exc, target, target.shown)) from None
    return backend


def _check_privileges(conn, target: DbTarget) -> None:
    """Fail at once (not after the lock timeout) when the role cannot run migrations."""
    with conn.cursor() as cur:
        cur.execute("SELECT current_user, current_schema(), "
                    "has_schema_privilege(current_schema(), 'CREATE') FROM (SELECT 1) AS one")
        role, schema, can_create = cur.fetchone()
        missing: list[str] = []
        if schema is None:
            missing.append("USAGE on a schema in its search_path")
        elif not can_create:
            missing.append(f"CREATE on schema {schema}")
        for table in YOYO_TABLES if schema else ():
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.{table}",))
            if not cur.fetchone()[0]:
                continue
            cur.execute("SELECT has_table_privilege(%s, 'SELECT,INSERT,UPDATE,DELETE')", (f"{schema}.{table}",))
            if not cur.fetchone()[0]:
                missing.append(f"SELECT, INSERT, UPDATE, DELETE on table {schema}.{table}")
    if missing:
        raise CruddurError(
            f"role {role} may not run migrations on {target.shown}: it lacks {'; '.join(missing)}; "
            "migrate as the database owner (the admin URL) or grant it"
        )


@contextmanager
def _session(target: DbTarget, **kwargs):
    """A yoyo backend on ``target`` (yoyo's deprecation warnings silenced), closed afterwards."""
    backend = _backend(target, **kwargs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield backend
    finally:
        backend.connection.close()


def _holder(conn) -> str:
    """Who holds the advisory lock: backend pid, client address, since when (for the message)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT a.pid, a.usename, coalesce(host(a.client_addr), 'local'), a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            ((MIGRATION_LOCK_KEY >> 32) & 0xFFFFFFFF, MIGRATION_LOCK_KEY & 0xFFFFFFFF),
        )
        row = cur.fetchone()
    if not row:
        return "another session"
    return f"backend pid {row[0]} (user {row[1]}, client {row[2]}, since {row[3]:%Y-%m-%d %H:%M:%S %Z})"


@contextmanager
def _migration_lock(backend, target: DbTarget, timeout: float):
    """The advisory lock (waiting up to ``timeout`` s, Ctrl-C stays responsive), stale yoyo rows removed, then
    yoyo's own row."""
    conn = backend.connection
    deadline = time.monotonic() + timeout
    with conn.cursor() as cur:
        while True:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
            if cur.fetchone()[0]:
                break
            if time.monotonic() >= deadline:
                raise CruddurError(
                    f"another migrate run holds the lock on {target.shown}: {_holder(conn)}; it is alive (a dead "
                    f"holder's lock is released by PostgreSQL); wait for it, or stop it (cruddur db sessions)"
                )
            time.sleep(POLL)
    try:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM yoyo_lock")  # rows left by holders that died: we hold the advisory lock
            cur.execute("INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, timezone('utc', now()), %s)",
                        (os.getpid(),))
        backend._is_locked = True  # yoyo's own lock() (used inside to_apply) sees the row as ours
        yield
    finally:
        backend._is_locked = False
        if not conn.closed:
            try:  # a failure here must not hide the one that brought us here; closing the session frees the lock
                with conn.cursor() as cur:
                    if conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                        cur.execute("ROLLBACK")
                    cur.execute("DELETE FROM yoyo_lock WHERE pid = %s", (os.getpid(),))
                    cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
            except psycopg2.Error:
                pass


_WAIT_LOCK = threading.Lock()
_wait_users = 0
_wait_saved = None


@contextmanager
def _interruptible():
    """Ctrl-C during a statement cancels it on the server (psycopg2's ``wait_select``) and stops the run,
    instead of being ignored until the statement returns. The wait callback is process-wide: it is set by the
    first concurrent ``apply`` and restored by the last one (COPY elsewhere needs it unset)."""
    import psycopg2.extras

    global _wait_users, _wait_saved
    with _WAIT_LOCK:
        if _wait_users == 0:
            _wait_saved = psycopg2.extensions.get_wait_callback()
            psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)
        _wait_users += 1
    try:
        yield
    except psycopg2.errors.QueryCanceled as exc:
        if "user request" in str(exc):
            raise KeyboardInterrupt from None
        raise
    finally:
        with _WAIT_LOCK:
            _wait_users -= 1
            if _wait_users == 0:
                psycopg2.extensions.set_wait_callback(_wait_saved)


def read(directory: Path = MIGRATIONS_DIR):
    from yoyo import read_migrations

    return read_migrations(str(directory))


def apply(
    target: DbTarget,
    *,
    directory: Path = MIGRATIONS_DIR,
    lock_timeout: int = LOCK_TIMEOUT,
    statement_lock_timeout: str = STATEMENT_LOCK_TIMEOUT,
) -> list[str]:
    """Apply pending migrations under the migration lock. Returns the ids applied (empty when up to date)."""
    migrations = read(directory)
    try:
        with _interruptible(), _session(target, statement_lock_timeout=statement_lock_timeout) as backend, \
                _migration_lock(backend, target, lock_timeout):
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return [m.id for m in pending]
    except psycopg2.errors.LockNotAvailable as exc:
        raise CruddurError(
            f"migration failed on {target.shown} (rolled back): waited {statement_lock_timeout} for a table lock "
            f"held by another session ({_first(exc)}); find it with `cruddur db sessions` and retry"
        ) from None
    except psycopg2.errors.InsufficientPrivilege as exc:
        user = target.info.libpq.get("user") or "(default)"
        raise CruddurError(
            f"role {user} may not run migrations on {target.shown}: {_first(exc)}; migrate as the database owner"
        ) from None
    except psycopg2.Error as exc:
        raise CruddurError(
            f"migration failed on {target.shown} (rolled back): {scrub(_first(exc), target.url)}"
        ) from None


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def status(target: DbTarget, *, directory: Path = MIGRATIONS_DIR) -> list[MigrationState]:
    """Every migration on disk and whether it is applied to the target's database. Read-only: creates nothing
    (works on a read-only connection); errors name the target."""
    migrations = read(directory)
    with cursor(target) as cur:
        cur.execute("SELECT to_regclass('_yoyo_migration') IS NOT NULL")
        applied: set[str] = set()
        if cur.fetchone()[0]:
            cur.execute("SELECT migration_hash FROM _yoyo_migration")
            applied = {row[0] for row in cur.fetchall()}
    return [MigrationState(m.id, m.hash in applied) for m in migrations]


def pending(target: DbTarget, *, directory: Path = MIGRATIONS_DIR) -> list[str]:
    return [m.id for m in status(target, directory=directory) if not m.applied]
