"""The migrator's database function (``handler.db_handler``, ``lambda/migrator/db.py``) on its own, against a REAL
PostgreSQL, with no AWS at all: each test sends it the payload the outer function would (``handler.py``'s
docstring) with the environment ``components/migrator.py`` gives it (DB_HOST/PORT/NAME, APP_ROLE) plus
``DB_SSLMODE=disable`` (the suite's server has no SSL) and ``MIGRATIONS_DIR`` (the repository's ``sql/migrations``),
and checks the database with a separate admin connection and with ``ops.db.migrations.status`` (what ``cruddur db
status`` shows). The outer function, with Secrets Manager, is ``test_migrator_outer.py``.

Roles are cluster-wide: on the suite's shared server the payload carries the app password ``role_url`` sets (so no
other test's login breaks); the tests that prove the password is set use a private server (``own_server``).
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest

from ops.db import migrations
from ops.db.target import DbTarget
from ops.urls import build_url, parse
from tests.db_support import at_once
from tests.lambda_support import LambdaContext
from tests.migrator_support import (
    DB_FUNCTION_NAME,
    EXPECTED,
    FUNCTION_NAME,
    MIGRATOR_DIR,
    REPO_MIGRATIONS,
    applied_rows,
    copy_migrations,
    json_lines,
    load_migrator_module,
    lock_rows,
    login_lines,
    master_login_as,
    migrations_sha256_of,
    migrator_context,
    query,
    recorded_logins,
    rotating_master,
    shared_app_password,
)


def payload(url: str, app_password: str, migrations_dir: Path = REPO_MIGRATIONS, *, candidates=None,
            app_user: str = "cruddur_app") -> dict:
    """What the outer function sends: the master's credentials of ``url`` as the only candidate, unless given."""
    info = parse(url)
    return {"action": "migrate", "migrations_sha256": migrations_sha256_of(migrations_dir),
            "master_candidates": candidates or [{"stage": "AWSCURRENT", "username": info.user,
                                                 "password": info.password}],
            "app": {"username": app_user, "password": app_password}, "app_secret_version": "v1"}


@pytest.fixture
def deploy(db_env):
    """``deploy(url, app_password, migrations_dir=..., **payload options) -> payload``: the function's environment
    for ``url``'s database, and the payload for it."""
    def _deploy(url: str, app_password: str, migrations_dir: Path = REPO_MIGRATIONS, **options) -> dict:
        db_env(url, migrations_dir)
        return payload(url, app_password, migrations_dir, **options)

    return _deploy


@pytest.fixture
def call(migrator):
    """Invoke the database function as Lambda would: ``call(payload, context=None, module=None)``."""
    def _call(event, context: LambdaContext | None = None, module=None):
        return (module or migrator).db_handler(event, context or migrator_context(DB_FUNCTION_NAME))

    return _call


# -- with no AWS SDK at all -----------------------------------------------------------------------------------------
def test_the_database_function_migrates_with_boto3_and_botocore_unimportable(empty_database_url, pg_server,
                                                                              without_aws):
    """In the VPC there is no route to any AWS API: the function imports no AWS SDK and makes no AWS call (the
    child's import hook refuses boto3 and botocore; Powertools does without)."""
    info = parse(empty_database_url)
    event = payload(empty_database_url, shared_app_password(pg_server))
    result = without_aws(f"""
import json, handler
class Context:
    function_name, function_version, memory_limit_in_mb = "{DB_FUNCTION_NAME}", "1", 256
    invoked_function_arn, aws_request_id = "arn:aws:lambda:eu-west-1:123456789012:function:x", "r-1"
    def get_remaining_time_in_millis(self):
        return 300_000
print(json.dumps(handler.db_handler(json.loads({json.dumps(json.dumps(event))}), Context())))
""", "migrator", env={"DB_HOST": info.host, "DB_PORT": str(info.port), "DB_NAME": info.database, "APP_ROLE": "cruddur_app",
          "DB_SSLMODE": "disable", "MIGRATIONS_DIR": str(REPO_MIGRATIONS), "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME})
    assert result == {"applied": EXPECTED, "already_applied": 0, "app_password_set": True}
    assert [(s.id, s.applied) for s in migrations.status(DbTarget(empty_database_url))] == [(m, True) for m in EXPECTED]


# -- an empty database, then again ---------------------------------------------------------------------------------
def test_second_invocation_is_a_no_op(empty_database_url, deploy, call, pg_server):
    event = deploy(empty_database_url, shared_app_password(pg_server))
    assert call(event) == {"applied": EXPECTED, "already_applied": 0, "app_password_set": True}
    before = applied_rows(empty_database_url)
    assert call(event) == {"applied": [], "already_applied": len(EXPECTED), "app_password_set": True}
    assert applied_rows(empty_database_url) == before and [r[0] for r in before] == EXPECTED
    log = query(empty_database_url, "SELECT migration_id, operation, username FROM _yoyo_log ORDER BY created_at_utc")
    assert log == [(m, "apply", FUNCTION_NAME) for m in EXPECTED]


def test_a_database_migrated_by_cruddur_db_migrate_is_up_to_date_for_the_migrator(empty_database_url, deploy, call,
                                                                                  pg_server, tmp_path):
    # an operator applied the first two through the tunnel; the function applies the rest
    migrations.apply(DbTarget(empty_database_url), directory=copy_migrations(tmp_path / "old", {"0001_schema",
                                                                                                 "0002_roles"}))
    event = deploy(empty_database_url, shared_app_password(pg_server))
    assert call(event) == {"applied": EXPECTED[2:], "already_applied": 2, "app_password_set": True}
    assert migrations.apply(DbTarget(empty_database_url)) == []  # and cruddur db migrate finds nothing to do


def test_the_role_url_fixture_and_these_tests_share_the_app_password(migrated_database_url, role_url, pg_server):
    assert parse(role_url(migrated_database_url, "cruddur_app")).password == shared_app_password(pg_server)


# -- concurrency ---------------------------------------------------------------------------------------------------
def test_two_concurrent_invocations_apply_each_migration_once(empty_database_url, deploy, call, pg_server):
    event = deploy(empty_database_url, shared_app_password(pg_server))
    containers = [load_migrator_module(), load_migrator_module()]
    results, errors = at_once(*[lambda module=module: call(event, module=module) for module in containers])
    assert errors == []
    assert sorted((r["applied"], r["already_applied"]) for r in results) == [([], len(EXPECTED)), (EXPECTED, 0)]
    assert all(r["app_password_set"] for r in results)
    assert [r[0] for r in applied_rows(empty_database_url)] == EXPECTED
    assert query(empty_database_url, "SELECT count(*) FROM _yoyo_log")[0][0] == len(EXPECTED)
    assert lock_rows(empty_database_url) == 0
    for module in containers:
        sys.modules.pop(module.__name__, None)


def test_the_migrator_and_cruddur_db_migrate_share_the_lock(empty_database_url, deploy, call, pg_server):
    event = deploy(empty_database_url, shared_app_password(pg_server))
    # the operator's cruddur db migrate and the function, at once
    results, errors = at_once(lambda: migrations.apply(DbTarget(empty_database_url)), lambda: call(event)["applied"])
    assert errors == []
    assert sorted(results) == [[], EXPECTED]  # one of them applied everything, the other nothing
    assert [r[0] for r in applied_rows(empty_database_url)] == EXPECTED
    assert lock_rows(empty_database_url) == 0


def test_a_run_waits_for_the_lock_and_says_how_to_clear_a_stale_one(migrated_database_url, deploy, call, migrator,
                                                                    pg_server, monkeypatch):
    event = deploy(migrated_database_url, shared_app_password(pg_server))
    monkeypatch.setenv("MIGRATION_LOCK_TIMEOUT_S", "1")
    query(migrated_database_url, "INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), 4242)")
    with pytest.raises(migrator.db.MigrationLocked) as caught:
        call(event)
    assert str(caught.value) == (
        f"another migration run holds yoyo's lock on {parse(migrated_database_url).database} (waited 1 s); nothing "
        "was applied. If no migration is running (a run that was killed leaves its row), clear it through the "
        "operator tunnel: DELETE FROM yoyo_lock; then run pulumi up again")
    assert query(migrated_database_url, "SELECT pid FROM yoyo_lock") == [(4242,)]  # someone else's row: left alone


def test_the_lock_wait_ends_well_before_lambda_would_kill_the_invocation(migrated_database_url, deploy, call,
                                                                          migrator, pg_server):
    event = deploy(migrated_database_url, shared_app_password(pg_server))
    query(migrated_database_url, "INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), 4242)")
    # 32 s left: wait at most 32 - 2 x 15 = 2 s, not the configured 120 s
    with pytest.raises(migrator.db.MigrationLocked, match=r"\(waited 2 s\); nothing was applied"):
        call(event, context=migrator_context(DB_FUNCTION_NAME, remaining_ms=32_000))


# -- failures: nothing half-applied ---------------------------------------------------------------------------------
BROKEN = "CREATE TABLE half_done (id int);\nINSERT INTO half_done VALUES (1);\nSELECT no_such_function();\n"
FIXED = "CREATE TABLE half_done (id int);\nINSERT INTO half_done VALUES (1);\n"


def test_a_failing_migration_is_rolled_back_entirely_and_the_next_good_run_succeeds(
        migrated_database_url, deploy, call, migrator, pg_server, tmp_path):
    package = copy_migrations(tmp_path / "migrations")
    (package / "0900_half_done.sql").write_text(BROKEN)
    event = deploy(migrated_database_url, shared_app_password(pg_server), package)
    before = applied_rows(migrated_database_url)

    with pytest.raises(migrator.db.MigrationFailed) as caught:
        call(event)
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
    fixed = payload(migrated_database_url, shared_app_password(pg_server), package)
    assert call(fixed) == {"applied": ["0900_half_done"], "already_applied": len(EXPECTED), "app_password_set": True}
    assert query(migrated_database_url, "SELECT id FROM half_done") == [(1,)]
    assert lock_rows(migrated_database_url) == 0


@pytest.mark.parametrize(("migration", "sql", "error"), [
    # The migration succeeds but makes its own _yoyo_migration row fail to insert: the migration is rolled back with
    # it (yoyo alone commits the migration, then marks it in a second transaction): the two commit together or not
    # at all.
    ("0900_marked_early",
     "CREATE TABLE marked_early (id int);\n"
     "INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc) "
     "VALUES (encode(sha256('0900_marked_early'::bytea), 'hex'), 'squatter', now());\n",
     r"^migration 0900_marked_early failed and was rolled back, nothing of it is applied \(duplicate key value "
     r"violates unique constraint .*SQLSTATE 23505\)"),
    # a migration depending on one that is not packaged is refused
    ("0900_orphan", "-- depends: 0899_missing\nCREATE TABLE orphan (id int);\n",
     r"^the packaged migrations cannot be read \(Could not resolve dependencies in .*0900_orphan\.sql\); nothing "
     r"was applied"),
], ids=["bookkeeping-fails", "dependency-not-packaged"])
def test_a_packaged_migration_that_fails_leaves_nothing_of_it(migrated_database_url, deploy, call, migrator,
                                                              pg_server, tmp_path, migration, sql, error):
    package = copy_migrations(tmp_path / "migrations")
    (package / f"{migration}.sql").write_text(sql)
    event = deploy(migrated_database_url, shared_app_password(pg_server), package)
    with pytest.raises(migrator.db.MigrationFailed, match=error):
        call(event)
    table = migration.split("_", 1)[1]
    assert query(migrated_database_url, f"SELECT to_regclass('public.{table}')")[0][0] is None
    assert [r[0] for r in applied_rows(migrated_database_url)] == EXPECTED
    assert lock_rows(migrated_database_url) == 0


def test_a_failure_after_good_migrations_keeps_them_and_says_which(empty_database_url, deploy, call, migrator,
                                                                   pg_server, tmp_path):
    package = copy_migrations(tmp_path / "migrations")
    (package / "0900_half_done.sql").write_text(BROKEN)
    event = deploy(empty_database_url, shared_app_password(pg_server), package)
    with pytest.raises(migrator.db.MigrationFailed, match=r"^migration 0900_half_done failed and was rolled back.*"
                                                          rf"applied before it: {', '.join(EXPECTED)}\. Fix it"):
        call(event)
    assert [r[0] for r in applied_rows(empty_database_url)] == EXPECTED
    assert lock_rows(empty_database_url) == 0


def test_a_database_newer_than_the_package_is_refused_before_anything_is_applied(
        migrated_database_url, deploy, call, migrator, pg_server, tmp_path):
    # an old commit: it knows only the first two migrations, plus one the database never saw
    package = copy_migrations(tmp_path / "old", {"0001_schema", "0002_roles"})
    (package / "0099_old_branch.sql").write_text("CREATE TABLE old_branch (id int);\n")
    event = deploy(migrated_database_url, shared_app_password(pg_server), package)
    before = applied_rows(migrated_database_url)

    with pytest.raises(migrator.db.SchemaNewerThanPackage) as caught:
        call(event)
    newer = ", ".join(m for m in EXPECTED if m not in {"0001_schema", "0002_roles"})
    assert str(caught.value) == (
        f"the database has applied migrations this package does not have ({newer}): an older commit is being "
        "deployed over a newer schema; nothing was applied. Deploy the commit that added them (or a later one); "
        "migrations are forward-only")
    assert query(migrated_database_url, "SELECT to_regclass('public.old_branch')")[0][0] is None
    assert applied_rows(migrated_database_url) == before
    assert lock_rows(migrated_database_url) == 0


def test_a_failure_nobody_foresaw_is_its_type_only_and_releases_the_lock(migrated_database_url, deploy, call,
                                                                         migrator, pg_server, tmp_path, capsys):
    """A migration file that is not UTF-8 makes yoyo raise UnicodeDecodeError, which no handler foresees: the error
    is its type (its text could quote anything), the log says where, the lock is released."""
    package = copy_migrations(tmp_path / "migrations")
    (package / "0900_latin1.sql").write_bytes("SELECT 'caf\u00e9';\n".encode("latin-1"))
    event = deploy(migrated_database_url, shared_app_password(pg_server), package)
    migrator.logger.registered_handler.stream = sys.stdout
    with pytest.raises(sys.modules["common"].UnexpectedFailure) as caught:
        call(event)
    assert str(caught.value) == ("the migrator's database function failed unexpectedly (UnicodeDecodeError): its "
                                 "log has where; fix the cause and run pulumi up again")
    (line,) = [line for line in json_lines(capsys.readouterr().out) if line["level"] == "ERROR"]
    assert line["message"] == "the migrator's database function failed unexpectedly"
    assert line["error_type"] == "UnicodeDecodeError" and any("db.py" in f for f in line["frames"])
    assert lock_rows(migrated_database_url) == 0


# -- the app role's password ----------------------------------------------------------------------------------------
APP_QUERIES_CHECK = (
    "SELECT users.uuid, users.handle, users.display_name, users.bio FROM public.users "
    "WHERE users.cognito_user_id = %(sub)s LIMIT 1"
)


def private_database(own_server, *, log_statements: bool = False) -> str:
    conn = psycopg2.connect(own_server.admin_url("postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE cruddur")
        if log_statements:  # every statement the server runs goes to its log: the password must not be among them
            cur.execute("ALTER SYSTEM SET log_statement = 'all'")
            cur.execute("SELECT pg_reload_conf()")
    conn.close()
    return own_server.admin_url("cruddur")


def logs_in(url: str, user: str, password: str) -> bool:
    info = parse(url)
    try:
        psycopg2.connect(host=info.host, port=info.port, dbname=info.database, user=user, password=password).close()
        return True
    except psycopg2.OperationalError:
        return False


def test_the_app_password_is_set_and_the_app_logs_in_with_it_but_cannot_change_the_schema(own_server, deploy, call):
    url = private_database(own_server, log_statements=True)
    password = secrets.token_urlsafe(24)
    assert call(deploy(url, password)) == {"applied": EXPECTED, "already_applied": 0, "app_password_set": True}

    (verifier,) = query(url, "SELECT rolpassword FROM pg_authid WHERE rolname = 'cruddur_app'")[0]
    assert verifier.startswith("SCRAM-SHA-256$4096:") and password not in verifier
    info = parse(url)
    app = build_url("cruddur_app", password, info.host, info.port, "cruddur")
    [(uid,)] = query(app, "INSERT INTO users (display_name, handle, email, cognito_user_id, bio) "
                          "VALUES ('Ann', 'ann', 'ann@example.com', 'sub-ann', 'hello') RETURNING uuid")
    assert query(app, APP_QUERIES_CHECK, {"sub": "sub-ann"}) == [(uid, "ann", "Ann", "hello")]
    for forbidden in ("CREATE TABLE sneaky (id int)", "ALTER TABLE users ADD COLUMN x int", "DROP TABLE users",
                      "TRUNCATE activities"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            query(app, forbidden)
    assert not logs_in(url, "cruddur_app", "not-" + password)

    # a new password (the app secret rotated): the next run sets it
    rotated = secrets.token_urlsafe(24)
    assert call(payload(url, rotated)) == {"applied": [], "already_applied": len(EXPECTED), "app_password_set": True}
    assert logs_in(url, "cruddur_app", rotated) and not logs_in(url, "cruddur_app", password)

    server_log = own_server.log_file.read_text(errors="replace")
    assert "ALTER ROLE" in server_log  # the statement is logged ...
    assert password not in server_log and rotated not in server_log  # ... with a verifier, never the password


def test_the_clone_is_set_when_named_and_must_inherit_the_app_role(own_server, deploy, call, migrator):
    """After a rotation (alternating users) the app secret names cruddur_app_clone: its password is set and
    cruddur_app's, the previous credentials the app may still hold, are left as they were."""
    url = private_database(own_server)
    first = secrets.token_urlsafe(24)
    call(deploy(url, first))
    rotated = secrets.token_urlsafe(24)
    assert call(payload(url, rotated, app_user="cruddur_app_clone"))["app_password_set"] is True
    assert logs_in(url, "cruddur_app_clone", rotated) and logs_in(url, "cruddur_app", first)

    query(url, "REVOKE cruddur_app FROM cruddur_app_clone")
    again = secrets.token_urlsafe(24)
    with pytest.raises(migrator.db.AppPasswordFailed) as caught:
        call(payload(url, again, app_user="cruddur_app_clone"))
    assert str(caught.value) == ("cruddur_app_clone does not inherit cruddur_app's privileges, so the app could not "
                                 "work as cruddur_app_clone: GRANT cruddur_app TO cruddur_app_clone (sql/migrations/"
                                 "0006_app_clone_role.sql does), then deploy again")
    assert logs_in(url, "cruddur_app_clone", rotated) and not logs_in(url, "cruddur_app_clone", again)


def test_the_master_user_is_never_the_app_role(empty_database_url, deploy, call, migrator, monkeypatch):
    info = parse(empty_database_url)
    event = deploy(empty_database_url, info.password, app_user=info.user)
    monkeypatch.setenv("APP_ROLE", info.user)
    with pytest.raises(migrator.db.ConfigurationError) as caught:
        call(event)
    assert str(caught.value) == (f"APP_ROLE {info.user} is the master user; the migrator sets only the app role's "
                                 "password")


def test_an_app_user_that_is_not_the_app_role_is_refused(empty_database_url, deploy, call, migrator):
    with pytest.raises(migrator.db.ConfigurationError) as caught:
        call(deploy(empty_database_url, "whatever-123", app_user="cruddur_confirmation"))
    assert str(caught.value) == ("the payload's app user cruddur_confirmation is not APP_ROLE cruddur_app (or "
                                 "cruddur_app_clone): give both functions the same APP_ROLE")
    assert applied_rows(empty_database_url) == []


# -- the master's candidates (lambda/shared/master_login.py) --------------------------------------------------------
@pytest.mark.parametrize(("server_has", "tried", "stage"), [
    ("pending", ["current", "pending"], "AWSPENDING"),  # mid-rotation: between setSecret and finishSecret
    ("previous", ["current", "pending", "previous"], "AWSPREVIOUS"),  # restored from before the last rotation
])
def test_the_next_candidate_is_tried_only_when_the_password_is_refused(own_server, deploy, call, migrator,
                                                                       monkeypatch, capsys, server_has, tried, stage):
    passwords = {name: secrets.token_urlsafe(24) for name in ("current", "pending", "previous")}
    url = rotating_master(own_server, passwords[server_has])
    candidates = [{"stage": f"AWS{name.upper()}", "username": "cruddur_master", "password": passwords[name]}
                  for name in ("current", "pending", "previous")]
    event = deploy(url, secrets.token_urlsafe(24), candidates=candidates)
    logins = recorded_logins(monkeypatch)
    migrator.logger.registered_handler.stream = sys.stdout
    assert call(event) == {"applied": EXPECTED, "already_applied": 0, "app_password_set": True}
    assert logins[:len(tried)] == [passwords[name] for name in tried]
    assert set(logins[len(tried):]) <= {passwords[server_has]}  # yoyo's own further connections: the one that worked
    output = capsys.readouterr().out
    assert [(line["level"], line["message"]) for line in login_lines(output)][-1] == (
        "INFO", f"logged in with the master secret's {stage} version")
    assert not any(password in output for password in passwords.values())


def test_no_candidate_logs_in_is_the_same_error_as_awscurrent_alone(own_server, deploy, call, migrator, capsys):
    url = rotating_master(own_server, secrets.token_urlsafe(24))
    wrong = [secrets.token_urlsafe(24) for _ in range(3)]
    info = parse(url)
    expected = (f"cannot connect to {info.host}:{info.port}/cruddur as the master user: connection to server at "
                f"\"{info.host}\", port {info.port} failed: FATAL:  password authentication failed for user "
                "\"cruddur_master\"; check the database's security group admits the migrator's, and the master "
                "secret is current")
    migrator.logger.registered_handler.stream = sys.stdout
    messages = []
    for candidates in ([master_login_as(url, wrong[0])],
                       [master_login_as(url, wrong[0]), master_login_as(url, wrong[1]),
                        master_login_as(url, wrong[2])]):
        staged = [{"stage": stage, "username": c["username"], "password": c["password"]}
                  for stage, c in zip(("AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"), candidates, strict=False)]
        with pytest.raises(migrator.db.DatabaseUnavailable) as caught:
            call(deploy(url, "x", candidates=staged))
        messages.append(str(caught.value))
    assert messages == [expected, expected]
    output = capsys.readouterr().out
    assert [line["message"] for line in login_lines(output)][-3:] == [
        "the master secret's AWSPENDING password was refused too",
        "the master secret's AWSPREVIOUS password was refused too",
        "no version of the master secret logged in (AWSCURRENT, AWSPENDING, AWSPREVIOUS)"]
    assert not any(password in output for password in wrong)
    assert applied_rows(url) == []


def test_a_database_that_is_down_is_not_retried_with_the_other_candidates(down_database_url, deploy, call, migrator,
                                                                          monkeypatch, capsys):
    info = parse(down_database_url)
    candidates = [{"stage": "AWSCURRENT", "username": info.user, "password": info.password},
                  {"stage": "AWSPENDING", "username": info.user, "password": "another-" + secrets.token_urlsafe(12)}]
    event = deploy(down_database_url, "x", candidates=candidates)
    logins = recorded_logins(monkeypatch)
    migrator.logger.registered_handler.stream = sys.stdout
    with pytest.raises(migrator.db.DatabaseUnavailable) as caught:
        call(event)
    message = str(caught.value)
    assert message.startswith(f"cannot connect to {info.host}:{info.port}/{info.database} as the master user: "
                              "connection to server at ")
    assert "Connection refused" in message and message.endswith(
        "check the database's security group admits the migrator's, and the master secret is current")
    assert logins == [info.password]  # AWSCURRENT only
    output = capsys.readouterr().out
    assert login_lines(output) == []
    assert all(c["password"] not in output + message for c in candidates)


# -- the payload ----------------------------------------------------------------------------------------------------
SECRET = "pw-never-echoed-7Qz"
CURRENT = {"stage": "AWSCURRENT", "username": "cruddur_master", "password": SECRET}
WHERE = ": it is made by the migrator's outer function (handler.handler); deploy both from the same commit (pulumi up)"


@pytest.mark.parametrize(("change", "message"), [
    (lambda e: [e], "the database function's payload must be a JSON object, got list" + WHERE),
    (lambda e: {**e, "password": SECRET}, "the database function's payload has unknown keys (password)" + WHERE),
    (lambda e: {k: v for k, v in e.items() if k not in ("app", "action")},
     "the database function's payload has no action, app" + WHERE),
    (lambda e: {**e, "action": SECRET}, "the database function's payload action must be 'migrate'" + WHERE),
    (lambda e: {**e, "migrations_sha256": SECRET},
     "the database function's payload migrations_sha256 must be 64 lower-case hex characters" + WHERE),
    (lambda e: {**e, "master_candidates": SECRET},
     "the database function's payload is wrong: master_candidates must be a list of 1 to 3 objects {\"stage\", "
     "\"username\", \"password\"}, got str" + WHERE),
    (lambda e: {**e, "master_candidates": [{**CURRENT, "password": 42}]},
     "the database function's payload is wrong: master_candidates[0] (AWSCURRENT) must have a non-empty username and "
     "password (strings)" + WHERE),
    (lambda e: {**e, "app": {"username": "cruddur_app", "password": ""}},
     "the database function's payload app must be an object with exactly a non-empty username and password "
     "(strings)" + WHERE),
    (lambda e: {**e, "app": SECRET}, "the database function's payload app must be an object with exactly a non-empty "
                                     "username and password (strings)" + WHERE),
    (lambda e: {**e, "app_secret_version": 3}, "the database function's payload app_secret_version must be a string, "
                                               "got int" + WHERE),
])
def test_a_malformed_payload_is_one_line_that_quotes_no_value(empty_database_url, deploy, call, migrator, capsys,
                                                              change, message):
    event = change({**deploy(empty_database_url, "app-" + SECRET), "master_candidates": [CURRENT]})
    migrator.logger.registered_handler.stream = sys.stdout
    with pytest.raises(migrator.db.MalformedEvent) as caught:
        call(event)
    assert str(caught.value) == message
    assert SECRET not in capsys.readouterr().out
    assert applied_rows(empty_database_url) == []


def test_a_payload_for_other_migrations_is_refused_before_connecting(empty_database_url, deploy, call, migrator,
                                                                     monkeypatch):
    event = {**deploy(empty_database_url, "x"), "migrations_sha256": "0" * 64}
    logins = recorded_logins(monkeypatch)
    with pytest.raises(migrator.db.PackageMismatch) as caught:
        call(event)
    assert str(caught.value) == (
        f"the outer function's migrations_sha256 {'0' * 64} is not the hash of the migrations the database function "
        f"carries ({migrations_sha256_of(REPO_MIGRATIONS)}): the migrator's two functions come from different "
        "packages; run pulumi up again so both come from the same commit")
    assert logins == []


def test_the_event_and_no_password_are_ever_logged_even_when_powertools_is_told_to(
        empty_database_url, deploy, call, migrator, pg_server, monkeypatch, capsys, caplog):
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")  # a stray setting must not put the payload in the log
    caplog.set_level(logging.DEBUG)
    event = deploy(empty_database_url, shared_app_password(pg_server))
    migrator.logger.registered_handler.stream = sys.stdout
    result = call(event)
    output = capsys.readouterr().out
    assert {"payload checked", "migrations to apply", "migration run done"} <= {
        line["message"] for line in json_lines(output)}
    everything = output + caplog.text + json.dumps(result)
    for secret in (event["master_candidates"][0]["password"], event["app"]["password"], "SCRAM-SHA-256$"):
        assert secret not in everything


# -- configuration --------------------------------------------------------------------------------------------------
WHOSE = "the migrator's database function's environment lacks"


@pytest.mark.parametrize(("env", "message"), [
    ({"DB_HOST": ""}, f"{WHOSE} DB_HOST: components/migrator.py sets them; redeploy the function"),
    ({"DB_HOST": "", "DB_NAME": ""}, f"{WHOSE} DB_HOST, DB_NAME: components/migrator.py sets them; redeploy the "
                                     "function"),
    ({"DB_SSLMODE": "require"}, "DB_SSLMODE must be verify-full (the default) or disable (tests against a local "
                                "server only), got 'require'"),
    *(({"DB_HOST": host}, f"DB_SSLMODE=disable is for tests against a server on this machine (localhost, a "
                          f"loopback address); {host!r} is not one, and the migrator reaches any other host only with "
                          "TLS verify-full: unset DB_SSLMODE") for host in (
        "cruddur-dev.abc123.eu-west-1.rds.amazonaws.com", "cruddur-dev.abc123.cn-north-1.rds.amazonaws.com.cn",
        "db.abc123.us-iso-east-1.rds.c2s.ic.gov", "db.abc123.us-isob-east-1.rds.sc2s.sgov.gov",
        "db.abc123.eusc-de-east-1.rds.amazonaws.eu", "CRUDDUR.ABC123.EU-WEST-1.RDS.AMAZONAWS.COM.", "10.0.3.7",
        "localhost.example.com", "127.0.0.1.nip.io")),
    ({"DB_PORT": "five"}, "DB_PORT must be a whole number, got 'five'"),
    ({"MIGRATION_LOCK_TIMEOUT_S": "0"}, "MIGRATION_LOCK_TIMEOUT_S must be positive, got 0"),
    ({"APP_ROLE": "cruddur_app; DROP ROLE x"}, "APP_ROLE must be a plain lower-case role name, got "
                                               "'cruddur_app; DROP ROLE x'"),
    ({"MIGRATIONS_DIR": "/nonexistent/migrations"}, "no migrations (*.sql) in /nonexistent/migrations: the function's "
                                                    "package must carry sql/migrations as migrations/; rebuild it"),
])
def test_configuration_errors_name_what_to_fix(empty_database_url, deploy, call, migrator, pg_server, monkeypatch,
                                               env, message):
    event = deploy(empty_database_url, shared_app_password(pg_server))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(migrator.db.ConfigurationError) as caught:
        call(event)
    assert str(caught.value) == message


def test_on_aws_the_connection_is_verify_full_against_the_packaged_bundle_with_bounded_waits(migrator, monkeypatch,
                                                                                             tmp_path):
    bundle = tmp_path / "global-bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    host = "cruddur-dev.abc123.eu-west-1.rds.amazonaws.com"
    for name, value in {"DB_HOST": host, "DB_PORT": "5432", "DB_NAME": "cruddur", "DB_SSLROOTCERT": str(bundle),
                        "MIGRATIONS_DIR": str(REPO_MIGRATIONS)}.items():
        monkeypatch.setenv(name, value)
    config = migrator.db.load_config()
    kwargs = migrator.db.connect_kwargs(config, {"username": "cruddur_admin", "password": "pw"}, 285_000)
    assert kwargs == {"host": host, "port": 5432, "dbname": "cruddur", "user": "cruddur_admin", "password": "pw",
                      "connect_timeout": 10, "application_name": "cruddur-migrator", "keepalives": 1,
                      "keepalives_idle": 30, "sslmode": "verify-full", "sslrootcert": str(bundle),
                      "options": "-c statement_timeout=285000"}
    assert (config.app_role, config.lock_timeout_s) == ("cruddur_app", 120)
    assert migrator.db.DEFAULT_CA_BUNDLE == MIGRATOR_DIR / "global-bundle.pem"  # where the package puts it
    assert sys.modules["common"].DEFAULT_MIGRATIONS_DIR == MIGRATOR_DIR / "migrations"


def test_verify_full_is_the_default_and_needs_the_packaged_ca_bundle(empty_database_url, deploy, call, migrator,
                                                                     pg_server, monkeypatch):
    event = deploy(empty_database_url, shared_app_password(pg_server))
    monkeypatch.delenv("DB_SSLMODE")
    with pytest.raises(migrator.db.ConfigurationError) as caught:
        call(event)  # the repository's lambda/migrator has no global-bundle.pem: the package gets it at build time
    assert str(caught.value) == (f"the RDS CA bundle {migrator.db.DEFAULT_CA_BUNDLE} is missing from the package; "
                                 "TLS verify-full cannot work without it: rebuild the function's package")


def test_verify_full_against_a_server_without_tls_fails_to_connect_and_says_so(empty_database_url, deploy, call,
                                                                               migrator, pg_server, monkeypatch):
    event = deploy(empty_database_url, shared_app_password(pg_server))
    monkeypatch.delenv("DB_SSLMODE")
    bundle = Path(__file__).resolve().parents[2] / "lambda" / "post_confirmation" / "global-bundle.pem"
    monkeypatch.setenv("DB_SSLROOTCERT", str(bundle))
    with pytest.raises(migrator.db.DatabaseUnavailable, match=r"^cannot connect to .* as the master user: "):
        call(event)
    assert applied_rows(empty_database_url) == []
