"""The rotation's database function on its own (``handler.db_handler``, ``lambda/rotate_master/db_actions.py``): its
three actions against the suite's real PostgreSQL, its payload validation, what it never says, and that it runs
with no AWS SDK at all (a subprocess where boto3 and botocore cannot be imported and no Python socket may open).
"""

from __future__ import annotations

import importlib
import json
import logging
import subprocess
import sys
import textwrap
import uuid

import psycopg2
import pytest

from tests.db_support import admin_execute
from tests.rotation_support import (
    DB_LOGGER,
    HANDLER_DIR,
    HANDLER_PATH,
    load,
    log_text,
    login_of,
    logs_in,
)

SENTINEL = "s3cr3t-VALUE-never-echoed"


@pytest.fixture
def db(monkeypatch):
    """``db(payload)`` -> the database function's answer (its entry point, as Lambda calls it)."""
    monkeypatch.setenv("DB_SSLMODE", "disable")  # the suite's server has no TLS; on AWS it is verify-full
    monkeypatch.delenv("DB_SSLROOTCERT", raising=False)
    module = load()
    return lambda payload: module.db_handler(json.loads(json.dumps(payload)), None)


@pytest.fixture
def action_error(db):
    return importlib.import_module("db_actions").ActionError


def set_password(logins, target, check_app_user=False) -> dict:
    return {"action": "set_password", "logins": [login_of(s) for s in logins], "target": target,
            "check_app_user": check_app_user}


# -- login ------------------------------------------------------------------------------------------------------------
def test_login_says_whether_the_server_accepts_the_password(db, rotation_master):
    master = rotation_master
    assert db({"action": "login", "secret": login_of(master)}) == {"ok": True}
    assert db({"action": "login", "secret": {**login_of(master), "port": str(master["port"])}}) == {"ok": True}
    assert db({"action": "login", "secret": {**login_of(master), "password": "wrong"}}) == {"ok": False}
    assert db({"action": "login", "secret": {**login_of(master), "username": "no_such_user"}}) == {"ok": False}


def test_an_unreachable_server_is_one_clear_error(db, action_error, rotation_master, down_database_url):
    port = int(down_database_url.rsplit(":", 1)[1].split("/")[0])
    for payload in ({"action": "login", "secret": {**login_of(rotation_master), "port": port}},
                    set_password([{**rotation_master, "port": port}], {"username": "x", "password": SENTINEL})):
        with pytest.raises(action_error) as err:
            db(payload)
        assert str(err.value).startswith(f"cannot reach {rotation_master['host']}:{port}: ")
        assert "\n" not in str(err.value) and rotation_master["password"] not in str(err.value)


# -- set_password -----------------------------------------------------------------------------------------------------
def test_set_password_uses_the_first_accepted_login_and_sends_only_a_scram_verifier(db, own_server, monkeypatch):
    """On a private server whose statement log records everything the user sends: the ALTER ROLE carries the SCRAM
    verifier computed client-side, never the plaintext."""
    user, old, new = f"rot_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex, uuid.uuid4().hex
    admin_execute(own_server.admin_url(), f"CREATE ROLE {user} LOGIN PASSWORD %s", (old,))
    admin_execute(own_server.admin_url(), f"ALTER ROLE {user} SET log_statement = 'all'")
    secret = {"host": "127.0.0.1", "port": own_server.port, "username": user, "password": old, "dbname": "postgres"}
    answer = db(set_password([{**secret, "password": "refused"}, secret], {"username": user, "password": new}))
    assert answer == {"ok": True, "login": 1}
    assert logs_in(secret, new) and not logs_in(secret, old)
    conn = psycopg2.connect(own_server.admin_url())
    with conn.cursor() as cur:
        cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (user,))
        assert cur.fetchone()[0].startswith("SCRAM-SHA-256$4096:")
    conn.close()
    statements = [line for line in own_server.log_file.read_text().splitlines() if "ALTER ROLE" in line]
    assert len(statements) == 1 and f'ALTER ROLE "{user}" WITH PASSWORD \'SCRAM-SHA-256$4096:' in statements[0]
    assert new not in own_server.log_file.read_text()


def test_set_password_changes_nothing_when_every_login_is_refused(db, rotation_master):
    master = rotation_master
    logins = [{**master, "password": "refused-1"}, {**master, "password": "refused-2"}]
    assert db(set_password(logins, {"username": master["username"], "password": SENTINEL})) == {
        "ok": False, "login": None}
    assert logs_in(master, master["password"]) and not logs_in(master, SENTINEL)


def test_check_app_user_sets_an_inheriting_unprivileged_user_and_refuses_the_rest(db, action_error, rotation_pair,
                                                                                  pg_server):
    pair, new = rotation_pair, uuid.uuid4().hex
    assert db(set_password([pair["master"]], {"username": pair["clone"], "password": new}, True)) == {
        "ok": True, "login": 0}
    assert logs_in(pair["app"], new, user=pair["clone"])
    with pytest.raises(action_error) as err:  # the master itself: CREATEROLE
        db(set_password([pair["master"]], {"username": pair["master"]["username"], "password": SENTINEL}, True))
    assert str(err.value) == (f"role {pair['master']['username']} is privileged (superuser, CREATEROLE, CREATEDB, "
                              "REPLICATION or BYPASSRLS); this rotation sets only the app's least-privilege users' "
                              "passwords")
    with pytest.raises(action_error) as err:
        db(set_password([pair["master"]], {"username": pair["base"] + "_nope_clone", "password": SENTINEL}, True))
    assert str(err.value) == (f"role {pair['base']}_nope_clone does not exist: the migrations create it "
                              "(sql/migrations/0006_app_clone_role.sql); deploy, then rotate again")
    admin_execute(pg_server.admin_url(), f"REVOKE {pair['base']} FROM {pair['clone']} GRANTED BY "
                                         f"{pair['master']['username']}")
    with pytest.raises(action_error) as err:
        db(set_password([pair["master"]], {"username": pair["clone"], "password": SENTINEL}, True))
    assert str(err.value) == (f"role {pair['clone']} does not inherit {pair['base']}'s privileges; GRANT "
                              f"{pair['base']} TO {pair['clone']} (sql/migrations/0006_app_clone_role.sql does), "
                              "then rotate again")
    assert logs_in(pair["app"], new, user=pair["clone"])  # refused before anything was set
    assert logs_in(pair["master"]) and not logs_in(pair["master"], SENTINEL)


def test_a_statement_the_server_refuses_is_one_line_with_its_sqlstate(db, action_error, rotation_pair):
    """The app's base user may not change another role's password: PostgreSQL says so, in one line."""
    pair = rotation_pair
    with pytest.raises(action_error) as err:
        db(set_password([pair["app"]], {"username": pair["clone"], "password": SENTINEL}))
    assert str(err.value).startswith("the database refused the set_password action (42501): permission denied")
    assert "\n" not in str(err.value) and SENTINEL not in str(err.value)


# -- test -------------------------------------------------------------------------------------------------------------
def test_the_test_action_logs_in_and_checks_the_role(db, rotation_pair):
    pair = rotation_pair
    app = login_of(pair["app"])
    assert db({"action": "test", "secret": app, "require_role": None}) == {"ok": True, "has_role": None}
    assert db({"action": "test", "secret": app, "require_role": pair["base"]}) == {"ok": True, "has_role": True}
    assert db({"action": "test", "secret": app, "require_role": pair["clone"]}) == {"ok": True, "has_role": False}
    assert db({"action": "test", "secret": {**app, "password": "wrong"}, "require_role": pair["base"]}) == {
        "ok": False, "has_role": None}


# -- the payload ------------------------------------------------------------------------------------------------------
LOGIN = {"host": "db.example", "port": 5432, "username": "cruddur_app", "password": SENTINEL, "dbname": "cruddur"}
TARGET = {"username": "cruddur_app_clone", "password": SENTINEL}


@pytest.mark.parametrize("payload, message", [
    (SENTINEL, "the database function's payload must be a JSON object whose action is login, set_password, test"),
    ([LOGIN], "the database function's payload must be a JSON object whose action is login, set_password, test"),
    ({"action": "run_sql", "sql": SENTINEL},
     "the database function's payload must be a JSON object whose action is login, set_password, test"),
    ({"action": ["login"], "secret": LOGIN},
     "the database function's payload must be a JSON object whose action is login, set_password, test"),
    ({"action": "login"}, "the login payload takes exactly the keys action, secret"),
    ({"action": "login", "secret": LOGIN, "sql": SENTINEL}, "the login payload takes exactly the keys action, secret"),
    ({"action": "login", "secret": SENTINEL},
     "the login payload's secret must be an object with exactly the keys host, port, username, password, dbname"),
    ({"action": "login", "secret": {**LOGIN, "engine": SENTINEL}},
     "the login payload's secret must be an object with exactly the keys host, port, username, password, dbname"),
    ({"action": "login", "secret": {**LOGIN, "port": SENTINEL}},
     "the login payload's secret.port must be a port number (1-65535)"),
    ({"action": "login", "secret": {**LOGIN, "port": 70000}},
     "the login payload's secret.port must be a port number (1-65535)"),
    ({"action": "login", "secret": {**LOGIN, "port": True}},
     "the login payload's secret.port must be a port number (1-65535)"),
    ({"action": "login", "secret": {**LOGIN, "port": "9" * 5000}},
     "the login payload's secret.port must be a port number (1-65535)"),
    ({"action": "login", "secret": {**LOGIN, "host": ""}},
     "the login payload's secret.host must be a non-empty string without NUL characters"),
    ({"action": "login", "secret": {**LOGIN, "password": SENTINEL + "\x00"}},
     "the login payload's secret.password must be a non-empty string without NUL characters"),
    ({"action": "login", "secret": {**LOGIN, "username": [SENTINEL]}},
     "the login payload's secret.username must be a non-empty string without NUL characters"),
    ({"action": "set_password", "logins": [], "target": TARGET, "check_app_user": True},
     "the set_password payload's logins must be a list of 1 to 3 logins"),
    ({"action": "set_password", "logins": [LOGIN] * 4, "target": TARGET, "check_app_user": True},
     "the set_password payload's logins must be a list of 1 to 3 logins"),
    ({"action": "set_password", "logins": LOGIN, "target": TARGET, "check_app_user": True},
     "the set_password payload's logins must be a list of 1 to 3 logins"),
    ({"action": "set_password", "logins": [LOGIN, {**LOGIN, "dbname": 1}], "target": TARGET, "check_app_user": True},
     "the set_password payload's logins[1].dbname must be a non-empty string without NUL characters"),
    ({"action": "set_password", "logins": [LOGIN], "target": LOGIN, "check_app_user": True},
     "the set_password payload's target must be an object with exactly the keys username, password"),
    ({"action": "set_password", "logins": [LOGIN], "target": {**TARGET, "password": ""}, "check_app_user": True},
     "the set_password payload's target.password must be a non-empty string without NUL characters"),
    ({"action": "set_password", "logins": [LOGIN], "target": TARGET, "check_app_user": "yes"},
     "the set_password payload's check_app_user must be true or false"),
    ({"action": "set_password", "logins": [LOGIN], "target": TARGET},
     "the set_password payload takes exactly the keys action, logins, target, check_app_user"),
    ({"action": "test", "secret": LOGIN}, "the test payload takes exactly the keys action, secret, require_role"),
    ({"action": "test", "secret": LOGIN, "require_role": 7},
     "the test payload's require_role must be a role name or null"),
])
def test_a_malformed_payload_is_one_line_naming_the_key_never_the_value(db, action_error, payload, message, caplog,
                                                                        capsys):
    with caplog.at_level(logging.DEBUG, logger=DB_LOGGER), pytest.raises(action_error) as err:
        db(payload)
    assert str(err.value) == message
    assert SENTINEL not in log_text(caplog, capsys)


def test_no_password_in_any_log_line_or_answer(db, action_error, rotation_pair, caplog, capsys):
    pair, new = rotation_pair, uuid.uuid4().hex
    app, master = login_of(pair["app"]), pair["master"]
    with caplog.at_level(logging.DEBUG, logger=DB_LOGGER):
        answers = [
            db({"action": "login", "secret": app}),
            db({"action": "login", "secret": {**app, "password": SENTINEL}}),
            db(set_password([{**master, "password": SENTINEL}, master], {"username": pair["clone"], "password": new},
                            True)),
            db({"action": "test", "secret": {**app, "username": pair["clone"], "password": new},
                "require_role": pair["base"]}),
        ]
        with pytest.raises(action_error) as err:
            db(set_password([master], {"username": master["username"], "password": SENTINEL}, True))
    assert answers == [{"ok": True}, {"ok": False}, {"ok": True, "login": 1}, {"ok": True, "has_role": True}]
    ours = "\n".join([log_text(caplog, capsys), json.dumps(answers), str(err.value)])
    assert "database action" in ours and "password set on the database" in ours
    for password in (pair["app"]["password"], master["password"], new, SENTINEL):
        assert password not in ours
    assert "SCRAM-SHA-256$" not in ours


# -- no AWS SDK -----------------------------------------------------------------------------------------------------
NO_AWS_SCRIPT = textwrap.dedent("""
    import importlib.util, json, socket, sys

    class NoAwsSdk:
        # boto3 and botocore (and what only they use) cannot be imported in this process
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("boto3", "botocore", "s3transfer", "aiobotocore"):
                raise ImportError(f"{name} is not importable in the database function's test")
            return None

    def no_socket(*args, **kwargs):
        raise OSError("the database function opened a Python socket")

    sys.meta_path.insert(0, NoAwsSdk())
    socket.socket.connect = socket.socket.connect_ex = no_socket  # libpq connects in C, not through Python
    socket.create_connection = no_socket
    handler_dir, handler_path = sys.argv[1], sys.argv[2]
    sys.path.append(handler_dir)
    spec = importlib.util.spec_from_file_location("handler", handler_path)
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    answers = [handler.db_handler(payload, None) for payload in json.load(sys.stdin)]
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore", "s3transfer", "urllib3"))
    print(json.dumps({"answers": answers, "loaded": loaded}))
""")


def test_the_database_function_runs_without_any_aws_sdk(rotation_pair):
    pair, new = rotation_pair, uuid.uuid4().hex
    app, master = login_of(pair["app"]), pair["master"]
    payloads = [
        {"action": "login", "secret": app},
        set_password([master], {"username": pair["clone"], "password": new}, True),
        {"action": "test", "secret": {**app, "username": pair["clone"], "password": new}, "require_role": pair["base"]},
    ]
    result = subprocess.run([sys.executable, "-c", NO_AWS_SCRIPT, str(HANDLER_DIR), str(HANDLER_PATH)],
                            input=json.dumps(payloads), capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "DB_SSLMODE": "disable", "HOME": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "answers": [{"ok": True}, {"ok": True, "login": 0}, {"ok": True, "has_role": True}], "loaded": []}
    assert logs_in(pair["app"], new, user=pair["clone"])
