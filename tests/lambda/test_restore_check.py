"""The restore drill's validation (``lambda/restore_check/handler.py``) against a REAL PostgreSQL standing in for
the restored copy (a migrated database with rows), with moto for Secrets Manager, RDS and SNS. moto has no AWS
Backup restore jobs (no DescribeRestoreJob / PutRestoreValidationResult), so the Backup client is a real boto3
client under botocore's Stubber, which asserts each call's exact parameters. The reporter (outside the VPC) reads
the master secret's candidates and hands them to the probe (inside the VPC), which makes no AWS call: it is also run
in a fresh interpreter where boto3 and botocore cannot be imported."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import uuid

import boto3
import psycopg2
import psycopg2.extensions
import pytest
from botocore.stub import Stubber

from tests.lambda_support import PROJECT_DIR, SHARED_DIR, fresh_module, lambda_response

HANDLER_PATH = PROJECT_DIR / "lambda" / "restore_check" / "handler.py"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
PLAN_ARN = f"arn:aws:backup:{REGION}:{ACCOUNT}:restore-testing-plan:cruddur_test_restore_drill-1a2b3c"
JOB_ID = "8F7E1C2A-3B4D-4E5F-9A8B-0C1D2E3F4A5B"
RESTORED = "awsbackup-restore-test-123456"
SECRET_NAME = "cruddur/test/rds/master"
MIGRATIONS_DIR = PROJECT_DIR / "sql" / "migrations"
# What the restored copy must show: the latest migration file's id and how many there are (yoyo's ids are file stems).
LATEST = sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql"))[-1]
COUNT = len(list(MIGRATIONS_DIR.glob("*.sql")))
FUTURE = "9999_from_the_future"


@pytest.fixture(scope="module")
def handler():
    module = fresh_module(HANDLER_PATH, "restore_check_handler", SHARED_DIR)  # master_login.py is beside it
    yield module
    sys.modules.pop(module.__name__, None)


def execute(url: str, *statements: str) -> None:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


ADD_ROWS = (
    "INSERT INTO users (display_name, handle, email, cognito_user_id) "
    "VALUES ('Andrew Brown', 'andrewbrown', 'andrew@example.com', 'sub-1')",
    "INSERT INTO activities (user_uuid, message) SELECT uuid, 'restored and well' FROM users",
)


@pytest.fixture
def restored_copy(migrated_database_url) -> str:
    """The "restored copy": every migration applied, one user, one activity."""
    execute(migrated_database_url, *ADD_ROWS)
    return migrated_database_url


def dsn(url: str) -> dict:
    return psycopg2.extensions.parse_dsn(url)


def target_of(url: str) -> dict:
    d = dsn(url)
    return {"host": d["host"], "port": int(d["port"]), "dbname": d["dbname"]}


def plain_connect(**kwargs):
    """The test server has no TLS: the same connection without sslmode (connect_verify_full is tested alone)."""
    return psycopg2.connect(**kwargs)


def master_secret(url: str) -> str:
    """The master secret as RDS shapes it, holding the test server's credentials; returns its ARN."""
    d = dsn(url)
    client = boto3.client("secretsmanager", region_name=REGION)
    return client.create_secret(Name=SECRET_NAME, SecretString=json.dumps({
        "engine": "postgres", "host": "cruddur-test-db.example", "port": 5432, "username": d["user"],
        "password": d["password"], "dbname": "cruddur"}))["ARN"]


def probe_config(handler, min_rows: int = 1, migration: str = LATEST, count: int = COUNT):
    return handler.ProbeConfig(expected_migration=migration, expected_count=count, min_rows=min_rows)


def candidates_of(url: str) -> list[dict]:
    """The reporter's candidates for a secret that holds ``url``'s credentials only (AWSCURRENT)."""
    d = dsn(url)
    return [{"stage": "AWSCURRENT", "username": d["user"], "password": d["password"]}]


def probe_event(target: dict, candidates: list[dict]) -> dict:
    """The probe's event as the reporter sends it."""
    return {**target, "restoreJobId": JOB_ID, "master_candidates": candidates}


class Attempts:
    """``plain_connect`` remembering the password of each attempt (the test's own made-up passwords)."""

    def __init__(self):
        self.passwords: list[str] = []

    def __call__(self, **kwargs):
        self.passwords.append(kwargs["password"])
        return plain_connect(**kwargs)


def check(handler, url: str, **kwargs) -> list[str]:
    conn = psycopg2.connect(url)
    try:
        return handler.check_restored_copy(conn, kwargs.get("migration", LATEST), kwargs.get("count", COUNT),
                                           kwargs.get("min_rows", 1))
    finally:
        conn.close()


# -- the checks ---------------------------------------------------------------------------------------------------
def test_expected_migration_is_the_latest_file_of_sql_migrations():
    from components.restore_drill import expected_migrations
    assert expected_migrations() == (LATEST, COUNT)
    assert COUNT >= 2 and LATEST.startswith("0")


def test_a_good_copy_has_no_problems(handler, restored_copy):
    assert check(handler, restored_copy) == []


def test_a_copy_with_an_older_schema_fails(handler, restored_copy):
    assert check(handler, restored_copy, migration=FUTURE, count=COUNT + 1) == [
        f"latest applied migration is '{LATEST}', expected '{FUTURE}'",
        f"{COUNT} migrations applied, expected {COUNT + 1}",
    ]


def test_a_copy_with_empty_tables_fails_unless_the_floor_is_zero(handler, migrated_database_url):
    assert check(handler, migrated_database_url) == [
        "table users has 0 rows, expected at least 1",
        "table activities has 0 rows, expected at least 1",
    ]
    assert check(handler, migrated_database_url, min_rows=0) == []


def test_row_floor_counts_up_to_the_floor(handler, restored_copy):
    assert check(handler, restored_copy, min_rows=2) == [
        "table users has 1 rows, expected at least 2",
        "table activities has 1 rows, expected at least 2",
    ]


def test_a_copy_missing_a_table_fails(handler, restored_copy):
    execute(restored_copy, "DROP TABLE activities")
    assert check(handler, restored_copy) == ["table activities is missing"]


def test_a_copy_without_migration_history_fails(handler, empty_database_url):
    assert check(handler, empty_database_url) == [
        "no _yoyo_migration table: the copy has no migration history",
        "table users is missing",
        "table activities is missing",
    ]


# -- the probe ----------------------------------------------------------------------------------------------------
def test_probe_logs_in_with_the_candidates_and_passes_a_good_copy(handler, restored_copy):
    target = target_of(restored_copy)
    result = handler.probe(probe_event(target, candidates_of(restored_copy)), probe_config(handler),
                           connect=plain_connect)
    where = f"{target['host']}:{target['port']}/{target['dbname']}"
    assert result == {"status": "SUCCESSFUL",
                      "message": f"restored copy {where}: schema and row counts as expected"}


def test_probe_reports_failed_for_a_bad_copy(handler, migrated_database_url):
    config = probe_config(handler, migration=FUTURE, count=COUNT + 1)
    target = target_of(migrated_database_url)
    result = handler.probe(probe_event(target, candidates_of(migrated_database_url)), config, connect=plain_connect)
    where = f"{target['host']}:{target['port']}/{target['dbname']}"
    assert result == {"status": "FAILED", "message": (
        f"restored copy {where} FAILED: latest applied migration is '{LATEST}', expected '{FUTURE}'; "
        f"{COUNT} migrations applied, expected {COUNT + 1}; table users has 0 rows, expected at least 1; "
        "table activities has 0 rows, expected at least 1")}


def test_probe_insists_on_verified_tls(handler, restored_copy):
    """The real connector demands verify-full: a server without TLS is a failed check, never a plain login."""
    target = target_of(restored_copy)
    result = handler.probe(probe_event(target, candidates_of(restored_copy)), probe_config(handler))
    assert result == {"status": "FAILED", "message": (
        f"restored copy {target['host']}:{target['port']}/{target['dbname']} FAILED: cannot connect: connection "
        f"to server at \"{target['host']}\", port {target['port']} failed: server does not support SSL, but SSL "
        "was required")}
    assert dsn(restored_copy)["password"] not in result["message"]


def test_probe_connection_failures_are_failed_verdicts_without_the_password(handler, restored_copy,
                                                                            down_database_url):
    result = handler.probe(probe_event(target_of(down_database_url), candidates_of(restored_copy)),
                           probe_config(handler), connect=plain_connect)
    assert result["status"] == "FAILED" and "cannot connect:" in result["message"]
    assert dsn(restored_copy)["password"] not in result["message"]


SECRET = "pw-never-echoed-7Qz"


@pytest.mark.parametrize(("change", "message"), [
    (lambda e: [e], "the probe's event must be a JSON object, got list"),
    (lambda e: {k: v for k, v in e.items() if k != "master_candidates"}, "the probe's event lacks 'master_candidates'"),
    (lambda e: {**e, "host": ""}, "the probe's event lacks 'host'"),
    (lambda e: {**e, "master_candidates": SECRET}, "the probe's event is wrong: master_candidates must be a list of 1 "
                                                   "to 3 objects {\"stage\", \"username\", \"password\"}, got str"),
    (lambda e: {**e, "master_candidates": [{"stage": "AWSCURRENT", "username": "u", "password": SECRET,
                                            "token": SECRET}]},
     "the probe's event is wrong: master_candidates[0] must have exactly the keys stage, username, password (wrong: "
     "token)"),
])
def test_an_event_that_is_not_the_reporters_is_one_line_that_quotes_no_value(handler, change, message):
    event = change(probe_event({"host": "h", "port": 5432, "dbname": "cruddur"},
                               [{"stage": "AWSCURRENT", "username": "u", "password": SECRET}]))
    with pytest.raises(handler.RestoreCheckError) as caught:
        handler.probe(event, probe_config(handler), connect=plain_connect)
    assert str(caught.value) == message


def test_the_probe_makes_no_aws_call_and_needs_no_secret_arn(handler, restored_copy, without_aws):
    """The deployed entry point, in a fresh interpreter where boto3 and botocore cannot be imported: configuration
    from the environment (no MASTER_SECRET_ARN), the credentials from the event, TLS verify-full (which this TLS-less
    test server cannot offer, so the verdict is FAILED, as it must be)."""
    event = probe_event(target_of(restored_copy), candidates_of(restored_copy))
    result = without_aws(f"""
import json, handler
print(json.dumps(handler.probe_handler(json.loads({json.dumps(json.dumps(event))}), None)))
""", "restore_check", env={"EXPECTED_MIGRATION": LATEST, "EXPECTED_MIGRATION_COUNT": str(COUNT), "MIN_ROWS": "1"})
    assert result["status"] == "FAILED"
    assert result["message"].endswith("server does not support SSL, but SSL was required")
    assert dsn(restored_copy)["password"] not in json.dumps(result)


# -- the probe's login through a rotation (lambda/shared/master_login.py) ------------------------------------------
def staged_master_secret(url: str, username: str, current: str, previous: str | None = None,
                         pending: str | None = None) -> str:
    """The master secret with an AWSCURRENT value and, when given, an AWSPREVIOUS (the value before the last
    rotation: put first, then replaced) and an AWSPENDING one (a rotation between createSecret and finishSecret)."""
    d = dsn(url)
    client = boto3.client("secretsmanager", region_name=REGION)

    def value(password: str) -> str:
        return json.dumps({"engine": "postgres", "host": "cruddur-test-db.example", "port": 5432,
                           "username": username, "password": password, "dbname": d["dbname"]})

    arn = client.create_secret(Name=SECRET_NAME, SecretString=value(previous or current))["ARN"]
    if previous:
        client.put_secret_value(SecretId=arn, SecretString=value(current))  # AWSCURRENT moves, the old one: PREVIOUS
    if pending:
        client.put_secret_value(SecretId=arn, SecretString=value(pending), VersionStages=["AWSPENDING"])
    return arn


def recorded_secret_reads(client) -> list[dict]:
    """Every GetSecretValue the client sends (its parameters), observed through botocore's event hooks."""
    calls: list[dict] = []
    client.meta.events.register("before-parameter-build.secrets-manager.GetSecretValue",
                                lambda params, **_: calls.append(dict(params)))
    return calls


def reporters_candidates(handler, client, arn: str) -> list[dict]:
    """What the reporter hands the probe: ``read_candidates`` with the reporter's logger."""
    return handler.master_login.read_candidates(client, arn, handler.logger)


def test_a_copy_restored_from_before_the_last_rotation_logs_in_with_awsprevious_and_passes(
        handler, aws, restored_copy, login_role, caplog):
    """The backup predates the latest rotation: the copy has the password that is now AWSPREVIOUS."""
    before, after = "pw-before-rotation-" + uuid.uuid4().hex, "pw-after-rotation-" + uuid.uuid4().hex
    role = login_role(before)
    arn = staged_master_secret(restored_copy, role, current=after, previous=before)
    client = boto3.client("secretsmanager", region_name=REGION)
    reads = recorded_secret_reads(client)
    target = target_of(restored_copy)
    attempts = Attempts()
    with caplog.at_level(logging.INFO, logger="cruddur.restore_check"):
        candidates = reporters_candidates(handler, client, arn)
        result = handler.probe(probe_event(target, candidates), probe_config(handler), connect=attempts)
    where = f"{target['host']}:{target['port']}/{target['dbname']}"
    assert result == {"status": "SUCCESSFUL", "message": f"restored copy {where}: schema and row counts as expected"}
    # AWSCURRENT, AWSPENDING (none: no rotation in progress), AWSPREVIOUS, each read once; AWSCURRENT refused
    assert reads == [{"SecretId": arn}, {"SecretId": arn, "VersionStage": "AWSPENDING"},
                     {"SecretId": arn, "VersionStage": "AWSPREVIOUS"}]
    assert attempts.passwords == [after, before]
    ours = [r for r in caplog.records if r.name == "cruddur.restore_check"]
    assert [(r.levelname, r.getMessage()) for r in ours] == [
        ("WARNING", "the master secret's AWSCURRENT password was refused (SQLSTATE 28P01): trying its AWSPENDING and "
                    "AWSPREVIOUS versions (a rotation in progress, or a copy restored from before the last one)"),
        ("INFO", "logged in with the master secret's AWSPREVIOUS version"),
    ]
    assert ours[-1].secret_stage == "AWSPREVIOUS"
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records) + json.dumps(result)
    assert before not in logged and after not in logged


def test_mid_rotation_the_copy_logs_in_with_awspending(handler, aws, restored_copy, login_role):
    current, pending = "pw-current-" + uuid.uuid4().hex, "pw-pending-" + uuid.uuid4().hex
    role = login_role(pending)
    arn = staged_master_secret(restored_copy, role, current=current, previous="pw-old-" + uuid.uuid4().hex,
                               pending=pending)
    attempts = Attempts()
    candidates = reporters_candidates(handler, boto3.client("secretsmanager", region_name=REGION), arn)
    result = handler.probe(probe_event(target_of(restored_copy), candidates), probe_config(handler),
                           connect=attempts)
    assert (result["status"], attempts.passwords) == ("SUCCESSFUL", [current, pending])  # AWSPREVIOUS never tried


def test_a_copy_whose_password_is_in_no_stage_fails_as_it_did_before(handler, aws, restored_copy, login_role, caplog):
    role = login_role("pw-the-copy-has-" + uuid.uuid4().hex)
    target = target_of(restored_copy)
    where = f"{target['host']}:{target['port']}/{target['dbname']}"
    expected = {"status": "FAILED", "message": (
        f"restored copy {where} FAILED: cannot connect: connection to server at \"{target['host']}\", port "
        f"{target['port']} failed: FATAL:  password authentication failed for user \"{role}\"")}
    client = boto3.client("secretsmanager", region_name=REGION)
    wrong = ["pw-wrong-current-" + uuid.uuid4().hex, "pw-wrong-previous-" + uuid.uuid4().hex,
             "pw-wrong-pending-" + uuid.uuid4().hex]
    arn = staged_master_secret(restored_copy, role, current=wrong[0], previous=wrong[1], pending=wrong[2])
    with caplog.at_level(logging.INFO, logger="cruddur.restore_check"):
        event = probe_event(target, reporters_candidates(handler, client, arn))
        assert handler.probe(event, probe_config(handler), connect=plain_connect) == expected
    assert [r.getMessage() for r in caplog.records if r.name == "cruddur.restore_check"][1:] == [
        "the master secret's AWSPENDING password was refused too",
        "the master secret's AWSPREVIOUS password was refused too",
        "no version of the master secret logged in (AWSCURRENT, AWSPENDING, AWSPREVIOUS)"]
    assert not any(password in caplog.text for password in wrong)
    # the same verdict as a secret that only ever had one (wrong) value
    client.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    only = staged_master_secret(restored_copy, role, current=wrong[0])
    event = probe_event(target, reporters_candidates(handler, client, only))
    assert handler.probe(event, probe_config(handler), connect=plain_connect) == expected


@pytest.mark.parametrize("failure", ["down", "no such database"])
def test_a_failure_that_is_not_a_refused_password_is_never_retried_through_the_stages(
        handler, aws, restored_copy, login_role, down_database_url, failure, caplog):
    password = "pw-" + uuid.uuid4().hex
    role = login_role(password)
    arn = staged_master_secret(restored_copy, role, current=password, previous="pw-old-" + uuid.uuid4().hex,
                               pending="pw-new-" + uuid.uuid4().hex)
    target = target_of(down_database_url) if failure == "down" else {**target_of(restored_copy), "dbname": "nope"}
    candidates = reporters_candidates(handler, boto3.client("secretsmanager", region_name=REGION), arn)
    attempts = Attempts()
    with caplog.at_level(logging.INFO, logger="cruddur.restore_check"):
        result = handler.probe(probe_event(target, candidates), probe_config(handler), connect=attempts)
    assert result["status"] == "FAILED"
    assert ("Connection refused" if failure == "down" else 'FATAL:  database "nope" does not exist') in \
        result["message"]
    assert attempts.passwords == [password]  # AWSCURRENT only: no other stage was tried
    assert not [r for r in caplog.records if r.name == "cruddur.restore_check"]


def test_probe_config_names_a_missing_variable(handler, monkeypatch):
    for name in ("EXPECTED_MIGRATION", "EXPECTED_MIGRATION_COUNT", "MIN_ROWS"):
        monkeypatch.setenv(name, "1")
    monkeypatch.delenv("MASTER_SECRET_ARN", raising=False)  # the probe has no secret to read
    assert handler.ProbeConfig.from_env() == handler.ProbeConfig(expected_migration="1", expected_count=1, min_rows=1)
    monkeypatch.delenv("EXPECTED_MIGRATION")
    with pytest.raises(handler.RestoreCheckError, match="^environment variable EXPECTED_MIGRATION is not set$"):
        handler.ProbeConfig.from_env()


# -- the reporter -------------------------------------------------------------------------------------------------
def restore_event(job_id: str = JOB_ID) -> dict:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Restore Job State Change",
            "source": "aws.backup", "account": ACCOUNT, "region": REGION,
            "resources": [f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:abc"],
            "detail": {"restoreJobId": job_id, "status": "COMPLETED", "resourceType": "RDS",
                       "createdResourceArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{RESTORED}"}}


def restore_job(plan_arn: str = PLAN_ARN, status: str = "COMPLETED") -> dict:
    return {"RestoreJobId": JOB_ID, "Status": status, "ResourceType": "RDS",
            "CreatedResourceArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{RESTORED}",
            "CreatedBy": {"RestoreTestingPlanArn": plan_arn}}


@pytest.fixture
def reporting(handler, aws):
    """A reporter wired to moto's RDS (the restored instance), SNS (the alarm topic) and Secrets Manager (the master
    secret: ``run(..., secret_arn=...)``), and a stubbed Backup."""
    rds = boto3.client("rds", region_name=REGION)
    rds.create_db_instance(DBInstanceIdentifier=RESTORED, Engine="postgres", DBInstanceClass="db.t4g.micro",
                           MasterUsername="cruddur_admin", MasterUserPassword="not-used-here-1",
                           AllocatedStorage=20, DBName="cruddur")
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="cruddur-test-alarms")["TopicArn"]
    backup = boto3.client("backup", region_name=REGION)
    secrets_client = boto3.client("secretsmanager", region_name=REGION)
    config = handler.ReportConfig(plan_arn=PLAN_ARN, probe_function="cruddur-test-restore-probe",
                                  secret_arn=f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:none", topic_arn=topic,
                                  stack="test")

    class Reporting:
        def __init__(self):
            self.stub = Stubber(backup)
            self.backup, self.rds, self.sns, self.topic, self.config = backup, rds, sns, topic, config
            self.secret_reads = recorded_secret_reads(secrets_client)

        def expect(self, status: str, message: str) -> None:
            """Backup's side of one report: this drill's restore job described, then ``status`` and ``message`` put
            as its validation result (the Stubber checks each call's exact parameters)."""
            self.stub.add_response("describe_restore_job", restore_job(), {"RestoreJobId": JOB_ID})
            self.stub.add_response("put_restore_validation_result", {}, {
                "RestoreJobId": JOB_ID, "ValidationStatus": status, "ValidationStatusMessage": message})

        def notifications(self) -> list[tuple[str, dict]]:
            from moto.sns.models import sns_backends
            sent = sns_backends[ACCOUNT][REGION].topics[topic].sent_notifications
            return [(subject, json.loads(message)) for _id, message, subject, *_ in sent]

        def run(self, event, invoke_probe, secret_arn: str | None = None):
            used = dataclasses.replace(config, secret_arn=secret_arn or config.secret_arn)
            with self.stub:
                result = handler.report(event, used, backup, rds, sns, secrets_client, invoke_probe)
                self.stub.assert_no_pending_responses()
            return result

    return Reporting()


def probe_against(handler, url: str, seen: list, **config):
    """The probe as the reporter invokes it, pointed at the real PostgreSQL (moto's endpoint is not a server);
    ``seen`` gets each (target, candidates)."""
    def invoke(target: dict, candidates: list[dict]) -> dict:
        seen.append((target, candidates))
        return handler.probe({**target, **target_of(url), "master_candidates": candidates},
                             probe_config(handler, **config), connect=plain_connect)
    return invoke


def test_reporter_reads_the_candidates_and_the_probe_passes_a_good_copy(handler, reporting, restored_copy, caplog):
    seen: list = []
    target = target_of(restored_copy)
    message = (f"restored copy {target['host']}:{target['port']}/{target['dbname']}: "
               "schema and row counts as expected")
    reporting.expect("SUCCESSFUL", message)
    arn = master_secret(restored_copy)
    with caplog.at_level(logging.DEBUG, logger="cruddur.restore_check"):  # every line of ours, at any level
        result = reporting.run(restore_event(), probe_against(handler, restored_copy, seen), secret_arn=arn)
    assert result == {"status": "SUCCESSFUL", "message": message, "restoreJobId": JOB_ID}
    assert seen == [({"host": f"{RESTORED}.aaaaaaaaaa.{REGION}.rds.amazonaws.com", "port": 5432,
                      "dbname": "cruddur", "restoreJobId": JOB_ID}, candidates_of(restored_copy))]
    assert reporting.secret_reads == [{"SecretId": arn}, {"SecretId": arn, "VersionStage": "AWSPENDING"},
                                      {"SecretId": arn, "VersionStage": "AWSPREVIOUS"}]
    assert reporting.notifications() == [("Cruddur test restore drill: SUCCESSFUL", {
        "stack": "test", "restoreJobId": JOB_ID, "restoredInstance": RESTORED, "status": "SUCCESSFUL",
        "message": message})]
    password = dsn(restored_copy)["password"]
    assert password not in caplog.text + json.dumps(result) + json.dumps(reporting.notifications())


def test_reporter_reports_failed_for_an_empty_copy(handler, reporting, migrated_database_url):
    target = target_of(migrated_database_url)
    reporting.expect("FAILED", f"restored copy {target['host']}:{target['port']}/{target['dbname']} FAILED: table "
                               "users has 0 rows, expected at least 1; table activities has 0 rows, expected at least 1")
    result = reporting.run(restore_event(), probe_against(handler, migrated_database_url, []),
                           secret_arn=master_secret(migrated_database_url))
    assert result["status"] == "FAILED"
    assert [subject for subject, _ in reporting.notifications()] == ["Cruddur test restore drill: FAILED"]


def test_reporter_reports_failed_when_the_master_secret_cannot_be_read(handler, reporting):
    def never(target, candidates):
        raise AssertionError("the probe must not run")
    missing = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:cruddur/gone-AbCdEf"
    reporting.expect("FAILED", f"restored copy {RESTORED}: cannot read the master secret {missing} "
                               "(ResourceNotFoundException): check that it exists and that the function's role may "
                               "secretsmanager:GetSecretValue on it and kms:Decrypt its key")
    assert reporting.run(restore_event(), never, secret_arn=missing)["status"] == "FAILED"


def test_reporter_reports_failed_when_the_probe_cannot_run(handler, reporting, restored_copy):
    def broken(target, candidates):
        raise RuntimeError("probe timed out")
    reporting.expect("FAILED", f"restored copy {RESTORED}: probe timed out")
    assert reporting.run(restore_event(), broken, secret_arn=master_secret(restored_copy))["status"] == "FAILED"


@pytest.mark.parametrize("job", [restore_job(plan_arn=PLAN_ARN.replace("cruddur_test", "someone_else")),
                                 restore_job(status="FAILED"), {"RestoreJobId": JOB_ID, "Status": "COMPLETED"}])
def test_reporter_ignores_jobs_that_are_not_this_drills_completed_restores(handler, reporting, job):
    def never(target, candidates):
        raise AssertionError("the probe must not run")
    reporting.stub.add_response("describe_restore_job", job, {"RestoreJobId": JOB_ID})
    assert reporting.run(restore_event(), never) == {"status": "IGNORED", "restoreJobId": JOB_ID}
    assert reporting.notifications() == []


def test_reporter_rejects_an_event_that_is_not_a_restore_job(handler, reporting):
    with pytest.raises(handler.RestoreCheckError, match="no detail.restoreJobId"):
        reporting.run({"detail-type": "Scheduled Event", "detail": {}}, lambda target, candidates: {})


def test_reporter_without_a_topic_only_reports_to_backup(handler, aws, restored_copy):
    backup = boto3.client("backup", region_name=REGION)
    config = handler.ReportConfig(plan_arn=PLAN_ARN, probe_function="p", secret_arn=master_secret(restored_copy),
                                  topic_arn="", stack="test")
    rds = boto3.client("rds", region_name=REGION)
    rds.create_db_instance(DBInstanceIdentifier=RESTORED, Engine="postgres", DBInstanceClass="db.t4g.micro",
                           MasterUsername="cruddur_admin", MasterUserPassword="not-used-here-1",
                           AllocatedStorage=20, DBName="cruddur")
    verdict = {"status": "SUCCESSFUL", "message": "ok"}
    with Stubber(backup) as stub:
        stub.add_response("describe_restore_job", restore_job(), {"RestoreJobId": JOB_ID})
        stub.add_response("put_restore_validation_result", {}, {
            "RestoreJobId": JOB_ID, "ValidationStatus": "SUCCESSFUL", "ValidationStatusMessage": "ok"})
        result = handler.report(restore_event(), config, backup, rds, None,
                                boto3.client("secretsmanager", region_name=REGION), lambda target, candidates: verdict)
        stub.assert_no_pending_responses()
    assert result == {**verdict, "restoreJobId": JOB_ID}


# -- invoking the probe function ----------------------------------------------------------------------------------


def test_invoke_probe_function_passes_the_target_and_the_candidates_and_returns_the_verdict(handler):
    client = boto3.client("lambda", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    target = {"host": "h", "port": 5432, "dbname": "cruddur", "restoreJobId": JOB_ID}
    candidates = [{"stage": "AWSCURRENT", "username": "cruddur_admin", "password": "pw-1"}]
    verdict = {"status": "SUCCESSFUL", "message": "ok"}
    with Stubber(client) as stub:
        stub.add_response("invoke", lambda_response(verdict), {
            "FunctionName": "cruddur-test-restore-probe", "InvocationType": "RequestResponse",
            "Payload": json.dumps({**target, "master_candidates": candidates}).encode()})
        assert handler.invoke_probe_function(client, "cruddur-test-restore-probe")(target, candidates) == verdict


def test_invoke_probe_function_turns_a_function_error_into_failed(handler):
    client = boto3.client("lambda", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("invoke", lambda_response({"errorMessage": "Task timed out after 60.00 seconds"},
                                                    function_error="Unhandled"))
        assert handler.invoke_probe_function(client, "p")({"host": "h", "port": 1, "dbname": "d"}, []) == {
            "status": "FAILED", "message": "the probe function failed: Task timed out after 60.00 seconds"}


def test_report_config_reads_its_environment(handler, monkeypatch):
    monkeypatch.setenv("RESTORE_TESTING_PLAN_ARN", PLAN_ARN)
    monkeypatch.setenv("PROBE_FUNCTION_NAME", "cruddur-test-restore-probe")
    monkeypatch.setenv("STACK", "test")
    monkeypatch.setenv("MASTER_SECRET_ARN", f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SECRET_NAME}")
    monkeypatch.delenv("ALARM_TOPIC_ARN", raising=False)
    assert handler.ReportConfig.from_env() == handler.ReportConfig(
        plan_arn=PLAN_ARN, probe_function="cruddur-test-restore-probe",
        secret_arn=f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SECRET_NAME}", topic_arn="", stack="test")
    monkeypatch.delenv("MASTER_SECRET_ARN")
    with pytest.raises(handler.RestoreCheckError, match="^environment variable MASTER_SECRET_ARN is not set$"):
        handler.ReportConfig.from_env()
    monkeypatch.setenv("MASTER_SECRET_ARN", "arn:x")
    monkeypatch.delenv("STACK")
    with pytest.raises(handler.RestoreCheckError, match="^environment variable STACK is not set$"):
        handler.ReportConfig.from_env()
