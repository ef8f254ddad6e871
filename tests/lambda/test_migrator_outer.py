"""The migrator as ``pulumi up`` runs it: the outer function (``handler.handler``, ``lambda/migrator/handler.py``)
with Secrets Manager from moto, invoking the REAL database function (``handler.db_handler``) in this process
(``InProcessLambda``: what Lambda does with a synchronous invocation, the payload and the answer as JSON, an
exception as a FunctionError) against a REAL PostgreSQL.

The environment is the union of the two functions' (``components/migrator.py`` gives each its own part): the
secrets' ARNs and DB_FUNCTION_NAME for the outer one, DB_HOST/PORT/NAME and APP_ROLE for the database one, plus
``DB_SSLMODE=disable`` (the suite's server has no SSL) and ``MIGRATIONS_DIR`` (the repository's ``sql/migrations``).
Every AWS call of the run is recorded (``aws_calls``): the database function makes none. The database function on
its own (locks, failures, the payload, no AWS SDK at all) is ``test_migrator_db.py``.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import boto3
import psycopg2
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws

from ops.db import migrations
from ops.db.target import DbTarget
from ops.local.server import free_port
from ops.urls import parse
from tests.lambda_support import LambdaContext, lambda_response
from tests.migrator_support import (
    DB_FUNCTION_NAME,
    EXPECTED,
    FUNCTION_NAME,
    REGION,
    REPO_MIGRATIONS,
    InProcessLambda,
    applied_rows,
    copy_migrations,
    json_lines,
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

SHA = migrations_sha256_of(REPO_MIGRATIONS)


@pytest.fixture
def aws_calls(migrator_runtime):
    """Every AWS API call the functions make through boto3 (service, operation, parameters), moto answering."""
    calls: list[tuple[str, str, dict]] = []
    with mock_aws():
        session = boto3.session.Session()
        session.events.register("before-parameter-build", lambda params, model, **_: calls.append(
            (model.service_model.service_name, model.name, dict(params))))
        migrator_runtime.setattr(boto3, "DEFAULT_SESSION", session)
        yield calls


@pytest.fixture
def sm(aws_calls):
    """The test's own Secrets Manager client (its calls are not recorded)."""
    return boto3.session.Session().client("secretsmanager", region_name=REGION)


def secret_reads(calls) -> list[dict]:
    return [params for service, operation, params in calls if (service, operation) == ("secretsmanager",
                                                                                         "GetSecretValue")]


@dataclass
class Deployment:
    """One database as the functions see it: the two secrets in (mocked) Secrets Manager and the environment."""

    url: str
    master_password: str
    app_password: str
    master_secret_arn: str
    app_secret_arn: str

    def reads(self, *stages: str | None) -> list[dict]:
        """The GetSecretValue calls of one run: the master secret's ``stages`` (None: AWSCURRENT), then the app's."""
        master = [{"SecretId": self.master_secret_arn, **({"VersionStage": s} if s else {})} for s in stages]
        return [*master, {"SecretId": self.app_secret_arn}]


ALL_STAGES = (None, "AWSPENDING", "AWSPREVIOUS")


@pytest.fixture
def deploy(sm, db_env, migrator_runtime):
    def _deploy(url: str, app_password: str, migrations_dir: Path = REPO_MIGRATIONS, *, master: dict | None = None,
                app: dict | None = None) -> Deployment:
        info = parse(url)
        suffix = uuid.uuid4().hex[:8]
        master_value = master if master is not None else {
            "engine": "postgres", "host": info.host, "port": info.port, "username": info.user,
            "password": info.password, "dbname": info.database}
        app_value = app if app is not None else {
            "engine": "postgres", "host": info.host, "port": info.port, "username": "cruddur_app",
            "password": app_password, "dbname": info.database}
        master_arn = sm.create_secret(Name=f"cruddur/test-{suffix}/rds/master",
                                      SecretString=json.dumps(master_value))["ARN"]
        app_arn = sm.create_secret(Name=f"cruddur/test-{suffix}/rds/app", SecretString=json.dumps(app_value))["ARN"]
        db_env(url, migrations_dir)
        for name, value in {"MASTER_SECRET_ARN": master_arn, "APP_SECRET_ARN": app_arn,
                            "DB_FUNCTION_NAME": DB_FUNCTION_NAME}.items():
            migrator_runtime.setenv(name, value)
        return Deployment(url, info.password or "", app_password, master_arn, app_arn)

    return _deploy


@pytest.fixture
def db_lambda(migrator) -> InProcessLambda:
    return InProcessLambda(migrator)


@pytest.fixture
def invoke(migrator, db_lambda):
    """Invoke the outer function as the Invocation does, the database function in process."""
    def _invoke(event=None, context: LambdaContext | None = None, transport=None):
        return migrator.handler({} if event is None else event, context or migrator_context(),
                                invoke=transport or db_lambda)

    return _invoke


# -- an empty database, then again ---------------------------------------------------------------------------------
def test_empty_database_gets_every_migration_and_db_status_agrees(empty_database_url, deploy, invoke, db_lambda,
                                                                  aws_calls, pg_server):
    target = deploy(empty_database_url, shared_app_password(pg_server))
    result = invoke({"migrations_sha256": SHA, "app_secret_version": "v1"})

    assert result == {"applied": EXPECTED, "already_applied": 0, "app_password_set": True}
    assert json.loads(json.dumps(result)) == result  # what Lambda returns to the Invocation
    assert EXPECTED[:4] == ["0001_schema", "0002_roles", "0003_users_bio", "0004_app_password_login"]
    # cruddur db status reads the same bookkeeping
    assert [(s.id, s.applied) for s in migrations.status(DbTarget(empty_database_url))] == [(m, True) for m in EXPECTED]
    assert migrations.pending(DbTarget(empty_database_url)) == []
    log = query(empty_database_url, "SELECT migration_id, operation, username FROM _yoyo_log ORDER BY created_at_utc")
    assert log == [(m, "apply", FUNCTION_NAME) for m in EXPECTED]
    assert lock_rows(empty_database_url) == 0
    # the outer function read the master's stages and the app's AWSCURRENT; nothing else called AWS, the database
    # function not at all
    assert aws_calls == [("secretsmanager", "GetSecretValue", read) for read in target.reads(*ALL_STAGES)]
    info = parse(empty_database_url)
    assert db_lambda.payloads == [{
        "action": "migrate", "migrations_sha256": SHA,
        "master_candidates": [{"stage": "AWSCURRENT", "username": info.user, "password": info.password}],
        "app": {"username": "cruddur_app", "password": target.app_password}, "app_secret_version": mock.ANY}]
    assert isinstance(db_lambda.payloads[0]["app_secret_version"], str)

    before = applied_rows(empty_database_url)
    assert invoke() == {"applied": [], "already_applied": len(EXPECTED), "app_password_set": True}
    assert applied_rows(empty_database_url) == before


def test_a_rotated_app_secret_sets_the_user_it_names_and_never_breaks_the_other(own_server, deploy, invoke, sm):
    """After a rotation (alternating users) the app secret's AWSCURRENT names cruddur_app_clone: a deploy sets that
    user's password and leaves cruddur_app's, the previous credentials the app may still hold, as they were; a clone
    that lost cruddur_app's privileges is the database function's one-line error."""
    conn = psycopg2.connect(own_server.admin_url("postgres"))
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
    sm.put_secret_value(SecretId=target.app_secret_arn,
                        SecretString=json.dumps({"username": "cruddur_app_clone", "password": rotated}))
    assert invoke() == {"applied": [], "already_applied": len(EXPECTED), "app_password_set": True}
    assert logs_in("cruddur_app_clone", rotated) and logs_in("cruddur_app", first)

    query(url, "REVOKE cruddur_app FROM cruddur_app_clone")
    again = secrets.token_urlsafe(24)
    sm.put_secret_value(SecretId=target.app_secret_arn,
                        SecretString=json.dumps({"username": "cruddur_app_clone", "password": again}))
    with pytest.raises(sys.modules["common"].DatabaseFunctionFailed) as caught:
        invoke()
    assert (str(caught.value), caught.value.error_type) == (
        "cruddur_app_clone does not inherit cruddur_app's privileges, so the app could not work as cruddur_app_clone: "
        "GRANT cruddur_app TO cruddur_app_clone (sql/migrations/0006_app_clone_role.sql does), then deploy again",
        "AppPasswordFailed")
    assert logs_in("cruddur_app_clone", rotated) and not logs_in("cruddur_app_clone", again)


def test_the_database_functions_error_is_the_outer_functions_one_line(migrated_database_url, deploy, invoke,
                                                                       migrator, pg_server, monkeypatch, capsys):
    deploy(migrated_database_url, shared_app_password(pg_server))
    monkeypatch.setenv("MIGRATION_LOCK_TIMEOUT_S", "1")
    query(migrated_database_url, "INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), 4242)")
    migrator.logger.registered_handler.stream = sys.stdout
    with pytest.raises(migrator.DatabaseFunctionFailed) as caught:
        invoke()
    message = (f"another migration run holds yoyo's lock on {parse(migrated_database_url).database} (waited 1 s); "
               "nothing was applied. If no migration is running (a run that was killed leaves its row), clear it "
               "through the operator tunnel: DELETE FROM yoyo_lock; then run pulumi up again")
    assert (str(caught.value), caught.value.error_type) == (message, "MigrationLocked")
    failed = [line for line in json_lines(capsys.readouterr().out) if line["message"] == "migration run failed"]
    assert [(line["error_type"], line.get("db_error_type"), line["error"]) for line in failed] == [
        ("MigrationLocked", None, message),  # the database function's own line
        ("DatabaseFunctionFailed", "MigrationLocked", message)]  # the outer function's


# -- the master password mid-rotation (lambda/shared/master_login.py) -----------------------------------------------
def test_mid_rotation_the_migrator_logs_in_with_awspending_and_migrates(own_server, deploy, invoke, migrator, sm,
                                                                         aws_calls, monkeypatch, capsys):
    """Between setSecret and finishSecret the database has the AWSPENDING password and refuses AWSCURRENT's."""
    old, new = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    url = rotating_master(own_server, new)
    app_password = secrets.token_urlsafe(24)
    target = deploy(url, app_password, master=master_login_as(url, old))
    sm.put_secret_value(SecretId=target.master_secret_arn, SecretString=json.dumps(master_login_as(url, new)),
                        VersionStages=["AWSPENDING"])
    logins = recorded_logins(monkeypatch)
    migrator.logger.registered_handler.stream = sys.stdout  # capsys's stdout, now that it is active

    assert invoke() == {"applied": EXPECTED, "already_applied": 0, "app_password_set": True}

    assert applied_rows(url) == [(m, mock.ANY) for m in EXPECTED]
    assert secret_reads(aws_calls) == target.reads(*ALL_STAGES) and len(aws_calls) == 4
    assert logins[:2] == [old, new] and set(logins[2:]) <= {new}
    output = capsys.readouterr().out
    assert [(line["level"], line["message"], line.get("secret_stage")) for line in login_lines(output)] == [
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


def test_a_database_restored_from_before_the_last_rotation_logs_in_with_awsprevious(own_server, deploy, invoke,
                                                                                    migrator, sm, monkeypatch,
                                                                                    capsys):
    before, after = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    url = rotating_master(own_server, before)  # the database predates the rotation that made `after` AWSCURRENT
    target = deploy(url, secrets.token_urlsafe(24), master=master_login_as(url, before))
    sm.put_secret_value(SecretId=target.master_secret_arn, SecretString=json.dumps(master_login_as(url, after)))
    logins = recorded_logins(monkeypatch)
    migrator.logger.registered_handler.stream = sys.stdout
    assert invoke() == {"applied": EXPECTED, "already_applied": 0, "app_password_set": True}
    assert logins[:2] == [after, before]  # no AWSPENDING version: AWSCURRENT, then AWSPREVIOUS
    output = capsys.readouterr().out
    assert [line["message"] for line in login_lines(output)][-1] == ("logged in with the master secret's AWSPREVIOUS "
                                                                     "version")
    assert before not in output and after not in output


def test_a_master_password_in_no_stage_is_the_same_clear_failure_as_before(own_server, deploy, invoke, migrator, sm,
                                                                          capsys):
    url = rotating_master(own_server, secrets.token_urlsafe(24))
    wrong = [secrets.token_urlsafe(24) for _ in range(3)]
    target = deploy(url, "x", master=master_login_as(url, wrong[0]))
    info = parse(url)
    before = (f"cannot connect to {info.host}:{info.port}/cruddur as the master user: connection to server at "
              f"\"{info.host}\", port {info.port} failed: FATAL:  password authentication failed for user "
              "\"cruddur_master\"; check the database's security group admits the migrator's, and the master secret "
              "is current")
    with pytest.raises(migrator.DatabaseFunctionFailed) as only_current:
        invoke()
    assert (str(only_current.value), only_current.value.error_type) == (before, "DatabaseUnavailable")
    capsys.readouterr()

    sm.put_secret_value(SecretId=target.master_secret_arn, SecretString=json.dumps(master_login_as(url, wrong[1])))
    sm.put_secret_value(SecretId=target.master_secret_arn, SecretString=json.dumps(master_login_as(url, wrong[2])),
                        VersionStages=["AWSPENDING"])  # AWSCURRENT wrong[1], AWSPREVIOUS wrong[0], AWSPENDING wrong[2]
    migrator.logger.registered_handler.stream = sys.stdout
    with pytest.raises(migrator.DatabaseFunctionFailed) as every_stage:
        invoke()
    assert str(every_stage.value) == before
    output = capsys.readouterr().out
    assert [line["message"] for line in login_lines(output)][1:] == [
        "the master secret's AWSPENDING password was refused too",
        "the master secret's AWSPREVIOUS password was refused too",
        "no version of the master secret logged in (AWSCURRENT, AWSPENDING, AWSPREVIOUS)"]
    assert not any(password in output for password in wrong)
    assert applied_rows(url) == []


def test_a_database_that_is_down_is_not_retried_through_the_stages(down_database_url, deploy, invoke, migrator, sm,
                                                                   monkeypatch, capsys):
    target = deploy(down_database_url, "x")
    pending = dict(json.loads(sm.get_secret_value(SecretId=target.master_secret_arn)["SecretString"]),
                   password="another-" + secrets.token_urlsafe(12))
    sm.put_secret_value(SecretId=target.master_secret_arn, SecretString=json.dumps(pending),
                        VersionStages=["AWSPENDING"])
    logins = recorded_logins(monkeypatch)
    migrator.logger.registered_handler.stream = sys.stdout
    info = parse(down_database_url)
    with pytest.raises(migrator.DatabaseFunctionFailed) as caught:
        invoke()
    assert str(caught.value).startswith(f"cannot connect to {info.host}:{info.port}/{info.database} as the master "
                                        "user: connection to server at ")
    assert "Connection refused" in str(caught.value)
    assert logins == [target.master_password]  # AWSCURRENT only: the refusal was not a wrong password
    output = capsys.readouterr().out
    assert login_lines(output) == []
    assert target.master_password not in output and pending["password"] not in output


# -- no secret anywhere -------------------------------------------------------------------------------------------
BROKEN = "CREATE TABLE half_done (id int);\nINSERT INTO half_done VALUES (1);\nSELECT no_such_function();\n"


def test_no_password_or_verifier_in_any_log_line_result_or_error(empty_database_url, deploy, invoke, migrator,
                                                                 pg_server, tmp_path, monkeypatch, capsys, caplog):
    migrator.logger.registered_handler.stream = sys.stdout  # capsys's stdout, now that it is active
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")  # a stray setting must not log either payload
    caplog.set_level(logging.INFO)  # the Lambda's application log level (components/migrator.py)
    caplog.set_level(logging.DEBUG, logger="yoyo")  # yoyo logs every statement it executes at DEBUG
    package = copy_migrations(tmp_path / "migrations")
    target = deploy(empty_database_url, shared_app_password(pg_server), package)
    result = invoke()
    (package / "0900_half_done.sql").write_text(BROKEN)
    with pytest.raises(migrator.DatabaseFunctionFailed) as failed:
        invoke()
    output = capsys.readouterr().out
    assert {line["message"] for line in json_lines(output)} >= {
        "secrets read", "invoking the database function", "payload checked", "migrations to apply",
        "migration applied", "migration run done", "migration run failed"}
    everything = output + caplog.text + json.dumps(result) + str(failed.value)
    for secret in (target.master_password, target.app_password, "SCRAM-SHA-256$", "postgresql://"):
        assert secret not in everything


def test_a_failure_nobody_foresaw_is_reported_by_its_type_only(empty_database_url, deploy, invoke, migrator,
                                                                pg_server, capsys):
    target = deploy(empty_database_url, shared_app_password(pg_server))

    def broken(payload: bytes):
        raise RuntimeError(f"a bug that quotes {json.loads(payload)['app']['password']}")

    migrator.logger.registered_handler.stream = sys.stdout
    with pytest.raises(sys.modules["common"].UnexpectedFailure) as caught:
        invoke(transport=broken)
    assert str(caught.value) == ("the migrator failed unexpectedly (RuntimeError): its log has where; fix the cause "
                                 "and run pulumi up again")
    assert target.app_password not in capsys.readouterr().out


# -- the database function's answer and the Lambda transport ------------------------------------------------------
@pytest.mark.parametrize(("error", "answer", "message"), [
    ("Unhandled", {"errorMessage": "2025-01-01T00:00:00.000Z 1b2c Task timed out after 300.00 seconds"},
     "2025-01-01T00:00:00.000Z 1b2c Task timed out after 300.00 seconds"),
    ("Unhandled", {"errorMessage": "\n  first line\nsecond line", "errorType": "Oops"}, "first line"),
    ("Unhandled", {"errorType": "Runtime.ExitError"},
     f"the migrator's database function {DB_FUNCTION_NAME} failed (Unhandled) without a message: see its log group"),
    (None, {"applied": [], "already_applied": 3}, f"the migrator's database function {DB_FUNCTION_NAME} answered "
     "dict, not its summary {\"applied\", \"already_applied\", \"app_password_set\"}: deploy both functions from the "
     "same commit (pulumi up)"),
    (None, "not json", f"the migrator's database function {DB_FUNCTION_NAME} answered NoneType, not its summary "
     "{\"applied\", \"already_applied\", \"app_password_set\"}: deploy both functions from the same commit (pulumi "
     "up)"),
])
def test_what_the_database_function_answers_becomes_one_line(empty_database_url, deploy, invoke, migrator, pg_server,
                                                             error, answer, message):
    deploy(empty_database_url, shared_app_password(pg_server))
    body = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
    with pytest.raises(migrator.DatabaseFunctionFailed) as caught:
        invoke(transport=lambda payload: (error, body))
    assert str(caught.value) == message


def test_the_lambda_transport_invokes_synchronously_and_reads_the_answer(migrator, migrator_runtime):
    client = boto3.client("lambda", region_name=REGION)
    payload = json.dumps({"action": "migrate"}).encode()
    summary = {"applied": [], "already_applied": 7, "app_password_set": True}
    with Stubber(client) as stub:
        stub.add_response("invoke", lambda_response(summary), {
            "FunctionName": DB_FUNCTION_NAME, "InvocationType": "RequestResponse", "Payload": payload})
        stub.add_response("invoke", lambda_response({"errorMessage": "boom"}, "Unhandled"))
        stub.add_client_error("invoke", service_error_code="AccessDeniedException", http_status_code=403)
        transport = migrator.lambda_transport(client, DB_FUNCTION_NAME)
        assert transport(payload) == (None, json.dumps(summary).encode())
        assert transport(payload) == ("Unhandled", b'{"errorMessage": "boom"}')
        with pytest.raises(migrator.DatabaseFunctionFailed) as denied:
            transport(payload)
    assert str(denied.value) == (f"cannot invoke the migrator's database function {DB_FUNCTION_NAME} "
                                 "(AccessDeniedException): check that it exists (components/migrator.py creates it) "
                                 "and that the migrator's role may lambda:InvokeFunction on it")
    unreachable = boto3.client("lambda", region_name=REGION, endpoint_url=f"http://127.0.0.1:{free_port()}",
                               config=Config(connect_timeout=2, retries={"total_max_attempts": 1}))
    with pytest.raises(migrator.DatabaseFunctionFailed) as down:
        migrator.lambda_transport(unreachable, DB_FUNCTION_NAME)(payload)
    assert str(down.value) == (f"cannot reach Lambda to invoke the migrator's database function {DB_FUNCTION_NAME} "
                               "(EndpointConnectionError): run pulumi up again")


def test_by_default_the_database_function_is_invoked_through_lambda_once(empty_database_url, deploy, migrator,
                                                                         aws_calls, pg_server):
    """The deployed wiring: Lambda's Invoke API, RequestResponse, no retry, a read timeout past any run (moto has no
    such function, so the answer is the one line of a missing one)."""
    deploy(empty_database_url, shared_app_password(pg_server))
    with pytest.raises(migrator.DatabaseFunctionFailed) as caught:
        migrator.handler({}, migrator_context())
    assert str(caught.value) == (f"cannot invoke the migrator's database function {DB_FUNCTION_NAME} "
                                 "(ResourceNotFoundException): check that it exists (components/migrator.py creates "
                                 "it) and that the migrator's role may lambda:InvokeFunction on it")
    invokes = [params for service, operation, params in aws_calls if service == "lambda"]
    assert [(p["FunctionName"], p["InvocationType"], sorted(json.loads(p["Payload"]))) for p in invokes] == [
        (DB_FUNCTION_NAME, "RequestResponse", ["action", "app", "app_secret_version", "master_candidates",
                                               "migrations_sha256"])]
    config = migrator._lambda_client().meta.config
    assert (config.read_timeout, config.retries["total_max_attempts"]) == (900, 1)
    assert applied_rows(empty_database_url) == []


# -- the event and the package -------------------------------------------------------------------------------------
def test_migrations_sha256_is_name_nul_content_nul_over_the_sorted_sql_files(migrator, tmp_path):
    import hashlib

    (tmp_path / "b.sql").write_bytes(b"SELECT 2;\n")
    (tmp_path / "a.sql").write_bytes(b"SELECT 1;\n")
    (tmp_path / "notes.txt").write_bytes(b"not a migration")
    expected = hashlib.sha256(b"a.sql\0SELECT 1;\n\0b.sql\0SELECT 2;\n\0").hexdigest()
    assert migrator.migrations_sha256(tmp_path) == expected
    assert migrator.migrations_sha256(REPO_MIGRATIONS) == SHA
    (tmp_path / "a.sql").write_bytes(b"SELECT 1; \n")  # any byte changes it
    assert migrator.migrations_sha256(tmp_path) != expected


def test_an_event_for_other_migrations_is_refused_before_anything_is_read(empty_database_url, deploy, invoke,
                                                                          migrator, db_lambda, aws_calls, pg_server):
    deploy(empty_database_url, shared_app_password(pg_server))
    with pytest.raises(migrator.PackageMismatch) as caught:
        invoke({"migrations_sha256": "0" * 64})
    assert str(caught.value) == (
        f"the event's migrations_sha256 {'0' * 64} is not the hash of the migrations this function carries "
        f"({SHA}): the deployed function is not the one this deployment built; run pulumi up again so the "
        "function and its invocation come from the same commit")
    assert (aws_calls, db_lambda.payloads, applied_rows(empty_database_url)) == ([], [], [])


def test_an_event_with_the_packages_hash_and_unknown_keys_runs(empty_database_url, deploy, invoke, pg_server):
    deploy(empty_database_url, shared_app_password(pg_server))
    assert invoke({"migrations_sha256": SHA, "app_secret_version": "abc", "extra": [1]})["applied"] == EXPECTED


@pytest.mark.parametrize(("event", "message"), [
    ("migrate please", "the event must be a JSON object such as {\"migrations_sha256\": \"<hex>\"}, got str"),
    ([1, 2], "the event must be a JSON object such as {\"migrations_sha256\": \"<hex>\"}, got list"),
    (None, "the event must be a JSON object such as {\"migrations_sha256\": \"<hex>\"}, got NoneType"),
    ({"migrations_sha256": "ABC"}, "the event's migrations_sha256 must be 64 lower-case hex characters, got 'ABC'"),
    ({"migrations_sha256": 12}, "the event's migrations_sha256 must be 64 lower-case hex characters, got 12"),
    ({"app_secret_version": 3}, "the event's app_secret_version must be a string, got int"),
    ({"migrations_sha256": None}, "the event's migrations_sha256 is null; leave the key out or give its value"),
    ({"migrations_sha256": SHA, "app_secret_version": None},
     "the event's app_secret_version is null; leave the key out or give its value"),
])
def test_a_malformed_event_is_a_clear_error(empty_database_url, deploy, migrator, db_lambda, pg_server, event,
                                            message):
    deploy(empty_database_url, shared_app_password(pg_server))
    with pytest.raises(migrator.MalformedEvent) as caught:
        migrator.handler(event, migrator_context(), invoke=db_lambda)
    assert str(caught.value) == message
    assert (db_lambda.payloads, applied_rows(empty_database_url)) == ([], [])


# -- secrets and configuration --------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["master", "app"])
def test_a_secret_without_a_password_is_a_clear_error(empty_database_url, deploy, invoke, migrator, db_lambda,
                                                      pg_server, which):
    info = parse(empty_database_url)
    no_password = {"engine": "postgres", "host": info.host, "port": info.port, "dbname": info.database,
                   "username": info.user if which == "master" else "cruddur_app"}
    target = deploy(empty_database_url, shared_app_password(pg_server), **{which: no_password})
    with pytest.raises(migrator.SecretError) as caught:
        invoke()
    arn = target.master_secret_arn if which == "master" else target.app_secret_arn
    assert str(caught.value) == (f"the {which} secret {arn} has no 'password': put the RDS JSON shape "
                                 "{\"username\", \"password\", ...} in it")
    assert (db_lambda.payloads, applied_rows(empty_database_url)) == ([], [])


def test_a_secret_that_is_not_json_is_refused_without_quoting_it(empty_database_url, deploy, invoke, migrator, sm,
                                                                 db_lambda, pg_server):
    target = deploy(empty_database_url, shared_app_password(pg_server))
    sm.put_secret_value(SecretId=target.app_secret_arn, SecretString="hunter2-not-json")
    with pytest.raises(migrator.SecretError) as caught:
        invoke()
    assert str(caught.value) == (f"the app secret {target.app_secret_arn} is not a JSON object in the RDS shape "
                                 "{\"username\", \"password\", ...}: put a value of that shape in it")
    assert db_lambda.payloads == []


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


def test_an_app_secret_for_another_role_is_refused(empty_database_url, deploy, invoke, migrator, db_lambda):
    target = deploy(empty_database_url, "x", app={"username": "cruddur_confirmation", "password": "whatever-123"})
    with pytest.raises(migrator.ConfigurationError) as caught:
        invoke()
    assert str(caught.value) == (f"the app secret {target.app_secret_arn} is for cruddur_confirmation, not APP_ROLE "
                                 "cruddur_app (or cruddur_app_clone): point APP_SECRET_ARN at the app role's secret")
    assert db_lambda.payloads == []


@pytest.mark.parametrize(("env", "message"), [
    ({"DB_FUNCTION_NAME": ""}, "the migrator's environment lacks DB_FUNCTION_NAME: components/migrator.py sets them; "
                               "redeploy the function"),
    ({"MASTER_SECRET_ARN": "", "APP_SECRET_ARN": ""}, "the migrator's environment lacks MASTER_SECRET_ARN, "
                                                      "APP_SECRET_ARN: components/migrator.py sets them; redeploy "
                                                      "the function"),
    ({"APP_ROLE": "cruddur_app; DROP ROLE x"}, "APP_ROLE must be a plain lower-case role name, got "
                                               "'cruddur_app; DROP ROLE x'"),
    ({"MIGRATIONS_DIR": "/nonexistent/migrations"}, "no migrations (*.sql) in /nonexistent/migrations: the function's "
                                                    "package must carry sql/migrations as migrations/; rebuild it"),
])
def test_configuration_errors_name_what_to_fix(empty_database_url, deploy, invoke, migrator, db_lambda, aws_calls,
                                               pg_server, monkeypatch, env, message):
    deploy(empty_database_url, shared_app_password(pg_server))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(migrator.ConfigurationError) as caught:
        invoke()
    assert str(caught.value) == message
    assert (aws_calls, db_lambda.payloads) == ([], [])


def test_the_outer_function_needs_no_yoyo_layer(without_aws):
    """Outside the VPC nothing is migrated: the handler module (and db.py, which it imports) loads without yoyo."""
    assert without_aws(f"""
import json, pathlib, handler
print(json.dumps(handler.migrations_sha256(pathlib.Path({str(REPO_MIGRATIONS)!r}))))
""", "migrator", blocked=("yoyo",)) == SHA
