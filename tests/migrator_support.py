"""Helpers for the schema migrator's tests (``tests/lambda`` cannot be named in an import statement: ``lambda`` is a
keyword). The handler lives in ``lambda/migrator/handler.py`` and is loaded by path with importlib, as
``tests/lambda_support.py`` loads the confirmation handler: ``load_migrator_module()`` returns a FRESH module each
call, so two loads behave like two Lambda containers (used for the concurrency test). Its siblings (``db.py``,
``common.py``: the database function and what both functions share) are imported by their bare names, as in the
package, from ``lambda/migrator`` on ``sys.path`` (they hold no per-container state).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from pathlib import Path

from ops.urls import parse
from tests.db_support import query
from tests.lambda_support import SHARED_DIR, LambdaContext, fresh_module

PROJECT_DIR = Path(__file__).resolve().parents[1]
MIGRATOR_DIR = PROJECT_DIR / "lambda" / "migrator"
MIGRATOR_PATH = MIGRATOR_DIR / "handler.py"
# Every variable the migrator reads: cleared for each test so the developer's shell never leaks in.
MIGRATOR_ENV = ("MASTER_SECRET_ARN", "APP_SECRET_ARN", "DB_FUNCTION_NAME", "DB_HOST", "DB_PORT", "DB_NAME",
                "APP_ROLE", "DB_SSLMODE", "DB_SSLROOTCERT", "DB_CONNECT_TIMEOUT_S", "MIGRATION_LOCK_TIMEOUT_S",
                "MIGRATIONS_DIR", "AWS_LAMBDA_FUNCTION_NAME", "AWS_PROFILE", "POWERTOOLS_LOGGER_LOG_EVENT")


def load_migrator_module():
    """A fresh handler module; ``db.py``, ``common.py`` (beside it in its package) and lambda/shared's modules are
    imported by their bare names."""
    return fresh_module(MIGRATOR_PATH, "migrator_handler", SHARED_DIR, MIGRATOR_DIR)


# -- what the migrator's tests share (tests/lambda/test_migrator_*.py; fixtures in tests/lambda/conftest.py) --------
REGION = "eu-west-1"
FUNCTION_NAME = "cruddur-test-migrator"
DB_FUNCTION_NAME = "cruddur-test-migrator-db"
REPO_MIGRATIONS = PROJECT_DIR / "sql" / "migrations"
EXPECTED = [p.stem for p in sorted(REPO_MIGRATIONS.glob("*.sql"))]


def migrator_context(function_name: str = FUNCTION_NAME, remaining_ms: int = 300_000) -> LambdaContext:
    """A Lambda context as the migrator's functions get it (300 s: the function's timeout in components/migrator.py;
    the published version 1)."""
    return LambdaContext(function_name=function_name, function_version="1", remaining_ms=remaining_ms)


class InProcessLambda:
    """The database function as Lambda would run it, in this process (the transport ``handler.handler`` takes as
    ``invoke``): the payload decoded from JSON, ``db_handler`` called with its own context, the result encoded; an
    exception answered as Lambda answers it (FunctionError ``Unhandled``, ``{"errorMessage", "errorType",
    "stackTrace"}``). ``payloads`` keeps what it was sent (the tests' own made-up passwords)."""

    def __init__(self, module, context: LambdaContext | None = None):
        self.module = module
        self.context = context
        self.payloads: list[dict] = []

    def __call__(self, payload: bytes) -> tuple[str | None, bytes]:
        event = json.loads(payload)
        self.payloads.append(event)
        context = self.context or migrator_context(DB_FUNCTION_NAME)
        try:
            result = self.module.db_handler(event, context)
        except Exception as exc:  # noqa: BLE001 - answered as the Lambda runtime answers an unhandled error
            return "Unhandled", json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__,
                                            "stackTrace": ["  File \"/var/task/db.py\" ..."]}).encode()
        return None, json.dumps(result).encode()


def shared_app_password(pg_server) -> str:
    """The password ``role_url`` (tests/conftest.py) gives cruddur_app on the suite's server."""
    return hmac.new(pg_server.password.encode(), b"cruddur_app", hashlib.sha256).hexdigest()[:32]


def recorded_logins(monkeypatch) -> list[str]:
    """The password of every connection the functions open (psycopg2.connect with keywords), passed through to the
    real driver."""
    import psycopg2

    passwords: list[str] = []
    real = psycopg2.connect

    def recording(*args, **kwargs):
        if "password" in kwargs:
            passwords.append(kwargs["password"])
        return real(*args, **kwargs)

    monkeypatch.setattr(psycopg2, "connect", recording)
    return passwords


def applied_rows(url: str) -> list[tuple[str, str]]:
    if query(url, "SELECT to_regclass('public._yoyo_migration')")[0][0] is None:
        return []
    return query(url, "SELECT migration_id, applied_at_utc::text FROM _yoyo_migration ORDER BY migration_id")


def lock_rows(url: str) -> int:
    return query(url, "SELECT count(*) FROM yoyo_lock")[0][0]


def copy_migrations(folder: Path, names=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(REPO_MIGRATIONS.glob("*.sql")):
        if names is None or path.stem in names:
            shutil.copyfile(path, folder / path.name)
    return folder


def migrations_sha256_of(directory: Path) -> str:
    """The package hash, computed here independently of the handler."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.sql"), key=lambda p: p.name):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def login_lines(output: str) -> list[dict]:
    """The log lines of the login through a rotation (master_login.login and what it calls)."""
    return [line for line in json_lines(output) if line["location"].split(":")[0] in ("login", "read_stage")]


def rotating_master(own_server, database_password: str) -> str:
    """A private server with a database ``cruddur`` and a master ``cruddur_master`` whose password on the server is
    ``database_password``; returns the admin URL of ``cruddur``."""
    import psycopg2

    conn = psycopg2.connect(own_server.admin_url("postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE cruddur")
        cur.execute("CREATE ROLE cruddur_master LOGIN SUPERUSER PASSWORD %s", (database_password,))
    conn.close()
    return own_server.admin_url("cruddur")


def master_login_as(url: str, password: str) -> dict:
    """The master secret's value (RDS shape) for ``cruddur_master`` on ``url``'s server with ``password``."""
    info = parse(url)
    return {"engine": "postgres", "host": info.host, "port": info.port, "username": "cruddur_master",
            "password": password, "dbname": "cruddur"}
