"""Schema migrations with yoyo-migrations: ordered, forward-only ``sql/migrations/*.sql``, one transaction each.

``apply(target)`` takes yoyo's lock (a row in ``yoyo_lock``), computes what is pending *inside* the lock and
applies it, so two operators (or two processes) migrating at once end with one applied set and no error:
the second waits, then finds nothing to do.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from ops.db.connections import describe_connect_error, dsn_params
from ops.db.target import DbTarget
from ops.errors import CruddurError
from ops.paths import MIGRATIONS_DIR
from ops.urls import scrub

LOCK_TIMEOUT = 120  # seconds to wait for another migrate run to finish


@dataclass(frozen=True)
class MigrationState:
    id: str
    applied: bool


def _backend(target: DbTarget):
    from yoyo.backends.core.postgresql import PostgresqlBackend
    from yoyo.connections import DatabaseURI
    from yoyo.migrations import default_migration_table

    params = dsn_params(target)
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
        backend.init_database()
    except psycopg2.OperationalError as exc:
        raise CruddurError(describe_connect_error(exc, target, target.shown)) from None
    return backend


@contextmanager
def _session(target: DbTarget):
    """A yoyo backend on ``target`` (yoyo's deprecation warnings silenced), closed afterwards."""
    backend = _backend(target)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield backend
    finally:
        backend.connection.close()


def read(directory: Path = MIGRATIONS_DIR):
    from yoyo import read_migrations

    return read_migrations(str(directory))


def apply(
    target: DbTarget,
    *,
    directory: Path = MIGRATIONS_DIR,
    lock_timeout: int = LOCK_TIMEOUT,
) -> list[str]:
    """Apply pending migrations under yoyo's lock. Returns the ids applied (empty when up to date)."""
    from yoyo.exceptions import LockTimeout

    migrations = read(directory)
    try:
        with _session(target) as backend, backend.lock(timeout=lock_timeout):
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return [m.id for m in pending]
    except LockTimeout as exc:
        raise CruddurError(
            f"another migrate run holds the lock on {target.shown} ({exc}); wait for it, or if it crashed, "
            "clear the lock: DELETE FROM yoyo_lock"
        ) from None
    except psycopg2.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CruddurError(f"migration failed on {target.shown} (rolled back): {scrub(first, target.url)}") from None


def status(target: DbTarget, *, directory: Path = MIGRATIONS_DIR) -> list[MigrationState]:
    """Every migration on disk and whether it is applied to the target's database."""
    migrations = read(directory)
    with _session(target) as backend:
        applied = set(backend.get_applied_migration_hashes())
    return [MigrationState(m.id, m.hash in applied) for m in migrations]


def pending(target: DbTarget, *, directory: Path = MIGRATIONS_DIR) -> list[str]:
    return [m.id for m in status(target, directory=directory) if not m.applied]
