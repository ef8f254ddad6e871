"""The app secret's rotation (alternating users): the rotation function against moto's Secrets Manager, invoking the
REAL database function in-process, against the suite's PostgreSQL.

``rotation_pair`` (tests/lambda/conftest.py) stands in for ``cruddur_app``/``cruddur_app_clone`` and the RDS master
who created them. The rotation function runs with ``ROTATION_STRATEGY=alternating-users`` and the master secret's
ARN in ``MASTER_SECRET_ARN``, as components/master_rotation.py deploys it; helpers in ``tests/rotation_support.py``.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from tests.db_support import admin_execute
from tests.rotation_support import (
    DB_LOGGER,
    ROTATION_LOGGER,
    STEPS,
    InProcessLambda,
    begin_rotation,
    connect,
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


@pytest.fixture
def pair(rotation_pair):
    return rotation_pair


@pytest.fixture
def rotation(rotation_aws, pair, monkeypatch):
    """(module, client, app secret ARN, master secret ARN) with the function's alternating-users environment."""
    aws = rotation_aws
    master_arn = aws.create_secret(Name=f"cruddur/test/rds/master-{uuid.uuid4().hex[:6]}",
                                   SecretString=json.dumps(pair["master"]))["ARN"]
    monkeypatch.setenv("ROTATION_STRATEGY", "alternating-users")
    monkeypatch.setenv("MASTER_SECRET_ARN", master_arn)
    return load(), aws, make_secret(aws, pair["app"]), master_arn


def rotate(module, client, arn, steps=STEPS, invoke=None) -> str:
    token = begin_rotation(arn)
    run(module, client, arn, token, steps, invoke)
    return token


def test_a_rotation_switches_to_the_clone_and_the_previous_user_keeps_logging_in(rotation, pair):
    module, client, arn, _ = rotation
    open_session = connect(pair["app"])
    token = rotate(module, client, arn)
    new = current(client, arn)
    assert new["username"] == pair["clone"] and len(new["password"]) == 40
    assert {k: v for k, v in new.items() if k not in ("username", "password")} == {
        k: v for k, v in pair["app"].items() if k not in ("username", "password")}
    assert logs_in(new, new["password"], user=pair["clone"])
    # the grace the app needs: whoever still holds the previous value logs in until the next rotation
    assert logs_in(new, pair["app"]["password"], user=pair["base"])
    previous = json.loads(client.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"])
    assert previous == pair["app"]
    assert "AWSCURRENT" in client.describe_secret(SecretId=arn)["VersionIdsToStages"][token]
    with open_session.cursor() as cur:  # and a session opened before it never noticed
        cur.execute("SELECT current_user")
        assert cur.fetchone() == (pair["base"],)
    open_session.close()


def test_the_new_user_runs_the_apps_queries(rotation, pair):
    module, client, arn, _ = rotation
    rotate(module, client, arn)
    conn = connect(current(client, arn))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("INSERT INTO users (display_name, handle, email, cognito_user_id) "
                    "VALUES ('Rota', 'rota', 'rota@example.com', 'sub-rota') RETURNING handle")
        assert cur.fetchone() == ("rota",)
        cur.execute("SELECT current_user, count(*) FROM users GROUP BY 1")
        assert cur.fetchone() == (pair["clone"], 1)
    conn.close()


def test_two_rotations_alternate_and_each_previous_password_lasts_until_the_next(rotation, pair):
    module, client, arn, _ = rotation
    first_token = rotate(module, client, arn)
    first = current(client, arn)
    second_token = rotate(module, client, arn)
    second = current(client, arn)
    assert (first["username"], second["username"]) == (pair["clone"], pair["base"])
    assert len({pair["app"]["password"], first["password"], second["password"]}) == 3
    assert logs_in(second, second["password"], user=pair["base"])
    assert logs_in(second, first["password"], user=pair["clone"])  # the previous credentials, still good
    assert not logs_in(second, pair["app"]["password"], user=pair["base"])  # the one before: gone
    stages = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert "AWSCURRENT" in stages[second_token] and "AWSPREVIOUS" in stages[first_token]
    third = (rotate(module, client, arn), current(client, arn))[1]
    assert third["username"] == pair["clone"] and logs_in(third, second["password"], user=pair["base"])


def test_every_step_is_idempotent_when_retried(rotation, pair):
    module, client, arn, _ = rotation
    token = begin_rotation(arn)
    for step in STEPS:
        run(module, client, arn, token, steps=(step, step))
    new = current(client, arn)
    assert new["username"] == pair["clone"] and logs_in(new, new["password"], user=pair["clone"])


def test_a_failed_set_secret_leaves_awscurrent_usable(rotation, pair):
    module, client, arn, master_arn = rotation
    client.put_secret_value(SecretId=master_arn, SecretString=json.dumps({**pair["master"], "password": "stale"}))
    token = begin_rotation(arn)
    run(module, client, arn, token, steps=("createSecret",))
    assert step_error(module, client, arn, token, "setSecret") == (
        f"cannot log in to {pair['app']['host']} as the master user {pair['master']['username']} with its current "
        "password: fix the master secret first (runbooks/rotate-master-password.md); the app's current password is "
        "unchanged")
    still = current(client, arn)
    assert still == pair["app"] and logs_in(still, still["password"], user=pair["base"])
    waiting = pending(client, arn)
    assert not logs_in(waiting, waiting["password"], user=pair["clone"])  # nothing was set on the database
    # Secrets Manager retries: once the master secret is right again, the same rotation finishes
    client.put_secret_value(SecretId=master_arn, SecretString=json.dumps(pair["master"]))
    run(module, client, arn, token, steps=("setSecret", "testSecret", "finishSecret"))
    assert current(client, arn)["username"] == pair["clone"]


def test_set_secret_uses_the_masters_pending_password_while_the_master_rotates(rotation, pair, pg_server):
    module, client, arn, master_arn = rotation
    new_master_password = uuid.uuid4().hex
    # the master's setSecret has run, its finishSecret not yet: its AWSCURRENT is refused, its AWSPENDING logs in
    admin_execute(pg_server.admin_url(), f"ALTER ROLE {pair['master']['username']} PASSWORD %s", (new_master_password,))
    client.put_secret_value(SecretId=master_arn, ClientRequestToken=str(uuid.uuid4()), VersionStages=["AWSPENDING"],
                            SecretString=json.dumps({**pair["master"], "password": new_master_password}))
    db = InProcessLambda(module)
    rotate(module, client, arn, invoke=db)
    assert db.actions == ["login", "set_password", "test"]
    assert db.answers[1] == {"ok": True, "login": 1}  # the master's second login: its AWSPENDING
    new = current(client, arn)
    assert new["username"] == pair["clone"] and logs_in(new, new["password"], user=pair["clone"])


def test_a_rotation_stopped_between_set_secret_and_finish_secret_still_finishes(rotation, pair):
    """setSecret set the clone's password, then the run died; the app still uses the base user meanwhile. The next
    attempt finds the clone's password already set (it logs in) and sets nothing again."""
    module, client, arn, _ = rotation
    token = begin_rotation(arn)
    run(module, client, arn, token, steps=("createSecret", "setSecret"))
    waiting = pending(client, arn)
    assert logs_in(waiting, waiting["password"], user=pair["clone"])
    assert logs_in(pair["app"], pair["app"]["password"]) and current(client, arn) == pair["app"]
    db = InProcessLambda(module)
    run(module, client, arn, token, steps=("setSecret", "testSecret", "finishSecret"), invoke=db)
    assert db.actions == ["login", "test"] and db.answers == [{"ok": True}, {"ok": True, "has_role": True}]
    assert current(client, arn) == waiting


# A clone user the rotation cannot use is refused at setSecret, before anything is set: nothing logs in as it and the
# app keeps its current value.
@pytest.mark.parametrize(("statement", "message"), [
    ("REVOKE {base} FROM {clone} GRANTED BY {master}",
     "role {clone} does not inherit {base}'s privileges; GRANT {base} TO {clone} "
     "(sql/migrations/0006_app_clone_role.sql does), then rotate again"),
    ("ALTER ROLE {clone} CREATEDB",
     "role {clone} is privileged (superuser, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS); this rotation sets only "
     "the app's least-privilege users' passwords"),
    ("DROP ROLE {clone}",
     "role {clone} does not exist: the migrations create it (sql/migrations/0006_app_clone_role.sql); deploy, then "
     "rotate again"),
], ids=["clone-without-the-app-roles-privileges", "privileged-clone", "missing-clone"])
def test_a_clone_user_the_rotation_cannot_use_is_never_switched_to(rotation, pair, migrated_database_url, statement,
                                                                   message):
    module, client, arn, _ = rotation
    names = {"base": pair["base"], "clone": pair["clone"], "master": pair["master"]["username"]}
    admin_execute(migrated_database_url, statement.format(**names))
    assert set_secret_error(module, client, arn) == message.format(**names)
    assert current(client, arn) == pair["app"]
    waiting = pending(client, arn)
    assert not logs_in(waiting, waiting["password"], user=pair["clone"])  # checked before anything was set


def test_a_clone_that_loses_the_app_roles_privileges_after_set_secret_fails_the_test(rotation, pair,
                                                                                     migrated_database_url):
    module, client, arn, _ = rotation
    token = begin_rotation(arn)
    run(module, client, arn, token, steps=("createSecret", "setSecret"))
    admin_execute(migrated_database_url, f"REVOKE {pair['base']} FROM {pair['clone']} GRANTED BY "
                                         f"{pair['master']['username']}")
    assert step_error(module, client, arn, token, "testSecret") == (
        f"{pair['clone']} logs in but does not hold {pair['base']}'s privileges; refusing to "
        "switch the app to it")
    assert current(client, arn) == pair["app"]


def test_a_pending_version_for_another_user_is_refused(rotation, pair):
    module, client, arn, _ = rotation
    token = begin_rotation(arn)
    client.put_secret_value(SecretId=arn, ClientRequestToken=token, VersionStages=["AWSPENDING"],
                            SecretString=json.dumps({**pair["app"], "password": uuid.uuid4().hex}))
    assert step_error(module, client, arn, token, "setSecret") == (
        f"the pending version's user {pair['base']} is not the alternate of the current user "
        f"{pair['base']} ({pair['clone']}); refusing to rotate")


def test_an_app_secret_that_names_the_master_is_refused(rotation, pair):
    module, client, _, _ = rotation
    arn = make_secret(client, {**pair["master"], "username": pair["master"]["username"] + "_clone"})
    assert set_secret_error(module, client, arn) == (
        f"the app secret names the master user {pair['master']['username']}; refusing to "
        "rotate")


def test_the_strategy_needs_the_master_secrets_arn(rotation, pair, monkeypatch):
    module, client, arn, _ = rotation
    monkeypatch.delenv("MASTER_SECRET_ARN")
    token = begin_rotation(arn)
    run(module, client, arn, token, steps=("createSecret",))
    assert step_error(module, client, arn, token, "setSecret") == (
        "MASTER_SECRET_ARN is not set: the alternating-users rotation sets passwords as the "
        "master user (components/master_rotation.py sets it); redeploy the function")
    monkeypatch.setenv("ROTATION_STRATEGY", "round-robin")
    assert step_error(module, client, arn, token, "setSecret") == (
        "ROTATION_STRATEGY must be single-user or alternating-users, got 'round-robin'")


def test_no_password_in_any_log_line_answer_or_error(rotation, pair, caplog, capsys, pg_server):
    """Both functions' own logs (Powertools, at DEBUG here; INFO on AWS), their records and whatever reached the
    streams; every answer the database function gave; the errors of a failed rotation."""
    module, client, arn, master_arn = rotation
    db = InProcessLambda(module)
    with caplog.at_level(logging.DEBUG, logger=ROTATION_LOGGER), caplog.at_level(logging.DEBUG, logger=DB_LOGGER):
        rotate(module, client, arn, invoke=db)
        rotate(module, client, arn, invoke=db)
        client.put_secret_value(SecretId=master_arn, SecretString=json.dumps({**pair["master"], "password": "x"}))
        token, errors = rotate(module, client, arn, steps=("createSecret",), invoke=db), []
        for step in ("setSecret", "testSecret"):
            with pytest.raises(module.RotationError) as err:
                run(module, client, arn, token, steps=(step,), invoke=db)
            errors.append(str(err.value))
        client.put_secret_value(SecretId=master_arn, SecretString=json.dumps(pair["master"]))
        admin_execute(pg_server.admin_url(), f"ALTER ROLE {pair['clone']} CREATEDB")  # the database function refuses
        with pytest.raises(module.RotationError) as err:
            run(module, client, arn, token, steps=("setSecret",), invoke=db)
        errors.append(str(err.value))
    ours = log_text(caplog, capsys)
    assert "rotation finished" in ours and "password set on the database" in ours
    versions = client.list_secret_version_ids(SecretId=arn, IncludeDeprecated=True)["Versions"]
    passwords = [pair["app"]["password"], pair["master"]["password"],
                 *(json.loads(client.get_secret_value(SecretId=arn, VersionId=v["VersionId"])["SecretString"])
                   ["password"] for v in versions)]
    assert len(set(passwords)) == 5  # the first value, the master's, two rotations, the failed one's pending
    everything = "\n".join([ours, json.dumps(db.answers), *errors])
    assert [e.split(" ", 3)[:3] for e in errors] == [["cannot", "log", "in"], ["the", "pending", "password"],
                                                      ["role", pair["clone"], "is"]]
    assert db.answers[-1]["errorType"] == "ActionError"
    assert not [p for p in passwords if p in everything]
    assert "SCRAM-SHA-256$" not in everything
