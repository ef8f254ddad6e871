"""``lambda/shared/master_login.py`` on its own (the migrator and the restore probe use it: see their tests), against
the suite's REAL PostgreSQL, with Secrets Manager from moto: which stages it tries, in which order, and when not."""

from __future__ import annotations

import json
import logging
import uuid

import boto3
import psycopg2
import pytest
from moto import mock_aws

from ops.urls import parse
from tests.migrator_support import SHARED_DIR, shared_modules_importable

REGION = "eu-west-1"
LOGGER = "cruddur.test.master_login"

shared_modules_importable()
import master_login  # noqa: E402 - importable once lambda/shared is on the path, as beside a handler


@pytest.fixture
def sm(monkeypatch):
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", REGION)):
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


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


class Attempts:
    """``connect(secret)`` for the helper: a real psycopg2 login to ``url``'s database with the secret's user and
    password, remembering each password it was given (to count attempts; the test's own made-up passwords)."""

    def __init__(self, url: str):
        self.info = parse(url)
        self.passwords: list[str] = []

    def __call__(self, secret: dict):
        self.passwords.append(secret["password"])
        return psycopg2.connect(host=self.info.host, port=self.info.port, dbname=self.info.database,
                                user=secret["username"], password=secret["password"], connect_timeout=5)


def login(sm, arn: str, connect: Attempts):
    current = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
    result = master_login.connect_through_rotation(current, sm, arn, connect, logging.getLogger(LOGGER))
    result.connection.close()
    return result


def messages(caplog) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def test_the_helper_has_one_source_file_that_both_packages_carry():
    from components import lambda_shared
    assert master_login.__file__ == str(SHARED_DIR / "master_login.py")
    assert lambda_shared.master_login_assets()["master_login.py"].path == master_login.__file__


def test_a_current_password_that_works_is_the_only_attempt(sm, empty_database_url, login_role, caplog):
    role = login_role("pw-current")
    arn = secret(sm, value(role, "pw-current"), previous=value(role, "pw-old"), pending=value(role, "pw-next"))
    attempts = Attempts(empty_database_url)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        result = login(sm, arn, attempts)
    assert (result.stage, result.secret["password"], attempts.passwords) == ("AWSCURRENT", "pw-current",
                                                                            ["pw-current"])
    assert messages(caplog) == [("INFO", "logged in with the master secret's AWSCURRENT version")]


def test_pending_is_tried_before_previous_each_once(sm, empty_database_url, login_role, caplog):
    role = login_role("pw-previous")
    arn = secret(sm, value(role, "pw-current"), previous=value(role, "pw-previous"), pending=value(role, "pw-next"))
    attempts = Attempts(empty_database_url)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        result = login(sm, arn, attempts)
    assert (result.stage, attempts.passwords) == ("AWSPREVIOUS", ["pw-current", "pw-next", "pw-previous"])
    assert result.secret == value(role, "pw-previous")
    assert messages(caplog)[1:] == [("WARNING", "the master secret's AWSPENDING password was refused too"),
                                    ("INFO", "logged in with the master secret's AWSPREVIOUS version")]


def test_a_pending_version_with_the_current_credentials_is_not_tried_again(sm, empty_database_url, login_role):
    """After finishSecret AWSPENDING may still label the version that is now AWSCURRENT: the same password, skipped."""
    role = login_role("pw-previous")
    arn = secret(sm, value(role, "pw-current"), previous=value(role, "pw-previous"), pending=value(role, "pw-current"))
    attempts = Attempts(empty_database_url)
    assert login(sm, arn, attempts).stage == "AWSPREVIOUS"
    assert attempts.passwords == ["pw-current", "pw-previous"]


def test_an_unusable_pending_version_is_skipped_naming_the_stage_only(sm, empty_database_url, login_role, caplog):
    role = login_role("pw-previous")
    arn = secret(sm, value(role, "pw-current"), previous=value(role, "pw-previous"), pending="pw-not-json-at-all")
    attempts = Attempts(empty_database_url)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert login(sm, arn, attempts).stage == "AWSPREVIOUS"
    assert attempts.passwords == ["pw-current", "pw-previous"]
    assert ("WARNING", "the master secret's AWSPENDING version has no username and password; skipping it") in \
        messages(caplog)
    assert "pw-not-json" not in caplog.text


def test_a_refused_login_that_is_not_a_wrong_password_stops_the_fallback(sm, empty_database_url, login_role,
                                                                         pg_server):
    """A pending user that may not log in (SQLSTATE 28000, not 28P01) is an error of its own: raised as it came,
    AWSPREVIOUS never tried."""
    role, blocked = login_role("pw-previous"), login_role("pw-next")
    conn = psycopg2.connect(pg_server.admin_url())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"ALTER ROLE {blocked} NOLOGIN")
    conn.close()
    arn = secret(sm, value(role, "pw-current"), previous=value(role, "pw-previous"), pending=value(blocked, "pw-next"))
    attempts = Attempts(empty_database_url)
    with pytest.raises(psycopg2.OperationalError, match=f'role "{blocked}" is not permitted to log in'):
        login(sm, arn, attempts)
    assert attempts.passwords == ["pw-current", "pw-next"]


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
