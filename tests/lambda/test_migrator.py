"""The schema migrator (``lambda/migrator/handler.py``) against a REAL PostgreSQL, Secrets Manager from moto.

Each test invokes ``handler(event, context)`` as Lambda would, with the environment ``components/migrator.py`` gives
the function (the secrets' ARNs, DB_HOST/PORT/NAME, APP_ROLE) plus ``DB_SSLMODE=disable`` (the suite's server has no
SSL) and ``MIGRATIONS_DIR`` (the repository's ``sql/migrations`` instead of the package's ``migrations/``), and checks
the database with a separate admin connection and with ``ops.db.migrations.status`` (what ``cruddur db status`` shows).

Roles are cluster-wide: on the suite's shared server the app secret holds the password ``role_url`` sets (so no other
test's login breaks); the test that proves the password is set uses a private server (``own_server``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import shutil
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import boto3
import psycopg2
import psycopg2.errors
import pytest
from moto import mock_aws

from ops.db import migrations
from ops.db.target import DbTarget
from ops.paths import MIGRATIONS_DIR
from ops.urls import parse
from tests.migrator_support import MIGRATOR_ENV, load_migrator_module

EXPECTED = [p.stem for p in sorted(MIGRATIONS_DIR.glob("*.sql"))]
REGION = "eu-west-1"
FUNCTION_NAME = "cruddur-test-migrator"


@dataclass
class LambdaContext:
    function_name: str = FUNCTION_NAME
    function_version: str = "1"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:{FUNCTION_NAME}:1"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    remaining_ms: int = 300_000  # the function's timeout in components/migrator.py

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def shared_app_password(pg_server) -> str:
    """The password ``role_url`` (tests/conftest.py) gives cruddur_app on the suite's server."""
    return hmac.new(pg_server.password.encode(), b"cruddur_app", hashlib.sha256).hexdigest()[:32]


def query(url: str, statement: str, params=()):
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement, params or None)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def applied_rows(url: str) -> list[tuple[str, str]]:
    if query(url, "SELECT to_regclass('public._yoyo_migration')")[0][0] is None:
        return []
    return query(url, "SELECT migration_id, applied_at_utc::text FROM _yoyo_migration ORDER BY migration_id")


def lock_rows(url: str) -> int:
    return query(url, "SELECT count(*) FROM yoyo_lock")[0][0]


def copy_migrations(folder: Path, names=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if names is None or path.stem in names:
            shutil.copyfile(path, folder / path.name)
    return folder


@pytest.fixture
def aws(monkeypatch):
    """What the Lambda runtime gives the function (role credentials, region), with moto answering for AWS."""
    for name in MIGRATOR_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAEXAMPLEROLEKEY00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-example")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "cruddur-migrator")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


@dataclass
class Deployment:
    """One database as the function sees it: the two secrets in (mocked) Secrets Manager and the environment."""

    url: str
    master_password: str
    app_password: str
    master_secret_arn: str
    app_secret_arn: str


@pytest.fixture
def deploy(aws, monkeypatch):
    def _deploy(url: str, app_password: str, migrations_dir: Path = MIGRATIONS_DIR, *, master: dict | None = None,
                app: dict | None = None) -> Deployment:
        info = parse(url)
        suffix = uuid.uuid4().hex[:8]
        master_value = master if master is not None else {
            "engine": "postgres", "host": info.host, "port": info.port, "username": info.user,
            "password": info.password, "dbname": info.database}
        app_value = app if app is not None else {
            "engine": "postgres", "host": info.host, "port": info.port, "username": "cruddur_app",
            "password": app_password, "dbname": info.database}
        master_arn = aws.create_secret(Name=f"cruddur/test-{suffix}/rds/master",
                                       SecretString=json.dumps(master_value))["ARN"]
        app_arn = aws.create_secret(Name=f"cruddur/test-{suffix}/rds/app", SecretString=json.dumps(app_value))["ARN"]
        for name, value in {"MASTER_SECRET_ARN": master_arn, "APP_SECRET_ARN": app_arn, "DB_HOST": info.host,
                            "DB_PORT": str(info.port), "DB_NAME": info.database, "APP_ROLE": "cruddur_app",
                            "DB_SSLMODE": "disable", "MIGRATIONS_DIR": str(migrations_dir)}.items():
            monkeypatch.setenv(name, value)
        return Deployment(url, info.password or "", app_password, master_arn, app_arn)

    return _deploy


@pytest.fixture
def migrator():
    """The handler module (one "container" per test), its Powertools JSON log lines written to stdout."""
    module = load_migrator_module()
    # Powertools keeps one handler per service name, bound to the stream of the first load; point it at this test's
    # stdout so capsys sees the JSON lines.
    module.logger.registered_handler.stream = sys.stdout
    yield module
    sys.modules.pop(module.__name__, None)


@pytest.fixture
def invoke(migrator):
    """Invoke the handler as Lambda would: ``invoke(event, context, module=...)`` (another module = another
    container)."""

    def _invoke(event=None, context: LambdaContext | None = None, module=None):
        return (module or migrator).handler({} if event is None else event, context or LambdaContext())

    return _invoke


# -- an empty database, then again ---------------------------------------------------------------------------------
def test_empty_database_gets_every_migration_and_db_status_agrees(empty_database_url, deploy, invoke, pg_server):
    deploy(empty_database_url, shared_app_password(pg_server))
    result = invoke({"migrations_sha256": migrations_sha256_of(MIGRATIONS_DIR), "app_secret_version": "v1"})

    assert result == {"applied": EXPECTED, "already_applied": 0, "app_password_set": True}
    assert json.loads(json.dumps(result)) == result  # what Lambda returns to the Invocation
    assert EXPECTED[:4] == ["0001_schema", "0002_roles", "0003_users_bio", "0004_app_password_login"]
    # cruddur db status reads the same bookkeeping
    assert [(s.id, s.applied) for s in migrations.status(DbTarget(empty_database_url))] == [(m, True) for m in EXPECTED]
    assert migrations.pending(DbTarget(empty_database_url)) == []
    log = query(empty_database_url, "SELECT migration_id, operation, username FROM _yoyo_log ORDER BY created_at_utc")
    assert log == [(m, "apply", FUNCTION_NAME) for m in EXPECTED]
    assert lock_rows(empty_database_url) == 0
    assert query(empty_database_url, "SELECT to_regclass('public.users') IS NOT NULL")[0][0] is True


def test_second_invocation_is_a_no_op(empty_database_url, deploy, invoke, pg_server):
    deploy(empty_database_url, shared_app_password(pg_server))
    invoke()
    before = applied_rows(empty_database_url)
    assert invoke() == {"applied": [], "already_applied": len(EXPECTED), "app_password_set": True}
    assert applied_rows(empty_database_url) == before and [r[0] for r in before] == EXPECTED


def test_a_database_migrated_by_cruddur_db_migrate_is_up_to_date_for_the_migrator(empty_database_url, deploy, invoke,
                                                                                  pg_server, tmp_path):
    # an operator applied the first two through the tunnel; the function applies the rest
    migrations.apply(DbTarget(empty_database_url), directory=copy_migrations(tmp_path / "old", {"0001_schema", "0002_roles"}))
    deploy(empty_database_url, shared_app_password(pg_server))
    assert invoke() == {"applied": EXPECTED[2:], "already_applied": 2, "app_password_set": True}
    assert migrations.apply(DbTarget(empty_database_url)) == []  # and cruddur db migrate finds nothing to do


def test_the_role_url_fixture_and_these_tests_share_the_app_password(migrated_database_url, role_url, pg_server):
    assert parse(role_url(migrated_database_url, "cruddur_app")).password == shared_app_password(pg_server)


# -- concurrency ---------------------------------------------------------------------------------------------------
def test_two_concurrent_invocations_apply_each_migration_once(empty_database_url, deploy, invoke, pg_server):
    deploy(empty_database_url, shared_app_password(pg_server))
    results, errors = [], []
    containers = [load_migrator_module(), load_migrator_module()]

    def run(module):
        try:
            results.append(invoke(module=module))
        except Exception as exc:  # noqa: BLE001 - collected and reported by the caller; reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(module,)) for module in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert sorted((r["applied"], r["already_applied"]) for r in results) == [([], len(EXPECTED)), (EXPECTED, 0)]
    assert all(r["app_password_set"] for r in results)
    assert [r[0] for r in applied_rows(empty_database_url)] == EXPECTED
    assert query(empty_database_url, "SELECT count(*) FROM _yoyo_log")[0][0] == len(EXPECTED)
    assert lock_rows(empty_database_url) == 0
    for module in containers:
        sys.modules.pop(module.__name__, None)


def test_the_migrator_and_cruddur_db_migrate_share_the_lock(empty_database_url, deploy, invoke, pg_server):
    deploy(empty_database_url, shared_app_password(pg_server))
    results, errors = {}, []

    def run(name, work):
        try:
            results[name] = work()
        except Exception as exc:  # noqa: BLE001 - collected and reported by the caller; reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=("operator", lambda: migrations.apply(DbTarget(empty_database_url)))),
               threading.Thread(target=run, args=("function", lambda: invoke()["applied"]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert sorted(results.values()) == [[], EXPECTED]  # one of them applied everything, the other nothing
    assert [r[0] for r in applied_rows(empty_database_url)] == EXPECTED
    assert lock_rows(empty_database_url) == 0


def test_a_run_waits_for_the_lock_and_says_how_to_clear_a_stale_one(migrated_database_url, deploy, invoke, migrator,
                                                                    pg_server, monkeypatch):
    deploy(migrated_database_url, shared_app_password(pg_server))
    monkeypatch.setenv("MIGRATION_LOCK_TIMEOUT_S", "1")
    query(migrated_database_url, "INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), 4242)")
    with pytest.raises(migrator.MigrationLocked) as caught:
        invoke()
    assert str(caught.value) == (
        f"another migration run holds yoyo's lock on {parse(migrated_database_url).database} (waited 1 s); nothing "
        "was applied. If no migration is running (a run that was killed leaves its row), clear it through the "
        "operator tunnel: DELETE FROM yoyo_lock; then run pulumi up again")
    assert query(migrated_database_url, "SELECT pid FROM yoyo_lock") == [(4242,)]  # someone else's row: left alone


def test_the_lock_wait_ends_well_before_lambda_would_kill_the_invocation(migrated_database_url, deploy, invoke,
                                                                          migrator, pg_server):
    deploy(migrated_database_url, shared_app_password(pg_server))
    query(migrated_database_url, "INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), 4242)")
    # 32 s left: wait at most 32 - 2 x 15 = 2 s, not the configured 120 s
    with pytest.raises(migrator.MigrationLocked, match=r"\(waited 2 s\); nothing was applied"):
        invoke(context=LambdaContext(remaining_ms=32_000))


# -- failures: nothing half-applied ---------------------------------------------------------------------------------
BROKEN = "CREATE TABLE half_done (id int);\nINSERT INTO half_done VALUES (1);\nSELECT no_such_function();\n"
FIXED = "CREATE TABLE half_done (id int);\nINSERT INTO half_done VALUES (1);\n"


def test_a_failing_migration_is_rolled_back_entirely_and_the_next_good_run_succeeds(
        migrated_database_url, deploy, invoke, migrator, pg_server, tmp_path):
    package = copy_migrations(tmp_path / "migrations")
    (package / "0900_half_done.sql").write_text(BROKEN)
    deploy(migrated_database_url, shared_app_password(pg_server), package)
    before = applied_rows(migrated_database_url)

    with pytest.raises(migrator.MigrationFailed) as caught:
        invoke()
    assert str(caught.value) == (
        "migration 0900_half_done failed and was rolled back, nothing of it is applied (function no_such_function() "
        "does not exist, SQLSTATE 42883). Fix it in a new commit (an applied migration is never edited) and run "
        "pulumi up again")
    assert query(migrated_database_url, "SELECT to_regclass('public.half_done')")[0][0] is None
    assert applied_rows(migrated_database_url) == before
    assert query(migrated_database_url,
                 "SELECT count(*) FROM _yoyo_log WHERE migration_id = '0900_half_done'") == [(0,)]
    assert lock_rows(migrated_database_url) == 0
    assert migrations.pending(DbTarget(migrated_database_url), directory=package) == ["0900_half_done"]

    (package / "0900_half_done.sql").write_text(FIXED)
    assert invoke() == {"applied": ["0900_half_done"], "already_applied": len(EXPECTED), "app_password_set": True}
    assert query(migrated_database_url, "SELECT id FROM half_done") == [(1,)]
    assert lock_rows(migrated_database_url) == 0


def test_a_migration_and_its_bookkeeping_commit_together_or_not_at_all(migrated_database_url, deploy, invoke,
                                                                         migrator, pg_server, tmp_path):
    """The migration below succeeds but makes its own ``_yoyo_migration`` row fail to insert: the migration is rolled
    back with it (yoyo alone commits the migration, then marks it in a second transaction)."""
    package = copy_migrations(tmp_path / "migrations")
    (package / "0900_marked_early.sql").write_text(
        "CREATE TABLE marked_early (id int);\n"
        "INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc) "
        "VALUES (encode(sha256('0900_marked_early'::bytea), 'hex'), 'squatter', now());\n")
    deploy(migrated_database_url, shared_app_password(pg_server), package)
    with pytest.raises(migrator.MigrationFailed, match=r"^migration 0900_marked_early failed and was rolled back, "
                                                       r"nothing of it is applied \(duplicate key value violates "
                                                       r"unique constraint .*SQLSTATE 23505\)"):
        invoke()
    assert query(migrated_database_url, "SELECT to_regclass('public.marked_early')")[0][0] is None
    assert [r[0] for r in applied_rows(migrated_database_url)] == EXPECTED
    assert lock_rows(migrated_database_url) == 0


def test_a_failure_after_good_migrations_keeps_them_and_says_which(empty_database_url, deploy, invoke, migrator,
                                                                   pg_server, tmp_path):
    package = copy_migrations(tmp_path / "migrations")
    (package / "0900_half_done.sql").write_text(BROKEN)
    deploy(empty_database_url, shared_app_password(pg_server), package)
    with pytest.raises(migrator.MigrationFailed, match=r"^migration 0900_half_done failed and was rolled back.*"
                                                       rf"applied before it: {', '.join(EXPECTED)}\. Fix it"):
        invoke()
    assert [r[0] for r in applied_rows(empty_database_url)] == EXPECTED
    assert lock_rows(empty_database_url) == 0


def test_a_migration_depending_on_one_that_is_not_packaged_is_refused(migrated_database_url, deploy, invoke,
                                                                        migrator, pg_server, tmp_path):
    package = copy_migrations(tmp_path / "migrations")
    (package / "0900_orphan.sql").write_text("-- depends: 0899_missing\nCREATE TABLE orphan (id int);\n")
    deploy(migrated_database_url, shared_app_password(pg_server), package)
    with pytest.raises(migrator.MigrationFailed, match=r"^the packaged migrations cannot be read \(Could not resolve "
                                                       r"dependencies in .*0900_orphan\.sql\); nothing was applied"):
        invoke()
    assert query(migrated_database_url, "SELECT to_regclass('public.orphan')")[0][0] is None
    assert lock_rows(migrated_database_url) == 0


def test_a_database_newer_than_the_package_is_refused_before_anything_is_applied(
        migrated_database_url, deploy, invoke, migrator, pg_server, tmp_path):
    # an old commit: it knows only the first two migrations, plus one the database never saw
    package = copy_migrations(tmp_path / "old", {"0001_schema", "0002_roles"})
    (package / "0099_old_branch.sql").write_text("CREATE TABLE old_branch (id int);\n")
    deploy(migrated_database_url, shared_app_password(pg_server), package)
    before = applied_rows(migrated_database_url)

    with pytest.raises(migrator.SchemaNewerThanPackage) as caught:
        invoke()
    newer = ", ".join(m for m in EXPECTED if m not in {"0001_schema", "0002_roles"})
    assert str(caught.value) == (
        f"the database has applied migrations this package does not have ({newer}): an older commit is being "
        "deployed over a newer schema; nothing was applied. Deploy the commit that added them (or a later one); "
        "migrations are forward-only")
    assert query(migrated_database_url, "SELECT to_regclass('public.old_branch')")[0][0] is None
    assert applied_rows(migrated_database_url) == before
    assert lock_rows(migrated_database_url) == 0


# -- the app role's password ----------------------------------------------------------------------------------------
APP_QUERIES_CHECK = (
    "SELECT users.uuid, users.handle, users.display_name, users.bio FROM public.users "
    "WHERE users.cognito_user_id = %(sub)s LIMIT 1"
)


def test_the_app_password_is_set_and_the_app_logs_in_with_it_but_cannot_change_the_schema(own_server, deploy, invoke):
    admin = own_server.admin_url("postgres")
    query(admin, "SELECT 1")
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE cruddur")
        # every statement the server runs goes to its log: the password must not be among them
        cur.execute("ALTER SYSTEM SET log_statement = 'all'")
        cur.execute("SELECT pg_reload_conf()")
    conn.close()
    url = own_server.admin_url("cruddur")
    password = secrets.token_urlsafe(24)
    target = deploy(url, password)

    assert invoke() == {"applied": EXPECTED, "already_applied": 0, "app_password_set": True}

    (verifier,) = query(url, "SELECT rolpassword FROM pg_authid WHERE rolname = 'cruddur_app'")[0]
    assert verifier.startswith("SCRAM-SHA-256$4096:") and password not in verifier
    info = parse(url)
    app = psycopg2.connect(host=info.host, port=info.port, dbname="cruddur", user="cruddur_app", password=password)
    app.autocommit = True
    try:
        with app.cursor() as cur:
            cur.execute("INSERT INTO users (display_name, handle, email, cognito_user_id, bio) "
                        "VALUES ('Ann', 'ann', 'ann@example.com', 'sub-ann', 'hello') RETURNING uuid")
            uid = cur.fetchone()[0]
            cur.execute(APP_QUERIES_CHECK, {"sub": "sub-ann"})
            assert cur.fetchone() == (uid, "ann", "Ann", "hello")
            for forbidden in ("CREATE TABLE sneaky (id int)", "ALTER TABLE users ADD COLUMN x int", "DROP TABLE users",
                              "TRUNCATE activities"):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(forbidden)
    finally:
        app.close()
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(host=info.host, port=info.port, dbname="cruddur", user="cruddur_app",
                         password="not-" + password).close()

    # a new password in the secret (rotation): the next run sets it
    rotated = secrets.token_urlsafe(24)
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=target.app_secret_arn, SecretString=json.dumps({"username": "cruddur_app", "password": rotated}))
    assert invoke() == {"applied": [], "already_applied": len(EXPECTED), "app_password_set": True}
    psycopg2.connect(host=info.host, port=info.port, dbname="cruddur", user="cruddur_app", password=rotated).close()

    server_log = own_server.log_file.read_text(errors="replace")
    assert "ALTER ROLE" in server_log  # the statement is logged ...
    assert password not in server_log and rotated not in server_log  # ... with a verifier, never the password


def test_no_password_or_verifier_in_any_log_line_or_error(empty_database_url, deploy, invoke, migrator, pg_server,
                                                          tmp_path, capsys, caplog):
    migrator.logger.registered_handler.stream = sys.stdout  # capsys's stdout, now that it is active
    caplog.set_level(logging.INFO)  # the Lambda's application log level (components/migrator.py)
    caplog.set_level(logging.DEBUG, logger="yoyo")  # yoyo logs every statement it executes at DEBUG
    package = copy_migrations(tmp_path / "migrations")
    target = deploy(empty_database_url, shared_app_password(pg_server), package)
    invoke()
    (package / "0900_half_done.sql").write_text(BROKEN)
    with pytest.raises(migrator.MigrationFailed) as failed:
        invoke()
    output = capsys.readouterr().out
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert {line["message"] for line in lines} >= {"secrets read", "migrations to apply", "migration applied",
                                                   "migration run done", "migration run failed"}
    everything = output + caplog.text + str(failed.value)
    for secret in (target.master_password, target.app_password, "SCRAM-SHA-256$", "postgresql://"):
        assert secret not in everything


# -- the event and the package -------------------------------------------------------------------------------------
def migrations_sha256_of(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.sql"), key=lambda p: p.name):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def test_migrations_sha256_is_name_nul_content_nul_over_the_sorted_sql_files(migrator, tmp_path):
    (tmp_path / "b.sql").write_bytes(b"SELECT 2;\n")
    (tmp_path / "a.sql").write_bytes(b"SELECT 1;\n")
    (tmp_path / "notes.txt").write_bytes(b"not a migration")
    expected = hashlib.sha256(b"a.sql\0SELECT 1;\n\0b.sql\0SELECT 2;\n\0").hexdigest()
    assert migrator.migrations_sha256(tmp_path) == expected
    assert migrator.migrations_sha256(MIGRATIONS_DIR) == migrations_sha256_of(MIGRATIONS_DIR)
    (tmp_path / "a.sql").write_bytes(b"SELECT 1; \n")  # any byte changes it
    assert migrator.migrations_sha256(tmp_path) != expected


def test_an_event_for_other_migrations_is_refused_before_anything_is_read(empty_database_url, deploy, invoke,
                                                                          migrator, pg_server):
    deploy(empty_database_url, shared_app_password(pg_server))
    package = migrations_sha256_of(MIGRATIONS_DIR)
    with pytest.raises(migrator.PackageMismatch) as caught:
        invoke({"migrations_sha256": "0" * 64})
    assert str(caught.value) == (
        f"the event's migrations_sha256 {'0' * 64} is not the hash of the migrations this function carries "
        f"({package}): the deployed function is not the one this deployment built; run pulumi up again so the "
        "function and its invocation come from the same commit")
    assert applied_rows(empty_database_url) == []


def test_an_event_with_the_packages_hash_and_unknown_keys_runs(empty_database_url, deploy, invoke, pg_server):
    deploy(empty_database_url, shared_app_password(pg_server))
    event = {"migrations_sha256": migrations_sha256_of(MIGRATIONS_DIR), "app_secret_version": "abc", "extra": [1]}
    assert invoke(event)["applied"] == EXPECTED


@pytest.mark.parametrize(("event", "message"), [
    ("migrate please", "the event must be a JSON object such as {\"migrations_sha256\": \"<hex>\"}, got str"),
    ([1, 2], "the event must be a JSON object such as {\"migrations_sha256\": \"<hex>\"}, got list"),
    (None, "the event must be a JSON object such as {\"migrations_sha256\": \"<hex>\"}, got NoneType"),
    ({"migrations_sha256": "ABC"}, "the event's migrations_sha256 must be 64 lower-case hex characters, got 'ABC'"),
    ({"migrations_sha256": 12}, "the event's migrations_sha256 must be 64 lower-case hex characters, got 12"),
    ({"app_secret_version": 3}, "the event's app_secret_version must be a string, got int"),
])
def test_a_malformed_event_is_a_clear_error(empty_database_url, deploy, migrator, pg_server, event, message):
    deploy(empty_database_url, shared_app_password(pg_server))
    migrator.logger.registered_handler.stream = sys.stdout
    with pytest.raises(migrator.MalformedEvent) as caught:
        migrator.handler(event, LambdaContext())
    assert str(caught.value) == message
    assert applied_rows(empty_database_url) == []


# -- secrets and configuration --------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["master", "app"])
def test_a_secret_without_a_password_is_a_clear_error(empty_database_url, deploy, invoke, migrator, pg_server, which):
    info = parse(empty_database_url)
    no_password = {"engine": "postgres", "host": info.host, "port": info.port, "dbname": info.database,
                   "username": info.user if which == "master" else "cruddur_app"}
    target = deploy(empty_database_url, shared_app_password(pg_server), **{which: no_password})
    with pytest.raises(migrator.SecretError) as caught:
        invoke()
    arn = target.master_secret_arn if which == "master" else target.app_secret_arn
    assert str(caught.value) == (f"the {which} secret {arn} has no 'password': put the RDS JSON shape "
                                 "{\"username\", \"password\", ...} in it")
    assert applied_rows(empty_database_url) == []


def test_a_secret_that_is_not_json_is_refused_without_quoting_it(empty_database_url, deploy, invoke, migrator, aws,
                                                                 pg_server):
    target = deploy(empty_database_url, shared_app_password(pg_server))
    aws.put_secret_value(SecretId=target.app_secret_arn, SecretString="hunter2-not-json")
    with pytest.raises(migrator.SecretError) as caught:
        invoke()
    assert str(caught.value) == (f"the app secret {target.app_secret_arn} is not a JSON object in the RDS shape "
                                 "{\"username\", \"password\", ...}: put a value of that shape in it")


def test_a_missing_secret_names_it_and_the_permission_to_check(empty_database_url, deploy, invoke, migrator,
                                                               pg_server, monkeypatch):
    deploy(empty_database_url, shared_app_password(pg_server))
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:cruddur/gone-AbCdEf"
    monkeypatch.setenv("MASTER_SECRET_ARN", arn)
    with pytest.raises(migrator.SecretError) as caught:
        invoke()
    assert str(caught.value) == (f"cannot read the master secret {arn} (ResourceNotFoundException): check that it "
                                 "exists and that the function's role may secretsmanager:GetSecretValue on it and "
                                 "kms:Decrypt its key")


def test_an_app_secret_for_another_role_is_refused(empty_database_url, deploy, invoke, migrator, pg_server):
    target = deploy(empty_database_url, "x", app={"username": "cruddur_confirmation", "password": "whatever-123"})
    with pytest.raises(migrator.ConfigurationError) as caught:
        invoke()
    assert str(caught.value) == (f"the app secret {target.app_secret_arn} is for cruddur_confirmation, not APP_ROLE "
                                 "cruddur_app (or cruddur_app_clone): point APP_SECRET_ARN at the app role's secret")


def test_the_master_user_is_never_the_app_role(empty_database_url, deploy, invoke, migrator, pg_server, monkeypatch):
    info = parse(empty_database_url)
    deploy(empty_database_url, "x", app={"username": info.user, "password": info.password})
    monkeypatch.setenv("APP_ROLE", info.user)
    with pytest.raises(migrator.ConfigurationError) as caught:
        invoke()
    assert str(caught.value) == (f"APP_ROLE {info.user} is the master user; the migrator sets only the app role's "
                                 "password")


@pytest.mark.parametrize(("env", "message"), [
    ({"DB_HOST": ""}, "the migrator's environment lacks DB_HOST: components/migrator.py sets them; redeploy the "
                      "function"),
    ({"MASTER_SECRET_ARN": "", "DB_NAME": ""}, "the migrator's environment lacks MASTER_SECRET_ARN, DB_NAME: "
                                               "components/migrator.py sets them; redeploy the function"),
    ({"DB_SSLMODE": "require"}, "DB_SSLMODE must be verify-full (the default) or disable (tests against a local "
                                "server only), got 'require'"),
    ({"DB_HOST": "cruddur-dev.abc123.eu-west-1.rds.amazonaws.com"},
     "DB_SSLMODE=disable is for tests against a local server; cruddur-dev.abc123.eu-west-1.rds.amazonaws.com is an "
     "RDS host, which the migrator reaches only with TLS verify-full: unset DB_SSLMODE"),
    ({"DB_PORT": "five"}, "DB_PORT must be a whole number, got 'five'"),
    ({"APP_ROLE": "cruddur_app; DROP ROLE x"}, "APP_ROLE must be a plain lower-case role name, got "
                                               "'cruddur_app; DROP ROLE x'"),
    ({"MIGRATIONS_DIR": "/nonexistent/migrations"}, "no migrations (*.sql) in /nonexistent/migrations: the function's "
                                                    "package must carry sql/migrations as migrations/; rebuild it"),
])
def test_configuration_errors_name_what_to_fix(empty_database_url, deploy, invoke, migrator, pg_server, monkeypatch,
                                               env, message):
    deploy(empty_database_url, shared_app_password(pg_server))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(migrator.ConfigurationError) as caught:
        invoke()
    assert str(caught.value) == message


def test_on_aws_the_connection_is_verify_full_against_the_packaged_bundle_with_bounded_waits(migrator, monkeypatch,
                                                                                             tmp_path):
    bundle = tmp_path / "global-bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    for name in MIGRATOR_ENV:
        monkeypatch.delenv(name, raising=False)
    host = "cruddur-dev.abc123.eu-west-1.rds.amazonaws.com"
    for name, value in {"MASTER_SECRET_ARN": "arn:master", "APP_SECRET_ARN": "arn:app", "DB_HOST": host,
                        "DB_PORT": "5432", "DB_NAME": "cruddur", "DB_SSLROOTCERT": str(bundle),
                        "MIGRATIONS_DIR": str(MIGRATIONS_DIR)}.items():
        monkeypatch.setenv(name, value)
    config = migrator.load_config()
    kwargs = migrator.connect_kwargs(config, {"username": "cruddur_admin", "password": "pw"}, 285_000)
    assert kwargs == {"host": host, "port": 5432, "dbname": "cruddur", "user": "cruddur_admin", "password": "pw",
                      "connect_timeout": 10, "application_name": "cruddur-migrator", "keepalives": 1,
                      "keepalives_idle": 30, "sslmode": "verify-full", "sslrootcert": str(bundle),
                      "options": "-c statement_timeout=285000"}
    assert (config.app_role, config.lock_timeout_s) == ("cruddur_app", 120)
    assert migrator.DEFAULT_CA_BUNDLE == migrator.HERE / "global-bundle.pem"  # where the package puts it
    assert migrator.DEFAULT_MIGRATIONS_DIR == migrator.HERE / "migrations"


def test_verify_full_is_the_default_and_needs_the_packaged_ca_bundle(empty_database_url, deploy, invoke, migrator,
                                                                     pg_server, monkeypatch):
    deploy(empty_database_url, shared_app_password(pg_server))
    monkeypatch.delenv("DB_SSLMODE")
    with pytest.raises(migrator.ConfigurationError) as caught:
        invoke()  # the repository's lambda/migrator has no global-bundle.pem: the package gets it at build time
    assert str(caught.value) == (f"the RDS CA bundle {migrator.DEFAULT_CA_BUNDLE} is missing from the package; TLS "
                                 "verify-full cannot work without it: rebuild the function's package")


def test_verify_full_against_a_server_without_tls_fails_to_connect_and_says_so(empty_database_url, deploy, invoke,
                                                                               migrator, pg_server, monkeypatch):
    deploy(empty_database_url, shared_app_password(pg_server))
    monkeypatch.delenv("DB_SSLMODE")
    bundle = Path(__file__).resolve().parents[2] / "lambda" / "post_confirmation" / "global-bundle.pem"
    monkeypatch.setenv("DB_SSLROOTCERT", str(bundle))
    with pytest.raises(migrator.DatabaseUnavailable, match=r"^cannot connect to .* as the master user: "):
        invoke()
    assert applied_rows(empty_database_url) == []


def test_an_unreachable_database_is_a_clear_error_without_the_password(down_database_url, deploy, invoke, migrator):
    target = deploy(down_database_url, "x")
    info = parse(down_database_url)
    with pytest.raises(migrator.DatabaseUnavailable) as caught:
        invoke()
    message = str(caught.value)
    assert message.startswith(f"cannot connect to {info.host}:{info.port}/{info.database} as the master user: ")
    assert message.endswith("check the database's security group admits the migrator's, and the master secret is "
                            "current")
    assert target.master_password not in message


def test_the_migrator_sets_the_user_the_app_secret_names_and_never_breaks_the_other(own_server, deploy, invoke,
                                                                                  migrator):
    """After a rotation (alternating users) AWSCURRENT names cruddur_app_clone: a deploy sets that user's password and
    leaves cruddur_app's, the previous credentials the app may still hold, as they were."""
    admin = own_server.admin_url("postgres")
    query(admin, "SELECT 1")
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE cruddur")
    conn.close()
    url = own_server.admin_url("cruddur")
    first = secrets.token_urlsafe(24)
    target = deploy(url, first)
    assert invoke()["app_password_set"] is True
    info = parse(url)

    def logs_in(user: str, password: str) -> bool:
        try:
            psycopg2.connect(host=info.host, port=info.port, dbname="cruddur", user=user, password=password).close()
            return True
        except psycopg2.OperationalError:
            return False

    assert logs_in("cruddur_app", first) and not logs_in("cruddur_app_clone", first)
    rotated = secrets.token_urlsafe(24)
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=target.app_secret_arn, SecretString=json.dumps({"username": "cruddur_app_clone", "password": rotated}))
    assert invoke() == {"applied": [], "already_applied": len(EXPECTED), "app_password_set": True}
    assert logs_in("cruddur_app_clone", rotated) and logs_in("cruddur_app", first)

    # a clone that lost cruddur_app's privileges would leave the app unable to work: refused, nothing changed
    query(url, "REVOKE cruddur_app FROM cruddur_app_clone")
    again = secrets.token_urlsafe(24)
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=target.app_secret_arn, SecretString=json.dumps({"username": "cruddur_app_clone", "password": again}))
    with pytest.raises(migrator.AppPasswordFailed) as caught:
        invoke()
    assert str(caught.value) == ("cruddur_app_clone does not inherit cruddur_app's privileges, so the app could not "
                                 "work as cruddur_app_clone: GRANT cruddur_app TO cruddur_app_clone (sql/migrations/"
                                 "0006_app_clone_role.sql does), then deploy again")
    assert logs_in("cruddur_app_clone", rotated) and not logs_in("cruddur_app_clone", again)


# -- the master password mid-rotation (lambda/shared/master_login.py) -----------------------------------------------
def rotating_master(own_server, database_password: str) -> str:
    """A private server with a database ``cruddur`` and a master ``cruddur_master`` whose password on the server is
    ``database_password``; returns the admin URL of ``cruddur``."""
    admin = own_server.admin_url("postgres")
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE cruddur")
        cur.execute("CREATE ROLE cruddur_master LOGIN SUPERUSER PASSWORD %s", (database_password,))
    conn.close()
    return own_server.admin_url("cruddur")


def master_value(url: str, password: str) -> dict:
    info = parse(url)
    return {"engine": "postgres", "host": info.host, "port": info.port, "username": "cruddur_master",
            "password": password, "dbname": "cruddur"}


def record_secret_reads(monkeypatch) -> list[dict]:
    """Every GetSecretValue the function's boto3 client sends (its parameters), through botocore's event hooks on a
    fresh default session (the handler builds its client with ``boto3.client``)."""
    calls: list[dict] = []
    session = boto3.session.Session()
    session.events.register("before-parameter-build.secrets-manager.GetSecretValue",
                            lambda params, **_: calls.append(dict(params)))
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    return calls


def json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def login_lines(output: str) -> list[dict]:
    """The log lines of the login through a rotation (master_login.connect_through_rotation and what it calls)."""
    return [line for line in json_lines(output) if line["location"].split(":")[0] in
            ("connect_through_rotation", "read_stage")]


def test_mid_rotation_the_migrator_logs_in_with_awspending_and_migrates(own_server, deploy, invoke, migrator, aws,
                                                                         monkeypatch, capsys):
    """Between setSecret and finishSecret the database has the AWSPENDING password and refuses AWSCURRENT's."""
    old, new = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    url = rotating_master(own_server, new)
    app_password = secrets.token_urlsafe(24)
    target = deploy(url, app_password, master=master_value(url, old))
    aws.put_secret_value(SecretId=target.master_secret_arn, SecretString=json.dumps(master_value(url, new)),
                         VersionStages=["AWSPENDING"])
    reads = record_secret_reads(monkeypatch)
    migrator.logger.registered_handler.stream = sys.stdout  # capsys's stdout, now that it is active

    assert invoke() == {"applied": EXPECTED, "already_applied": 0, "app_password_set": True}

    assert applied_rows(url) == [(m, mock.ANY) for m in EXPECTED]
    # the master's AWSCURRENT, the app's AWSCURRENT (and nothing else of the app secret), then the master's AWSPENDING
    assert reads == [{"SecretId": target.master_secret_arn}, {"SecretId": target.app_secret_arn},
                     {"SecretId": target.master_secret_arn, "VersionStage": "AWSPENDING"}]
    output = capsys.readouterr().out
    logins = [(line["level"], line["message"], line.get("secret_stage")) for line in login_lines(output)]
    assert logins == [
        ("WARNING", "the master secret's AWSCURRENT password was refused (SQLSTATE 28P01): trying its AWSPENDING and "
                    "AWSPREVIOUS versions (a rotation in progress, or a copy restored from before the last one)",
         "AWSCURRENT"),
        ("INFO", "logged in with the master secret's AWSPENDING version", "AWSPENDING")]
    for secret in (old, new, app_password):
        assert secret not in output
    # the app's password came from the app secret's AWSCURRENT, as always
    info = parse(url)
    psycopg2.connect(host=info.host, port=info.port, dbname="cruddur", user="cruddur_app",
                     password=app_password).close()


def test_a_master_password_in_no_stage_is_the_same_clear_failure_as_before(own_server, deploy, invoke, migrator, aws,
                                                                          capsys):
    url = rotating_master(own_server, secrets.token_urlsafe(24))
    wrong = [secrets.token_urlsafe(24) for _ in range(3)]
    target = deploy(url, "x", master=master_value(url, wrong[0]))
    info = parse(url)
    before = (f"cannot connect to {info.host}:{info.port}/cruddur as the master user: connection to server at "
              f"\"{info.host}\", port {info.port} failed: FATAL:  password authentication failed for user "
              "\"cruddur_master\"; check the database's security group admits the migrator's, and the master secret "
              "is current")
    with pytest.raises(migrator.DatabaseUnavailable) as only_current:
        invoke()
    assert str(only_current.value) == before
    capsys.readouterr()

    aws.put_secret_value(SecretId=target.master_secret_arn, SecretString=json.dumps(master_value(url, wrong[1])))
    aws.put_secret_value(SecretId=target.master_secret_arn, SecretString=json.dumps(master_value(url, wrong[2])),
                         VersionStages=["AWSPENDING"])  # AWSCURRENT wrong[1], AWSPREVIOUS wrong[0], AWSPENDING wrong[2]
    migrator.logger.registered_handler.stream = sys.stdout
    with pytest.raises(migrator.DatabaseUnavailable) as every_stage:
        invoke()
    assert str(every_stage.value) == before
    output = capsys.readouterr().out
    assert [line["message"] for line in login_lines(output)][1:] == [
        "the master secret's AWSPENDING password was refused too",
        "the master secret's AWSPREVIOUS password was refused too",
        "no version of the master secret logged in (AWSCURRENT, AWSPENDING, AWSPREVIOUS)"]
    assert not any(password in output for password in wrong)
    assert applied_rows(url) == []


def test_a_database_that_is_down_is_not_retried_through_the_stages(down_database_url, deploy, invoke, migrator, aws,
                                                                   monkeypatch, capsys):
    target = deploy(down_database_url, "x")
    pending = dict(json.loads(aws.get_secret_value(SecretId=target.master_secret_arn)["SecretString"]),
                   password="another-" + secrets.token_urlsafe(12))
    aws.put_secret_value(SecretId=target.master_secret_arn, SecretString=json.dumps(pending),
                         VersionStages=["AWSPENDING"])
    reads = record_secret_reads(monkeypatch)
    migrator.logger.registered_handler.stream = sys.stdout
    info = parse(down_database_url)
    with pytest.raises(migrator.DatabaseUnavailable) as caught:
        invoke()
    assert str(caught.value).startswith(f"cannot connect to {info.host}:{info.port}/{info.database} as the master "
                                        "user: connection to server at ")
    assert "Connection refused" in str(caught.value)
    assert reads == [{"SecretId": target.master_secret_arn}, {"SecretId": target.app_secret_arn}]  # no other stage
    output = capsys.readouterr().out
    assert login_lines(output) == []
    assert target.master_password not in output and pending["password"] not in output
