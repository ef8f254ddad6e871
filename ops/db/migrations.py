"""Schema migrations with yoyo-migrations: ordered, forward-only ``sql/migrations/*.sql``, one transaction each.

Each migration commits in the SAME transaction as its ``_yoyo_migration`` and ``_yoyo_log`` rows (yoyo alone would
record it in a second one, so a crash in between left it applied but unrecorded and the next run failed re-running
it): the backend is ``ops/db/yoyo_one_transaction.py``'s, the code the migrator Lambda runs too
(``lambda/shared/yoyo_one_transaction.py``). A failure at any point, recording included, leaves nothing of that
migration, and the next run applies it once. A ``-- transactional: false`` migration keeps yoyo's own path.

``apply(target)`` takes the migration lock, computes what is pending *inside* the lock and applies it, so two
operators (or two processes) migrating at once end with one applied set and no error: the second waits, then
finds nothing to do.

The lock is yoyo's ``yoyo_lock`` row (primary key ``locked = 1``), shared with plain ``yoyo`` and the migrator
Lambda. A row taken by this CLI records the holder's SERVER session as ``pid = -pg_backend_pid()`` (negative: yoyo
and the Lambda write their positive OS pid). A negative row whose backend is gone from ``pg_stat_activity`` (or
whose pid now belongs to a session that started after the row was written) was left by a run that died
(``kill -9``, a lost network): it is deleted and the run goes on, with no manual ``DELETE FROM yoyo_lock``. The
server ends a dead client's session even inside a blocked statement (``client_connection_check_interval``), and
``lock_timeout`` bounds how long any statement waits for a table lock. Rows of other tools are never broken: a
live run of theirs makes this one wait, then fail naming the holder.

A role that may not run migrations (no CREATE on the schema, no rights on yoyo's tables) fails at once, naming
the role and the missing privilege. ``status`` only reads (works on a read-only connection or replica).
"""

from __future__ import annotations

import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from ops.db.connections import cursor, describe_connect_error, dsn_params, settle_login
from ops.db.target import DbTarget
from ops.db.yoyo_one_transaction import backend_class
from ops.errors import CruddurError
from ops.paths import MIGRATIONS_DIR
from ops.urls import scrub

LOCK_TIMEOUT = 120  # seconds to wait for another (live) migrate run to finish
STATEMENT_LOCK_TIMEOUT = "30s"  # the longest one statement waits for a table lock (then the run fails, rolled back)
CLIENT_CHECK_INTERVAL = "2s"  # how soon the server notices a dead client inside a long statement
POLL = 0.2
YOYO_TABLES = ("yoyo_lock", "_yoyo_migration", "_yoyo_log", "_yoyo_version")


@dataclass(frozen=True)
class MigrationState:
    id: str
    applied: bool


def _backend(target: DbTarget, *, statement_lock_timeout: str = STATEMENT_LOCK_TIMEOUT):
    from yoyo.connections import DatabaseURI
    from yoyo.migrations import default_migration_table

    settle_login(target)  # yoyo connects by itself: a -s STACK target first finds the master secret's stage that works
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
        backend = backend_class()(uri, default_migration_table)
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


def _describe_holder(cur, pid: int, ctime) -> tuple[bool, str]:
    """(alive, description) of the ``yoyo_lock`` row holder ``pid`` written at ``ctime`` (UTC)."""
    since = f"since {ctime:%Y-%m-%d %H:%M:%S} UTC"
    if pid >= 0:  # yoyo or the migrator Lambda: an OS pid we cannot check from here
        clear = "DELETE FROM yoyo_lock"  # advice for the operator, not SQL run here
        return True, (f"a migration run outside this CLI (yoyo_lock pid {pid}, {since}: the migrator Lambda or "
                      f"yoyo); wait for it; if none is running (a killed run leaves its row), clear it: {clear}")
    cur.execute(
        "SELECT usename, coalesce(host(client_addr), 'local'), backend_start FROM pg_stat_activity "
        "WHERE pid = %s AND (backend_start IS NULL OR backend_start <= (%s::timestamp AT TIME ZONE 'utc'))",
        (-pid, ctime),
    )
    row = cur.fetchone()
    if row is None:
        return False, ""
    return True, (f"another `cruddur db migrate`: backend pid {-pid} (user {row[0]}, client {row[1]}, {since}); "
                  "wait for it, or stop it (cruddur db sessions / kill-sessions)")


@contextmanager
def _migration_lock(backend, target: DbTarget, timeout: float):
    """yoyo's row, taken with our backend pid (negative); a row left by a dead CLI run is removed. Waits up to
    ``timeout`` s for a live holder (Ctrl-C stays responsive: the wait is a Python sleep)."""
    conn = backend.connection
    deadline = time.monotonic() + timeout
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        mine = -cur.fetchone()[0]
        while True:
            try:
                cur.execute("INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, timezone('utc', now()), %s)",
                            (mine,))
                break
            except psycopg2.errors.UniqueViolation:
                pass
            cur.execute("SELECT pid, ctime FROM yoyo_lock WHERE locked = 1")
            row = cur.fetchone()
            if row is None:
                continue  # released meanwhile
            alive, holder = _describe_holder(cur, row[0], row[1])
            if not alive:  # its session is gone: the run died; remove exactly that row
                cur.execute("DELETE FROM yoyo_lock WHERE locked = 1 AND pid = %s", (row[0],))
                continue
            if time.monotonic() >= deadline:
                raise CruddurError(f"the migration lock on {target.shown} is held by {holder}")
            time.sleep(POLL)
    try:
        backend._is_locked = True  # yoyo's own lock() (used inside to_apply) sees the row as ours
        yield
    finally:
        backend._is_locked = False
        if not conn.closed:
            try:  # a failure here must not hide the one that brought us here; a row left behind is stale anyway
                with conn.cursor() as cur:
                    if conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                        cur.execute("ROLLBACK")
                    cur.execute("DELETE FROM yoyo_lock WHERE pid = %s", (mine,))
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
