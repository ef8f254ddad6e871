"""``lambda/shared/master_login.py`` on its own (the migrator, the restore check and the CLI use it: see their tests),
against the suite's REAL PostgreSQL, with Secrets Manager from moto: the AWS side (``read_candidates``: which stages
it reads, what a candidate holds, the errors of an unusable AWSCURRENT), the database side (``login``: which
candidates it tries, in which order, and when not), the check of a payload's candidates, and that the database side
runs where there is no AWS SDK at all."""

from __future__ import annotations

import itertools
import json
import logging
import uuid

import boto3
import psycopg2
import pytest

from ops.urls import parse
from tests.db_support import admin_execute
from tests.lambda_support import SHARED_DIR, shared_modules_importable

REGION = "eu-west-1"
LOGGER = "cruddur.test.master_login"

shared_modules_importable()
import master_login  # noqa: E402 - importable once lambda/shared is on the path, as beside a handler


@pytest.fixture
def sm(aws):
    return boto3.client("secretsmanager", region_name=REGION)


def value(user: str, password: str) -> dict:
    return {"engine": "postgres", "host": "db.example", "port": 5432, "username": user, "password": password,
            "dbname": "cruddur"}


def secret(sm, current: dict, previous: dict | None = None, pending: dict | str | None = None) -> str:
    arn = sm.create_secret(Name=f"cruddur/t-{uuid.uuid4().hex[:8]}/rds/master",
                           SecretString=json.dumps(previous or current))["ARN"]
    if previous:
        sm.put_secret_value(SecretId=arn, SecretString=json.dumps(current))
    if pending is not None:
        sm.put_secret_value(SecretId=arn, SecretString=pending if isinstance(pending, str) else json.dumps(pending),
                            VersionStages=["AWSPENDING"])
    return arn


def recorded_reads(client) -> list[str | None]:
    """The VersionStage of every GetSecretValue the client sends (None: AWSCURRENT by default)."""
    stages: list[str | None] = []
    client.meta.events.register("before-parameter-build.secrets-manager.GetSecretValue",
                                lambda params, **_: stages.append(params.get("VersionStage")))
    return stages


class Attempts:
    """``connect(candidate)`` for ``login``: a real psycopg2 login to ``url``'s database with the candidate's user and
    password, remembering each password it was given (to count attempts; the test's own made-up passwords)."""

    def __init__(self, url: str):
        self.info = parse(url)
        self.passwords: list[str] = []

    def __call__(self, candidate: dict):
        self.passwords.append(candidate["password"])
        return psycopg2.connect(host=self.info.host, port=self.info.port, dbname=self.info.database,
                                user=candidate["username"], password=candidate["password"], connect_timeout=5)


def login(sm, arn: str, connect: Attempts):
    log = logging.getLogger(LOGGER)
    result = master_login.login(master_login.read_candidates(sm, arn, log), connect, log)
    result.connection.close()
    return result


def messages(caplog) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def test_the_helper_has_one_source_file_that_both_packages_carry():
    from components import lambda_shared
    assert master_login.__file__ == str(SHARED_DIR / "master_login.py")
    assert lambda_shared.master_login_assets()["master_login.py"].path == master_login.__file__


# -- the AWS side ---------------------------------------------------------------------------------------------------
def test_candidates_are_current_then_pending_then_previous_with_only_stage_username_and_password(sm):
    arn = secret(sm, value("master", "pw-current"), previous=value("master", "pw-old"),
                 pending=value("master", "pw-next"))
    reads = recorded_reads(sm)
    assert master_login.read_candidates(sm, arn) == [
        {"stage": "AWSCURRENT", "username": "master", "password": "pw-current"},
        {"stage": "AWSPENDING", "username": "master", "password": "pw-next"},
        {"stage": "AWSPREVIOUS", "username": "master", "password": "pw-old"}]
    assert reads == [None, "AWSPENDING", "AWSPREVIOUS"]


def test_a_secret_never_rotated_has_one_candidate_and_no_warning(sm, caplog):
    arn = secret(sm, value("master", "pw-only"))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert master_login.read_candidates(sm, arn, logging.getLogger(LOGGER)) == [
            {"stage": "AWSCURRENT", "username": "master", "password": "pw-only"}]
    assert messages(caplog) == []  # no AWSPENDING or AWSPREVIOUS version: the usual case, nothing to say


def test_an_unusable_pending_version_is_skipped_naming_the_stage_only(sm, caplog):
    arn = secret(sm, value("master", "pw-current"), previous=value("master", "pw-previous"),
                 pending="pw-not-json-at-all")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        stages = [c["stage"] for c in master_login.read_candidates(sm, arn, logging.getLogger(LOGGER))]
    assert stages == ["AWSCURRENT", "AWSPREVIOUS"]
    assert messages(caplog) == [
        ("WARNING", "the master secret's AWSPENDING version has no username and password; skipping it")]
    assert "pw-not-json" not in caplog.text


@pytest.mark.parametrize(("current", "message"), [
    ("hunter2-not-json", "the master secret {arn} is not a JSON object in the RDS shape {{\"username\", "
                         "\"password\", ...}}: put a value of that shape in it"),
    (json.dumps({"username": "master"}), "the master secret {arn} has no 'password': put the RDS JSON shape "
                                         "{{\"username\", \"password\", ...}} in it"),
    (None, "cannot read the master secret {arn} (ResourceNotFoundException): check that it exists and that the "
           "function's role may secretsmanager:GetSecretValue on it and kms:Decrypt its key"),
])
def test_an_unusable_current_version_is_one_line_naming_the_secret_never_its_value(sm, current, message):
    arn = (sm.create_secret(Name=f"cruddur/t-{uuid.uuid4().hex[:8]}/rds/master", SecretString=current)["ARN"]
           if current else f"arn:aws:secretsmanager:{REGION}:123456789012:secret:cruddur/gone-AbCdEf")
    with pytest.raises(master_login.SecretUnreadable) as caught:
        master_login.read_candidates(sm, arn)
    assert str(caught.value) == message.format(arn=arn)
    assert "hunter2" not in str(caught.value)


# -- the database side ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("on_server", "previous", "tried", "first_message", "messages_from_it"), [
    # a current password that works is the only attempt
    ("pw-current", "pw-old", ["pw-current"], 0, [("INFO", "logged in with the master secret's AWSCURRENT version")]),
    # pending is tried before previous, each once
    ("pw-previous", "pw-previous", ["pw-current", "pw-next", "pw-previous"], 1, [
        ("WARNING", "the master secret's AWSPENDING password was refused too"),
        ("INFO", "logged in with the master secret's AWSPREVIOUS version")]),
], ids=["current-only", "pending-before-previous"])
def test_the_candidates_are_tried_in_order_until_one_logs_in(sm, empty_database_url, login_role, caplog, on_server,
                                                             previous, tried, first_message, messages_from_it):
    role = login_role(on_server)
    arn = secret(sm, value(role, "pw-current"), previous=value(role, previous), pending=value(role, "pw-next"))
    attempts = Attempts(empty_database_url)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        result = login(sm, arn, attempts)
    stage = {"pw-current": "AWSCURRENT", "pw-previous": "AWSPREVIOUS"}[on_server]
    assert (result.stage, result.secret["password"], attempts.passwords) == (stage, on_server, tried)
    assert result.secret == {"stage": stage, "username": role, "password": on_server}
    assert messages(caplog)[first_message:] == messages_from_it


def test_a_pending_version_with_the_current_credentials_is_not_tried_again(sm, empty_database_url, login_role):
    """After finishSecret AWSPENDING may still label the version that is now AWSCURRENT: the same password, skipped."""
    role = login_role("pw-previous")
    arn = secret(sm, value(role, "pw-current"), previous=value(role, "pw-previous"), pending=value(role, "pw-current"))
    attempts = Attempts(empty_database_url)
    assert login(sm, arn, attempts).stage == "AWSPREVIOUS"
    assert attempts.passwords == ["pw-current", "pw-previous"]


def test_no_candidate_logs_in_raises_the_original_error_of_awscurrent(sm, empty_database_url, login_role, caplog):
    role = login_role("pw-the-database-has")
    arn = secret(sm, value(role, "pw-current"), previous=value(role, "pw-previous"), pending=value(role, "pw-next"))
    attempts = Attempts(empty_database_url)
    with pytest.raises(psycopg2.OperationalError) as caught, caplog.at_level(logging.INFO, logger=LOGGER):
        login(sm, arn, attempts)
    assert f'password authentication failed for user "{role}"' in str(caught.value)
    assert attempts.passwords == ["pw-current", "pw-next", "pw-previous"]
    assert messages(caplog)[-1] == ("WARNING", "no version of the master secret logged in (AWSCURRENT, AWSPENDING, "
                                               "AWSPREVIOUS)")
    assert not any(pw in caplog.text for pw in ("pw-current", "pw-next", "pw-previous", "pw-the-database"))


def test_a_refused_login_that_is_not_a_wrong_password_stops_the_fallback(sm, empty_database_url, login_role,
                                                                         pg_server):
    """A pending user that may not log in (SQLSTATE 28000, not 28P01) is an error of its own: raised as it came,
    AWSPREVIOUS never tried."""
    role, blocked = login_role("pw-previous"), login_role("pw-next")
    admin_execute(pg_server.admin_url(), f"ALTER ROLE {blocked} NOLOGIN")
    arn = secret(sm, value(role, "pw-current"), previous=value(role, "pw-previous"), pending=value(blocked, "pw-next"))
    attempts = Attempts(empty_database_url)
    with pytest.raises(psycopg2.OperationalError, match=f'role "{blocked}" is not permitted to log in'):
        login(sm, arn, attempts)
    assert attempts.passwords == ["pw-current", "pw-next"]


def test_a_lazy_list_of_candidates_is_read_only_as_far_as_the_login_needs(sm, empty_database_url, login_role):
    """The CLI's way (ops/stack/master_login.py): AWSCURRENT, then ``read_fallbacks`` as a generator, so Secrets
    Manager is asked for AWSPENDING only once AWSCURRENT is refused, and for AWSPREVIOUS only once AWSPENDING is."""
    role = login_role("pw-current")
    arn = secret(sm, value(role, "pw-current"), previous=value(role, "pw-previous"), pending=value(role, "pw-next"))
    reads = recorded_reads(sm)
    current = master_login.candidate("AWSCURRENT", value(role, "pw-current"))
    lazy = itertools.chain([current], master_login.read_fallbacks(sm, arn))
    master_login.login(lazy, Attempts(empty_database_url)).connection.close()
    assert reads == []  # AWSCURRENT logged in: no other stage was read

    admin_execute(empty_database_url, f"ALTER ROLE {role} PASSWORD 'pw-next'")
    lazy = itertools.chain([current], master_login.read_fallbacks(sm, arn))
    result = master_login.login(lazy, Attempts(empty_database_url))
    result.connection.close()
    assert (result.stage, reads) == ("AWSPENDING", ["AWSPENDING"])  # AWSPREVIOUS never asked for


def test_only_a_wrong_password_counts_as_refused(empty_database_url, down_database_url, login_role):
    role = login_role("pw-right")
    info = parse(empty_database_url)
    errors = {}
    for case, kwargs in {"wrong password": {"password": "pw-wrong"},
                         "no such database": {"password": "pw-right", "dbname": "nope_" + uuid.uuid4().hex[:6]}
                         }.items():
        with pytest.raises(psycopg2.OperationalError) as caught:
            psycopg2.connect(**{"host": info.host, "port": info.port, "dbname": info.database, "user": role,
                                **kwargs})
        errors[case] = caught.value
    with pytest.raises(psycopg2.OperationalError) as down:
        psycopg2.connect(down_database_url)
    errors["database down"] = down.value
    assert {case: master_login.password_refused(exc) for case, exc in errors.items()} == {
        "wrong password": True, "no such database": False, "database down": False}


def test_the_database_side_runs_where_there_is_no_aws_sdk(empty_database_url, login_role, without_aws):
    """What a function inside the VPC does: import the module and log in, with boto3 and botocore unimportable."""
    role = login_role("pw-previous")
    info = parse(empty_database_url)
    out = without_aws(f"""
import json, sys, psycopg2, master_login
candidates = [{{"stage": "AWSCURRENT", "username": "{role}", "password": "pw-current"}},
              {{"stage": "AWSPREVIOUS", "username": "{role}", "password": "pw-previous"}}]
connect = lambda c: psycopg2.connect(host="{info.host}", port={info.port}, dbname="{info.database}",
                                     user=c["username"], password=c["password"])
result = master_login.login(master_login.check_candidates(candidates), connect)
result.connection.close()
print(json.dumps({{"stage": result.stage}}))
""", "migrator")
    assert out == {"stage": "AWSPREVIOUS"}


# -- a payload's candidates ---------------------------------------------------------------------------------------
GOOD = [{"stage": "AWSCURRENT", "username": "master", "password": "pw-secret-1"},
        {"stage": "AWSPENDING", "username": "master", "password": "pw-secret-2"}]


@pytest.mark.parametrize(("candidates", "message"), [
    ("pw-secret-1", "master_candidates must be a list of 1 to 3 objects {\"stage\", \"username\", \"password\"}, "
                    "got str"),
    ([], "master_candidates must be a list of 1 to 3 objects {\"stage\", \"username\", \"password\"}, got list of 0"),
    ([*GOOD, *GOOD], "master_candidates must be a list of 1 to 3 objects {\"stage\", \"username\", \"password\"}, "
                     "got list of 4"),
    (["pw-secret-1"], "master_candidates[0] must be an object {\"stage\", \"username\", \"password\"}, got str"),
    ([{**GOOD[0], "host": "pw-secret-9"}], "master_candidates[0] must have exactly the keys stage, username, password "
                                           "(wrong: host)"),
    ([GOOD[0], {"stage": "AWSPENDING", "username": "master"}],
     "master_candidates[1] must have exactly the keys stage, username, password (wrong: password)"),
    ([GOOD[0], {**GOOD[1], "stage": "pw-secret-3"}], "master_candidates[1]'s stage must be one of AWSCURRENT, "
                                                     "AWSPENDING, AWSPREVIOUS, each once"),
    ([GOOD[0], {**GOOD[1], "stage": "AWSCURRENT"}], "master_candidates[1]'s stage must be one of AWSCURRENT, "
                                                    "AWSPENDING, AWSPREVIOUS, each once"),
    ([{**GOOD[0], "password": ""}], "master_candidates[0] (AWSCURRENT) must have a non-empty username and password "
                                    "(strings)"),
    ([{**GOOD[0], "username": 7}], "master_candidates[0] (AWSCURRENT) must have a non-empty username and password "
                                   "(strings)"),
    ([GOOD[1], GOOD[0]], "master_candidates must start with the AWSCURRENT version"),
])
def test_malformed_candidates_are_named_without_quoting_a_value(candidates, message):
    with pytest.raises(master_login.MalformedCandidates) as caught:
        master_login.check_candidates(candidates)
    assert str(caught.value) == message
    assert "pw-secret" not in str(caught.value)


def test_well_formed_candidates_pass_as_they_are():
    assert master_login.check_candidates(GOOD) == GOOD


def test_secrets_manager_out_of_reach_is_one_line_for_awscurrent_and_a_skipped_stage_otherwise(caplog):
    from botocore.config import Config

    from ops.local.server import free_port

    client = boto3.client("secretsmanager", region_name=REGION, endpoint_url=f"http://127.0.0.1:{free_port()}",
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          config=Config(connect_timeout=2, retries={"total_max_attempts": 1}))
    with pytest.raises(master_login.SecretUnreadable) as caught:
        master_login.read_candidates(client, "cruddur/t/rds/master")
    assert str(caught.value) == ("cannot reach Secrets Manager for the master secret (EndpointConnectionError): a "
                                 "network failure between the function and Secrets Manager; try again")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert list(master_login.read_fallbacks(client, "cruddur/t/rds/master", logging.getLogger(LOGGER))) == []
    assert messages(caplog) == [
        ("WARNING", f"cannot reach Secrets Manager for the master secret's {stage} version (EndpointConnectionError); "
                    "skipping it") for stage in ("AWSPENDING", "AWSPREVIOUS")]
