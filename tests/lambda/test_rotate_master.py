"""The master-secret rotation function against a real PostgreSQL role and moto's Secrets Manager.

Secrets Manager's own part of a rotation (``RotateSecret`` labels a new, empty version AWSPENDING, then calls the
function once per step) is reproduced on moto's model by ``begin_rotation``; everything the function does goes
through the real boto3 client against moto, and through psycopg2 against the suite's server.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import time
import uuid

import boto3
import psycopg2
import pytest
from moto import mock_aws
from moto.secretsmanager.models import secretsmanager_backends

from tests.lambda_support import PROJECT_DIR

HANDLER_PATH = PROJECT_DIR / "lambda" / "rotate_master" / "handler.py"
REGION = "eu-west-1"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


def load():
    spec = importlib.util.spec_from_file_location(f"rotate_master_{uuid.uuid4().hex}", HANDLER_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def master(pg_server, empty_database_url):
    """A login role standing in for the RDS master user, with a known first password; dropped afterwards."""
    name = f"rot_{uuid.uuid4().hex[:12]}"
    password = uuid.uuid4().hex
    admin = psycopg2.connect(pg_server.admin_url())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE ROLE {name} LOGIN CREATEROLE PASSWORD %s", (password,))
    database = empty_database_url.rsplit("/", 1)[1]
    yield {"engine": "postgres", "host": pg_server.host, "port": pg_server.port, "username": name,
           "password": password, "dbname": database}
    with admin.cursor() as cur:
        cur.execute(f"DROP ROLE IF EXISTS {name}")
    admin.close()


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("DB_SSLMODE", "disable")  # the suite's server has no TLS; on AWS it is verify-full
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def make_secret(client, value: dict) -> str:
    arn = client.create_secret(Name=f"cruddur/test/rds/master-{uuid.uuid4().hex[:6]}",
                               SecretString=json.dumps(value))["ARN"]
    model = secretsmanager_backends["123456789012"][REGION].secrets[arn]
    model.rotation_requested = model.rotation_enabled = True
    model.auto_rotate_after_days = 30
    return arn


def begin_rotation(arn: str) -> str:
    """What RotateSecret does before calling the function: a new version, no value yet, labelled AWSPENDING."""
    model = secretsmanager_backends["123456789012"][REGION].secrets[arn]
    token = str(uuid.uuid4())
    model.remove_version_stages_from_old_versions(["AWSPENDING"])
    model.versions[token] = {"createdate": int(time.time()), "version_id": token, "version_stages": ["AWSPENDING"]}
    return token


def run(module, client, arn, token, steps=STEPS):
    for step in steps:
        module.handler({"SecretId": arn, "ClientRequestToken": token, "Step": step}, None, client=client)


def logs_in(secret: dict, password: str) -> bool:
    try:
        psycopg2.connect(host=secret["host"], port=secret["port"], dbname=secret["dbname"], user=secret["username"],
                         password=password).close()
        return True
    except psycopg2.OperationalError:
        return False


def current(client, arn) -> dict:
    return json.loads(client.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"])


def test_a_full_rotation_changes_the_password_and_keeps_the_shape(aws, master, caplog):
    arn = make_secret(aws, master)
    token = begin_rotation(arn)
    open_session = psycopg2.connect(host=master["host"], port=master["port"], dbname=master["dbname"],
                                    user=master["username"], password=master["password"])
    with caplog.at_level(logging.DEBUG, logger="cruddur-rotate-master"):
        run(load(), aws, arn, token)
    new = current(aws, arn)
    assert {k: v for k, v in new.items() if k != "password"} == {k: v for k, v in master.items() if k != "password"}
    assert new["password"] != master["password"] and len(new["password"]) == 40
    assert logs_in(master, new["password"]) and not logs_in(master, master["password"])
    with open_session.cursor() as cur:  # a session opened before the rotation keeps working
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    open_session.close()
    stages = aws.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert "AWSCURRENT" in stages[token]
    assert any("AWSPREVIOUS" in labels for labels in stages.values())
    ours = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name == "cruddur-rotate-master")
    assert "rotation finished" in ours
    assert master["password"] not in ours and new["password"] not in ours


def test_every_step_is_idempotent_when_retried(aws, master):
    arn = make_secret(aws, master)
    token = begin_rotation(arn)
    module = load()
    for step in STEPS:
        run(module, aws, arn, token, steps=(step, step))
    assert logs_in(master, current(aws, arn)["password"])


def test_a_retried_rotation_after_set_secret_still_finishes(aws, master):
    """setSecret changed the database, then the run died: the next attempt logs in with the pending password."""
    arn = make_secret(aws, master)
    token = begin_rotation(arn)
    module = load()
    run(module, aws, arn, token, steps=("createSecret", "setSecret"))
    pending = json.loads(aws.get_secret_value(SecretId=arn, VersionStage="AWSPENDING")["SecretString"])
    assert logs_in(master, pending["password"])
    run(module, aws, arn, token, steps=("setSecret", "testSecret", "finishSecret"))
    assert current(aws, arn)["password"] == pending["password"]


def test_a_secret_out_of_step_with_the_database_fails_clearly(aws, master):
    arn = make_secret(aws, {**master, "password": "not-the-password"})
    token = begin_rotation(arn)
    module = load()
    run(module, aws, arn, token, steps=("createSecret",))
    with pytest.raises(module.RotationError) as err:
        run(module, aws, arn, token, steps=("setSecret",))
    assert str(err.value) == (
        f"cannot log in to {master['host']} as {master['username']} with the current or previous password: set the "
        "secret's AWSCURRENT value to the database's password (runbooks/rotate-master-password.md)")
    assert logs_in(master, master["password"])  # nothing changed on the database


def test_a_secret_without_the_standard_fields_is_refused(aws, master):
    arn = make_secret(aws, {"username": master["username"], "password": master["password"]})
    token = begin_rotation(arn)
    module = load()
    with pytest.raises(module.RotationError) as err:
        run(module, aws, arn, token, steps=("createSecret",))
    assert str(err.value).endswith("lacks host, port, dbname (standard RDS secret JSON)")


@pytest.mark.parametrize("event, message", [
    ("not an object", "the rotation event must be a JSON object with SecretId, ClientRequestToken and Step"),
    ({"SecretId": "x", "ClientRequestToken": "y", "Step": "dropDatabase"},
     "the rotation event needs SecretId, ClientRequestToken and Step (one of createSecret, setSecret, testSecret, "
     "finishSecret)"),
])
def test_a_malformed_event_is_refused(aws, event, message):
    module = load()
    with pytest.raises(module.RotationError) as err:
        module.handler(event, None, client=aws)
    assert str(err.value) == message


def test_rotation_must_be_enabled_and_the_version_pending(aws, master):
    module = load()
    arn = aws.create_secret(Name="plain", SecretString=json.dumps(master))["ARN"]
    with pytest.raises(module.RotationError) as err:
        module.handler({"SecretId": arn, "ClientRequestToken": str(uuid.uuid4()), "Step": "createSecret"}, None,
                       client=aws)
    assert str(err.value) == f"rotation is not enabled on {arn}"
    arn = make_secret(aws, master)
    unknown = str(uuid.uuid4())
    with pytest.raises(module.RotationError) as err:
        module.handler({"SecretId": arn, "ClientRequestToken": unknown, "Step": "createSecret"}, None, client=aws)
    assert str(err.value) == f"version {unknown} is not a version of {arn}"


def test_an_unreachable_database_is_one_clear_error(aws, master, down_database_url):
    port = int(down_database_url.rsplit(":", 1)[1].split("/")[0])
    arn = make_secret(aws, {**master, "port": port})
    token = begin_rotation(arn)
    module = load()
    run(module, aws, arn, token, steps=("createSecret",))
    with pytest.raises(module.RotationError) as err:
        run(module, aws, arn, token, steps=("setSecret",))
    assert str(err.value).startswith(f"cannot reach {master['host']}:{port}: ")
