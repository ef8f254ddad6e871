"""The master-secret rotation (single user): the rotation function against moto's Secrets Manager, invoking the REAL
database function in-process (``InProcessLambda``), which logs in to the suite's PostgreSQL.

Helpers and Secrets Manager's own part of a rotation (``begin_rotation``) are in ``tests/rotation_support.py``; the
fixtures ``rotation_aws`` and ``rotation_master`` in ``tests/lambda/conftest.py``.
"""

from __future__ import annotations

import io
import json
import logging
import uuid

import psycopg2
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from tests.db_support import admin_execute
from tests.rotation_support import (
    DB_FUNCTION,
    DB_LOGGER,
    ROTATION_LOGGER,
    STEPS,
    InProcessLambda,
    begin_rotation,
    current,
    load,
    log_text,
    logs_in,
    make_secret,
    pending,
    run,
    set_secret_error,
    step_error,
)


def event(arn: str, token: str, step: str) -> dict:
    return {"SecretId": arn, "ClientRequestToken": token, "Step": step}


def test_a_full_rotation_changes_the_password_and_keeps_the_shape(rotation_aws, rotation_master, caplog, capsys):
    aws, master = rotation_aws, rotation_master
    arn = make_secret(aws, master)
    token = begin_rotation(arn)
    open_session = psycopg2.connect(host=master["host"], port=master["port"], dbname=master["dbname"],
                                    user=master["username"], password=master["password"])
    module = load()
    db = InProcessLambda(module)
    with caplog.at_level(logging.DEBUG, logger=ROTATION_LOGGER), caplog.at_level(logging.DEBUG, logger=DB_LOGGER):
        run(module, aws, arn, token, invoke=db)
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
    # setSecret: is the pending password already set? no: set it as the current user; testSecret: log in with it
    assert db.calls == [(DB_FUNCTION, "login"), (DB_FUNCTION, "set_password"), (DB_FUNCTION, "test")]
    assert db.answers == [{"ok": False}, {"ok": True, "login": 0}, {"ok": True, "has_role": None}]
    ours = log_text(caplog, capsys)
    assert "rotation finished" in ours and "password set on the database" in ours
    assert master["password"] not in ours and new["password"] not in ours
    assert "SCRAM-SHA-256$" not in ours


def test_every_step_is_idempotent_when_retried(rotation_aws, rotation_master):
    aws, master = rotation_aws, rotation_master
    arn = make_secret(aws, master)
    token = begin_rotation(arn)
    module = load()
    for step in STEPS:
        run(module, aws, arn, token, steps=(step, step))
    assert logs_in(master, current(aws, arn)["password"])
    assert len(aws.list_secret_version_ids(SecretId=arn)["Versions"]) == 2  # one new version, however often


def test_a_rotation_stopped_between_set_secret_and_finish_secret_still_finishes(rotation_aws, rotation_master):
    """setSecret changed the database, then the run died: AWSCURRENT is refused now, and the next attempt finds the
    pending password already set (it logs in) and goes on."""
    aws, master = rotation_aws, rotation_master
    arn = make_secret(aws, master)
    token = begin_rotation(arn)
    module = load()
    run(module, aws, arn, token, steps=("createSecret", "setSecret"))
    new = pending(aws, arn)
    assert logs_in(master, new["password"]) and not logs_in(master, current(aws, arn)["password"])
    db = InProcessLambda(module)
    run(module, aws, arn, token, steps=("setSecret", "testSecret", "finishSecret"), invoke=db)
    assert db.actions == ["login", "test"]  # nothing set twice
    assert db.answers[0] == {"ok": True}
    assert current(aws, arn)["password"] == new["password"]


def test_a_database_with_the_previous_password_is_rotated_logged_in_with_it(rotation_aws, rotation_master, pg_server):
    """A copy restored from before the last rotation (or a retried rotation) has the AWSPREVIOUS password: setSecret
    tries AWSCURRENT, then AWSPREVIOUS."""
    aws, master = rotation_aws, rotation_master
    arn = make_secret(aws, master)
    module = load()
    run(module, aws, arn, begin_rotation(arn))
    admin_execute(pg_server.admin_url(), f"ALTER ROLE {master['username']} PASSWORD %s", (master["password"],))
    db = InProcessLambda(module)
    run(module, aws, arn, begin_rotation(arn), invoke=db)
    assert db.answers[:2] == [{"ok": False}, {"ok": True, "login": 1}]
    assert logs_in(master, current(aws, arn)["password"]) and not logs_in(master, master["password"])


def test_a_secret_out_of_step_with_the_database_fails_clearly(rotation_aws, rotation_master):
    aws, master = rotation_aws, rotation_master
    arn = make_secret(aws, {**master, "password": "not-the-password"})
    token = begin_rotation(arn)
    module = load()
    run(module, aws, arn, token, steps=("createSecret",))
    assert step_error(module, aws, arn, token, "setSecret") == (
        f"cannot log in to {master['host']} as {master['username']} with the current or previous password: set the "
        "secret's AWSCURRENT value to the database's password (runbooks/rotate-master-password.md)")
    assert logs_in(master, master["password"])  # nothing changed on the database
    assert step_error(module, aws, arn, token, "testSecret") == (
        f"the pending password does not log in to {master['host']} as {master['username']}")
    assert "AWSCURRENT" not in aws.describe_secret(SecretId=arn)["VersionIdsToStages"][token]


def test_a_pending_version_for_another_database_is_refused(rotation_aws, rotation_master):
    aws, master = rotation_aws, rotation_master
    arn = make_secret(aws, master)
    token = begin_rotation(arn)
    aws.put_secret_value(SecretId=arn, ClientRequestToken=token, VersionStages=["AWSPENDING"],
                         SecretString=json.dumps({**master, "dbname": "postgres", "password": uuid.uuid4().hex}))
    module = load()
    assert step_error(module, aws, arn, token, "setSecret") == (
        "the pending version's dbname differs from the current one; refusing to rotate")
    assert logs_in(master, master["password"])


def test_a_secret_without_the_standard_fields_is_refused(rotation_aws, rotation_master):
    aws, master = rotation_aws, rotation_master
    arn = make_secret(aws, {"username": master["username"], "password": master["password"]})
    token = begin_rotation(arn)
    module = load()
    assert step_error(module, aws, arn, token, "createSecret").endswith(
        "lacks host, port, dbname (standard RDS secret JSON)")


@pytest.mark.parametrize("port,kind", [("5432x", "str"), (5432.0, "float"), ("", None), (True, "bool"),
                                       (70000, "int"), ("-1", "str"), ([5432], "list"), (" 5432", "str")])
def test_a_secret_whose_port_is_not_a_whole_number_is_refused_with_the_password_unchanged(
        rotation_aws, rotation_master, port, kind):
    aws, master = rotation_aws, rotation_master
    arn = make_secret(aws, {**master, "port": port})
    token = begin_rotation(arn)
    module = load()
    db = InProcessLambda(module)
    message = step_error(module, aws, arn, token, "createSecret", invoke=db)  # the first step: nothing written
    assert message == (f"the AWSCURRENT version of {arn} lacks port (standard RDS secret JSON)" if kind is None else
                       f"the AWSCURRENT version of {arn} has a port that is not a whole number from 1 to 65535 "
                       f"(a {kind}); fix the secret's port (standard RDS secret JSON: 5432), then rotate again; "
                       "the database's password is unchanged")
    assert db.calls == []
    with pytest.raises(aws.exceptions.ResourceNotFoundException):  # no pending value was written
        pending(aws, arn)
    assert logs_in(master) and current(aws, arn)["password"] == master["password"]


@pytest.mark.parametrize("bad_event, message", [
    ("not an object", "the rotation event must be a JSON object with SecretId, ClientRequestToken and Step"),
    ({"SecretId": "x", "ClientRequestToken": "y", "Step": "dropDatabase"},
     "the rotation event needs SecretId, ClientRequestToken and Step (one of createSecret, setSecret, testSecret, "
     "finishSecret)"),
])
def test_a_malformed_event_is_refused(rotation_aws, bad_event, message):
    module = load()
    with pytest.raises(module.RotationError) as err:
        module.handler(bad_event, None, client=rotation_aws, invoke=InProcessLambda(module))
    assert str(err.value) == message


def test_rotation_must_be_enabled_and_the_version_pending(rotation_aws, rotation_master):
    aws, master = rotation_aws, rotation_master
    module = load()
    db = InProcessLambda(module)
    arn = aws.create_secret(Name="plain", SecretString=json.dumps(master))["ARN"]
    with pytest.raises(module.RotationError) as err:
        module.handler(event(arn, str(uuid.uuid4()), "createSecret"), None, client=aws, invoke=db)
    assert str(err.value) == f"rotation is not enabled on {arn}"
    arn = make_secret(aws, master)
    unknown = str(uuid.uuid4())
    with pytest.raises(module.RotationError) as err:
        module.handler(event(arn, unknown, "createSecret"), None, client=aws, invoke=db)
    assert str(err.value) == f"version {unknown} is not a version of {arn}"
    assert db.calls == []


def test_a_version_in_the_wrong_stage_is_refused_and_a_current_one_is_left_alone(rotation_aws, rotation_master):
    aws, master = rotation_aws, rotation_master
    arn = make_secret(aws, master)
    first = begin_rotation(arn)
    module = load()
    run(module, aws, arn, first)
    previous = next(v for v, labels in aws.describe_secret(SecretId=arn)["VersionIdsToStages"].items()
                    if "AWSPREVIOUS" in labels)
    db = InProcessLambda(module)
    with pytest.raises(module.RotationError) as err:
        module.handler(event(arn, previous, "setSecret"), None, client=aws, invoke=db)
    assert str(err.value) == f"version {previous} of {arn} is not labelled AWSPENDING"
    password = current(aws, arn)["password"]
    run(module, aws, arn, first, invoke=db)  # the version is AWSCURRENT already: every step does nothing
    assert db.calls == []
    assert current(aws, arn)["password"] == password and logs_in(master, password)


def test_an_unreachable_database_is_one_clear_error(rotation_aws, rotation_master, down_database_url):
    aws, master = rotation_aws, rotation_master
    port = int(down_database_url.rsplit(":", 1)[1].split("/")[0])
    arn = make_secret(aws, {**master, "port": port})
    token = begin_rotation(arn)
    module = load()
    run(module, aws, arn, token, steps=("createSecret",))
    db = InProcessLambda(module)
    with pytest.raises(module.RotationError) as err:
        run(module, aws, arn, token, steps=("setSecret",), invoke=db)
    assert str(err.value).startswith(f"cannot reach {master['host']}:{port}: ")
    assert "\n" not in str(err.value) and pending(aws, arn)["password"] not in str(err.value)
    assert db.answers[0]["errorType"] == "ActionError"  # the database function's own error, passed on as is


def test_the_function_needs_the_database_functions_name(rotation_aws, rotation_master, monkeypatch):
    aws, master = rotation_aws, rotation_master
    monkeypatch.delenv("DB_FUNCTION_NAME")
    arn = make_secret(aws, master)
    token = begin_rotation(arn)
    module = load()
    db = InProcessLambda(module)
    run(module, aws, arn, token, steps=("createSecret",), invoke=db)  # Secrets Manager only: no database function
    assert step_error(module, aws, arn, token, "setSecret", db) == (
        "DB_FUNCTION_NAME is not set: the rotation reaches the database through its database "
        "function in the VPC (components/master_rotation.py sets it); redeploy the function")
    assert db.calls == [] and logs_in(master, master["password"])


# -- Lambda between the two functions failing: stand-ins for the Lambda API's answers -------------------------------
def _answer(body: dict, function_error: str | None = None):
    def invoke(**_):
        response = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}
        if function_error:
            response["FunctionError"] = function_error
        return response
    return invoke


def _raises(exc: Exception):
    def invoke(**_):
        raise exc
    return invoke


@pytest.mark.parametrize("invoke, message", [
    (_answer({"errorType": "Sandbox.Timedout", "errorMessage": "RequestId: 1f2e Error: Task timed out after 30.00 "
                                                               "seconds"}, "Unhandled"),
     f"the database function {DB_FUNCTION} failed (Sandbox.Timedout): RequestId: 1f2e Error: Task timed out after "
     "30.00 seconds"),
    (_answer({"errorType": "ActionError", "errorMessage": "role x_clone does not exist:\nline two"}, "Unhandled"),
     "role x_clone does not exist: line two"),
    (_answer({"unexpected": True}),
     f"the database function {DB_FUNCTION} gave an unexpected answer to login: deploy the same package to both "
     "rotation functions"),
    (_raises(ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "Invoke")),
     f"cannot invoke the database function {DB_FUNCTION} (AccessDeniedException): check that it exists and that "
     "this function's role may invoke it"),
    (_raises(ReadTimeoutError(endpoint_url="https://lambda.eu-west-1.amazonaws.com")),
     f"cannot invoke the database function {DB_FUNCTION}: ReadTimeoutError"),
])
def test_a_failed_invocation_is_one_clear_error_and_changes_nothing(rotation_aws, rotation_master, invoke, message):
    aws, master = rotation_aws, rotation_master
    arn = make_secret(aws, master)
    module = load()
    assert set_secret_error(module, aws, arn, invoke=invoke) == message
    assert current(aws, arn) == master and logs_in(master, master["password"])


def test_on_its_own_the_function_makes_its_clients_and_invokes_the_named_function(rotation_aws, rotation_master):
    """No client, no transport given: boto3's Secrets Manager and Lambda clients (moto here, where no database
    function exists: Lambda's answer is the one-line error)."""
    aws, master = rotation_aws, rotation_master
    arn = make_secret(aws, master)
    token = begin_rotation(arn)
    module = load()
    module.handler(event(arn, token, "createSecret"), None)
    assert pending(aws, arn)["username"] == master["username"]
    with pytest.raises(module.RotationError) as err:
        module.handler(event(arn, token, "setSecret"), None)
    assert str(err.value) == (f"cannot invoke the database function {DB_FUNCTION} (ResourceNotFoundException): check "
                              "that it exists and that this function's role may invoke it")
