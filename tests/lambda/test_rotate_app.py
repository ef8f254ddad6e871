"""The app secret's rotation (alternating users) against a real PostgreSQL and moto's Secrets Manager.

A pair of login users stands in for ``cruddur_app``/``cruddur_app_clone`` (created as 0006_app_clone_role.sql creates
them, under fresh names so the suite's shared roles keep their passwords), and a CREATEROLE user who created them
stands in for the RDS master. The function runs with ``ROTATION_STRATEGY=alternating-users`` and the master secret's
ARN in ``MASTER_SECRET_ARN``, as components/master_rotation.py deploys it.
"""

from __future__ import annotations

import importlib
import json
import logging
import uuid

import psycopg2
import pytest

# The master rotation's helpers: its moto fixture, Secrets Manager's own part of a rotation, the handler's loader
# ("lambda" is a keyword, hence import_module).
_master = importlib.import_module("tests.lambda.test_rotate_master")
STEPS, aws, begin_rotation, current, load, make_secret, run = (
    _master.STEPS, _master.aws, _master.begin_rotation, _master.current, _master.load, _master.make_secret, _master.run)

LOGGER = "cruddur-rotate-master"  # the handler's service name when POWERTOOLS_SERVICE_NAME is not set


def connect(secret: dict, password: str | None = None, user: str | None = None):
    return psycopg2.connect(host=secret["host"], port=secret["port"], dbname=secret["dbname"],
                            user=user or secret["username"], password=password or secret["password"])


def logs_in(secret: dict, user: str, password: str) -> bool:
    try:
        connect(secret, password, user).close()
        return True
    except psycopg2.OperationalError:
        return False


@pytest.fixture
def pair(pg_server, migrated_database_url):
    """{"master": master secret value, "app": app secret value (the base user), "base", "clone"}; the base user owns
    the app's privileges (SELECT, INSERT on users), the clone inherits them; all dropped afterwards."""
    tag = uuid.uuid4().hex[:10]
    master, base = f"rotm_{tag}", f"rotapp_{tag}"
    clone = f"{base}_clone"
    master_password, app_password = uuid.uuid4().hex, uuid.uuid4().hex
    database = migrated_database_url.rsplit("/", 1)[1]
    admin = psycopg2.connect(migrated_database_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE ROLE {master} LOGIN CREATEROLE PASSWORD %s", (master_password,))
    as_master = psycopg2.connect(host=pg_server.host, port=pg_server.port, dbname=database, user=master,
                                 password=master_password)
    as_master.autocommit = True
    with as_master.cursor() as cur:  # the master creates them, as the migrations do on RDS
        cur.execute(f"CREATE ROLE {base} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s", (app_password,))
        cur.execute(f"CREATE ROLE {clone} LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE")
        cur.execute(f"GRANT {base} TO {clone} WITH INHERIT TRUE, SET FALSE")
    as_master.close()
    with admin.cursor() as cur:
        cur.execute(f"GRANT USAGE ON SCHEMA public TO {base}")
        cur.execute(f"GRANT SELECT, INSERT ON users TO {base}")
    common = {"engine": "postgres", "host": pg_server.host, "port": pg_server.port, "dbname": database}
    yield {"master": {**common, "username": master, "password": master_password},
           "app": {**common, "username": base, "password": app_password}, "base": base, "clone": clone}
    with admin.cursor() as cur:
        cur.execute(f"REVOKE ALL ON users FROM {base}")
        cur.execute(f"REVOKE ALL ON SCHEMA public FROM {base}")
        for role in (clone, base, master):
            cur.execute(f"DROP ROLE IF EXISTS {role}")
    admin.close()


@pytest.fixture
def rotation(aws, pair, monkeypatch):
    """(module, client, app secret ARN, master secret ARN) with the function's alternating-users environment."""
    master_arn = aws.create_secret(Name=f"cruddur/test/rds/master-{uuid.uuid4().hex[:6]}",
                                   SecretString=json.dumps(pair["master"]))["ARN"]
    monkeypatch.setenv("ROTATION_STRATEGY", "alternating-users")
    monkeypatch.setenv("MASTER_SECRET_ARN", master_arn)
    return load(), aws, make_secret(aws, pair["app"]), master_arn


def rotate(module, client, arn, steps=STEPS) -> str:
    token = begin_rotation(arn)
    run(module, client, arn, token, steps)
    return token


def test_a_rotation_switches_to_the_clone_and_the_previous_user_keeps_logging_in(rotation, pair):
    module, client, arn, _ = rotation
    open_session = connect(pair["app"])
    token = rotate(module, client, arn)
    new = current(client, arn)
    assert new["username"] == pair["clone"] and len(new["password"]) == 40
    assert {k: v for k, v in new.items() if k not in ("username", "password")} == {
        k: v for k, v in pair["app"].items() if k not in ("username", "password")}
    assert logs_in(new, pair["clone"], new["password"])
    # the grace the app needs: whoever still holds the previous value logs in until the next rotation
    assert logs_in(new, pair["base"], pair["app"]["password"])
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
    assert logs_in(second, pair["base"], second["password"])
    assert logs_in(second, pair["clone"], first["password"])  # the previous credentials, still good
    assert not logs_in(second, pair["base"], pair["app"]["password"])  # the one before: gone
    stages = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert "AWSCURRENT" in stages[second_token] and "AWSPREVIOUS" in stages[first_token]
    third = (rotate(module, client, arn), current(client, arn))[1]
    assert third["username"] == pair["clone"] and logs_in(third, pair["base"], second["password"])


def test_every_step_is_idempotent_when_retried(rotation, pair):
    module, client, arn, _ = rotation
    token = begin_rotation(arn)
    for step in STEPS:
        run(module, client, arn, token, steps=(step, step))
    new = current(client, arn)
    assert new["username"] == pair["clone"] and logs_in(new, pair["clone"], new["password"])


def test_a_failed_set_secret_leaves_awscurrent_usable(rotation, pair):
    module, client, arn, master_arn = rotation
    client.put_secret_value(SecretId=master_arn, SecretString=json.dumps({**pair["master"], "password": "stale"}))
    token = begin_rotation(arn)
    run(module, client, arn, token, steps=("createSecret",))
    with pytest.raises(module.RotationError) as err:
        run(module, client, arn, token, steps=("setSecret",))
    assert str(err.value) == (
        f"cannot log in to {pair['app']['host']} as the master user {pair['master']['username']} with its current "
        "password: fix the master secret first (runbooks/rotate-master-password.md); the app's current password is "
        "unchanged")
    still = current(client, arn)
    assert still == pair["app"] and logs_in(still, pair["base"], still["password"])
    pending = json.loads(client.get_secret_value(SecretId=arn, VersionStage="AWSPENDING")["SecretString"])
    assert not logs_in(pending, pair["clone"], pending["password"])  # nothing was set on the database
    # Secrets Manager retries: once the master secret is right again, the same rotation finishes
    client.put_secret_value(SecretId=master_arn, SecretString=json.dumps(pair["master"]))
    run(module, client, arn, token, steps=("setSecret", "testSecret", "finishSecret"))
    assert current(client, arn)["username"] == pair["clone"]


def test_set_secret_uses_the_masters_pending_password_while_the_master_rotates(rotation, pair, pg_server):
    module, client, arn, master_arn = rotation
    new_master_password = uuid.uuid4().hex
    admin = psycopg2.connect(pg_server.admin_url())
    admin.autocommit = True
    with admin.cursor() as cur:  # the master's setSecret has run, its finishSecret not yet
        cur.execute(f"ALTER ROLE {pair['master']['username']} PASSWORD %s", (new_master_password,))
    admin.close()
    client.put_secret_value(SecretId=master_arn, ClientRequestToken=str(uuid.uuid4()), VersionStages=["AWSPENDING"],
                            SecretString=json.dumps({**pair["master"], "password": new_master_password}))
    rotate(module, client, arn)
    new = current(client, arn)
    assert new["username"] == pair["clone"] and logs_in(new, pair["clone"], new["password"])


def test_a_clone_without_the_app_roles_privileges_is_never_switched_to(rotation, pair, migrated_database_url):
    module, client, arn, _ = rotation
    admin = psycopg2.connect(migrated_database_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"REVOKE {pair['base']} FROM {pair['clone']} GRANTED BY {pair['master']['username']}")
    admin.close()
    token = begin_rotation(arn)
    run(module, client, arn, token, steps=("createSecret",))
    with pytest.raises(module.RotationError) as err:
        run(module, client, arn, token, steps=("setSecret",))
    assert str(err.value) == (f"role {pair['clone']} does not inherit {pair['base']}'s privileges; GRANT "
                              f"{pair['base']} TO {pair['clone']} (sql/migrations/0006_app_clone_role.sql does), "
                              "then rotate again")
    assert current(client, arn) == pair["app"]


def test_a_missing_clone_user_is_one_clear_error(rotation, pair, migrated_database_url):
    module, client, arn, _ = rotation
    admin = psycopg2.connect(migrated_database_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP ROLE {pair['clone']}")
    admin.close()
    token = begin_rotation(arn)
    run(module, client, arn, token, steps=("createSecret",))
    with pytest.raises(module.RotationError) as err:
        run(module, client, arn, token, steps=("setSecret",))
    assert str(err.value) == (f"role {pair['clone']} does not exist: the migrations create it (sql/migrations/"
                              "0006_app_clone_role.sql); deploy, then rotate again")


def test_an_app_secret_that_names_the_master_is_refused(rotation, pair):
    module, client, _, _ = rotation
    arn = make_secret(client, {**pair["master"], "username": pair["master"]["username"] + "_clone"})
    token = begin_rotation(arn)
    run(module, client, arn, token, steps=("createSecret",))
    with pytest.raises(module.RotationError) as err:
        run(module, client, arn, token, steps=("setSecret",))
    assert str(err.value) == (f"the app secret names the master user {pair['master']['username']}; refusing to "
                              "rotate")


def test_the_strategy_needs_the_master_secrets_arn(rotation, pair, monkeypatch):
    module, client, arn, _ = rotation
    monkeypatch.delenv("MASTER_SECRET_ARN")
    token = begin_rotation(arn)
    run(module, client, arn, token, steps=("createSecret",))
    with pytest.raises(module.RotationError) as err:
        run(module, client, arn, token, steps=("setSecret",))
    assert str(err.value) == ("MASTER_SECRET_ARN is not set: the alternating-users rotation sets passwords as the "
                              "master user (components/master_rotation.py sets it); redeploy the function")
    monkeypatch.setenv("ROTATION_STRATEGY", "round-robin")
    with pytest.raises(module.RotationError) as err:
        run(module, client, arn, token, steps=("setSecret",))
    assert str(err.value) == "ROTATION_STRATEGY must be single-user or alternating-users, got 'round-robin'"


def test_no_password_in_any_log_line(rotation, pair, caplog, capsys):
    module, client, arn, _ = rotation
    """The function's own log (Powertools, at DEBUG here; INFO on AWS), records and whatever reached the streams."""
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        rotate(module, client, arn)
        rotate(module, client, arn)
    out = capsys.readouterr()
    lines = [f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name == LOGGER]
    lines += out.out.splitlines() + out.err.splitlines()
    ours = "\n".join(lines)
    assert "rotation finished" in ours and "password set on the database" in ours
    passwords = [pair["app"]["password"], pair["master"]["password"],
                 *(json.loads(client.get_secret_value(SecretId=arn, VersionId=v)["SecretString"])["password"]
                   for v in client.describe_secret(SecretId=arn)["VersionIdsToStages"])]
    assert len(set(passwords)) == 4
    assert not [p for p in passwords if p in ours]
    assert "SCRAM-SHA-256$" not in ours
