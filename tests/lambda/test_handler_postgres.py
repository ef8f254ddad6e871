"""The post-confirmation handler against a REAL PostgreSQL with the project's migrations applied.

Every test invokes ``handler(event, context)`` as Lambda would, through ``CONNECTION_URL`` (the local path), and
checks the ``users`` table with a separate admin connection.
"""

from __future__ import annotations

import copy
import json
import threading
import time

import psycopg2
import psycopg2.errors
import pytest

from ops.db import migrations
from ops.db.target import DbTarget
from tests.conftest import make_database
from tests.lambda_support import admin_rows, aws_example_event, confirmation_event, user_count

pytestmark = pytest.mark.usefixtures("handler_env")


@pytest.fixture
def db_url(migrated_database_url, handler_env):
    handler_env.setenv("CONNECTION_URL", migrated_database_url)
    return migrated_database_url


# -- the documented event -----------------------------------------------------------------------------------------
def test_aws_documentation_example_event_produces_exactly_one_correct_row(db_url, load_handler, context):
    event = aws_example_event()
    attributes = event["request"]["userAttributes"]
    result = load_handler().handler(copy.deepcopy(event), context)

    assert result == event  # returned unchanged
    assert user_count(db_url) == 1
    (row,) = admin_rows(db_url)
    assert row["display_name"] == attributes["name"] == "Andrew Brown"
    assert row["handle"] == attributes["preferred_username"] == "andrewbrown"
    assert row["email"] == attributes["email"] == "andrew@example.com"
    assert row["cognito_user_id"] == attributes["sub"]
    assert row["uuid"] is not None and row["created_at"] is not None


def test_returns_the_very_event_it_was_given(db_url, load_handler, context):
    event = confirmation_event()
    before = copy.deepcopy(event)
    assert load_handler().handler(event, context) is event
    assert event == before


# -- idempotency ------------------------------------------------------------------------------------------------
def test_duplicate_delivery_succeeds_and_changes_nothing(db_url, load_handler, context):
    module = load_handler()
    event = confirmation_event(name="First Name")
    module.handler(copy.deepcopy(event), context)
    (first,) = admin_rows(db_url)

    assert module.handler(copy.deepcopy(event), context) == event
    retried = copy.deepcopy(event)
    retried["request"]["userAttributes"]["name"] = "Changed On Retry"
    assert module.handler(retried, context) == retried

    assert admin_rows(db_url) == [first]


def test_concurrent_duplicate_deliveries_from_two_containers_leave_one_row(db_url, load_handler, context):
    containers = [load_handler(), load_handler()]  # two module instances: two connections, like two containers
    for module in containers:  # connect first, so the race is the INSERT itself
        module.with_connection(lambda connection: None)
    rounds = 25
    events = [confirmation_event() for _ in range(rounds)]
    errors: list[BaseException] = []
    results: list[dict] = []
    barrier = threading.Barrier(2)

    def deliver(module, event):
        try:
            barrier.wait(timeout=10)
            results.append(module.handler(copy.deepcopy(event), context))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    for event in events:
        threads = [threading.Thread(target=deliver, args=(module, event)) for module in containers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
    assert errors == []
    assert len(results) == 2 * rounds
    rows = admin_rows(db_url)
    assert sorted(r["cognito_user_id"] for r in rows) == sorted(e["request"]["userAttributes"]["sub"] for e in events)


# -- trigger sources that record nothing ------------------------------------------------------------------------
def test_a_confirmed_password_reset_touches_nothing(db_url, load_handler, context):
    module = load_handler()
    event = confirmation_event(source="PostConfirmation_ConfirmForgotPassword")
    assert module.handler(copy.deepcopy(event), context) == event
    assert user_count(db_url) == 0
    assert module._connection is None  # not even a connection was opened


@pytest.mark.parametrize("source,described", [
    ("absent", "none"), (None, "none"), ("postconfirmation_confirmsignup", "'postconfirmation_confirmsignup'"),
    ("POSTCONFIRMATION_CONFIRMSIGNUP", "'POSTCONFIRMATION_CONFIRMSIGNUP'"),
    ("PostConfirmation_ConfirmSignUp ", "'PostConfirmation_ConfirmSignUp '"), ("PreSignUp_SignUp", "'PreSignUp_SignUp'"),
    (["PostConfirmation_ConfirmSignUp"], "a list"), (1, "a int"), ({"S": "x"}, "a dict"),
    ("PostConfirmation_ConfirmSignUp\n", "a str of 31 characters"),
])
def test_a_trigger_source_that_is_not_cognitos_is_refused_and_nothing_is_written(db_url, load_handler, context,
                                                                                 source, described):
    module = load_handler()
    event = confirmation_event()
    if source == "absent":
        del event["triggerSource"]
    else:
        event["triggerSource"] = source
    with pytest.raises(module.MalformedEventError) as caught:
        module.handler(event, context)
    assert str(caught.value) == (
        "the Cognito event's triggerSource must be one of PostConfirmation_ConfirmSignUp, "
        f"PostConfirmation_ConfirmForgotPassword (exactly so spelled); got {described}")
    assert user_count(db_url) == 0
    assert module._connection is None


@pytest.mark.parametrize("sub", [" 8f6c2f3e-1a2b-4c5d-9e8f-0a1b2c3d4e5f", "8f6c2f3e-1a2b-4c5d-9e8f-0a1b2c3d4e5f\n",
                                 "8F6C2F3E-1A2B-4C5D-9E8F-0A1B2C3D4E5F", "8f6c2f3e1a2b4c5d9e8f0a1b2c3d4e5f",
                                 "{8f6c2f3e-1a2b-4c5d-9e8f-0a1b2c3d4e5f}", "admin", "8f6c2f3e-1a2b-4c5d-9e8f-0a1b2c3d4e5",
                                 "８f6c2f3e-1a2b-4c5d-9e8f-0a1b2c3d4e5f"])
def test_a_sub_that_is_not_cognitos_uuid_is_refused_and_nothing_is_written(db_url, load_handler, context, sub):
    module = load_handler()
    event = confirmation_event()
    event["request"]["userAttributes"]["sub"] = sub
    with pytest.raises(module.InvalidAttributeError) as caught:
        module.handler(event, context)
    assert str(caught.value) == ("user attribute 'sub' is not Cognito's user id (a lower-case UUID such as "
                                 "8f6c2f3e-1a2b-4c5d-9e8f-0a1b2c3d4e5f, nothing around it)")
    assert user_count(db_url) == 0


def test_forgot_password_needs_no_database_at_all(handler_env, down_database_url, load_handler, context):
    handler_env.setenv("CONNECTION_URL", down_database_url)
    event = confirmation_event(source="PostConfirmation_ConfirmForgotPassword")
    assert load_handler().handler(copy.deepcopy(event), context) == event


# -- missing attributes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("attribute", ["name", "preferred_username", "email", "sub"])
@pytest.mark.parametrize("how", ["absent", "empty", "blank", "null"])
def test_missing_attribute_raises_naming_it_and_logs_no_personal_data(db_url, load_handler, context, capsys,
                                                                      attribute, how):
    module = load_handler()
    event = confirmation_event(name="Secret Person", handle="secret_handle", email="secret.person@example.com")
    attributes = event["request"]["userAttributes"]
    if how == "absent":
        del attributes[attribute]
    else:
        attributes[attribute] = {"empty": "", "blank": "   ", "null": None}[how]

    with pytest.raises(module.MissingAttributeError, match=f"'{attribute}'") as caught:
        module.handler(event, context)
    assert caught.value.attribute == attribute
    assert user_count(db_url) == 0
    logs = capsys.readouterr().out
    assert attribute in logs
    for personal in ("Secret Person", "secret.person@example.com"):
        assert personal not in logs


@pytest.mark.parametrize("request_part", [{}, {"userAttributes": None}, {"userAttributes": "x"}])
def test_event_without_user_attributes_raises(db_url, load_handler, context, request_part):
    module = load_handler()
    event = confirmation_event()
    event["request"] = request_part
    with pytest.raises(module.MissingAttributeError, match="userAttributes"):
        module.handler(event, context)
    assert user_count(db_url) == 0


@pytest.mark.parametrize("event", [None, [], "PostConfirmation_ConfirmSignUp", 42])
def test_an_event_that_is_not_an_object_raises_a_clear_error(db_url, load_handler, context, event):
    module = load_handler()
    with pytest.raises(module.MalformedEventError, match="the Cognito event must be a JSON object"):
        module.handler(event, context)
    assert user_count(db_url) == 0


def test_success_logs_are_structured_and_carry_no_email_or_name(db_url, load_handler, context, capsys):
    event = confirmation_event(name="Private Name", handle="private_handle", email="private@example.com")
    load_handler().handler(event, context)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    recorded = [line for line in lines if line.get("message") == "user recorded"]
    assert len(recorded) == 1
    assert recorded[0]["cognito_user_id"] == event["request"]["userAttributes"]["sub"]
    assert recorded[0]["level"] == "INFO" and recorded[0]["function_request_id"] == context.aws_request_id
    text = json.dumps(lines)
    assert "Private Name" not in text and "private@example.com" not in text


# -- input is data, never SQL -------------------------------------------------------------------------------------
NASTY = {
    "sql injection": "Robert'); DROP TABLE users; --",
    "quotes and backslashes": "O'Brien \"the\" \\ back\\slash '' \\'",
    "format placeholders": "%s %(name)s {0} %% $1 :name ?",
    "comment and semicolon": "a; -- b /* c */ ; SELECT pg_sleep(10);",
    "emoji": "🦆 Duck 👩🏽‍💻 🇪🇺",
    "right-to-left": "مرحبا بالعالم שלום",
    "bidi override": "\u202eevil\u202c and \u200f marks \u200e",
    "combining and zero-width": "e\u0301 Zalgo z\u0336\u0335 zero\u200bwidth",
    "2 KB ascii": "x" * 2048,
    "2 KB multibyte": "名" * 2048,
    "newlines and tabs": "line1\nline2\r\n\ttabbed",
}


# Values that are not a legal handle (invisible characters, scripts mixed: see test_handle_normalization.py) still
# go verbatim into name and email; their handle is a plain one.
NOT_A_HANDLE = {"emoji", "right-to-left", "bidi override", "combining and zero-width", "newlines and tabs"}


@pytest.mark.parametrize("label", list(NASTY))
def test_hostile_and_unusual_input_is_stored_verbatim(db_url, load_handler, context, label):
    value = NASTY[label]
    handle = f"h{len(label)}_" + (label.replace(" ", "_") if label in NOT_A_HANDLE else value)
    event = confirmation_event(name=value, handle=handle, email=f"{value}@example.com")
    attributes = event["request"]["userAttributes"]
    load_handler().handler(copy.deepcopy(event), context)

    (row,) = admin_rows(db_url)  # the table still exists and holds exactly this row
    assert row["display_name"] == value
    assert row["handle"] == attributes["preferred_username"]
    assert row["email"] == attributes["email"]
    assert row["cognito_user_id"] == attributes["sub"]


def test_sql_in_the_sub_is_refused_before_the_database(db_url, load_handler, context):
    """The sub is Cognito's UUID or nothing; SQL in it never reaches a statement (which would take it as data)."""
    module = load_handler()
    module.handler(confirmation_event(handle="other"), context)
    with pytest.raises(module.InvalidAttributeError, match="'sub' is not Cognito's user id"):
        module.handler(confirmation_event(sub="x' OR '1'='1'); DELETE FROM users; --", handle="subtle"), context)
    assert user_count(db_url) == 1


def test_a_handle_taken_by_another_user_fails_loudly(db_url, load_handler, context, capsys):
    module = load_handler()
    module.handler(confirmation_event(handle="AndrewBrown"), context)
    with pytest.raises(module.ConfirmationError, match="UniqueViolation") as caught:
        module.handler(confirmation_event(handle="andrewbrown", email="someone@example.com"), context)
    assert isinstance(caught.value, module.HandleTakenError)
    assert str(caught.value) == ("the handle is already taken by another user (UniqueViolation, SQLSTATE 23505, "
                                 "constraint users_handle_lower_key)")
    assert user_count(db_url) == 1
    assert "someone@example.com" not in capsys.readouterr().out


@pytest.mark.parametrize("taken,lookalike", [
    ("ecopay", "\u0435\u0441\u043e\u0440\u0430\u0443"),  # all Cyrillic: е с о р а у
    ("ecopay", "\u0415\u0421\u041e\u0420\u0410\u0423"),  # all Cyrillic, upper case: Е С О Р А У
    ("modern", "rnodern"),                                     # rn for m
])
def test_a_lookalike_of_a_taken_handle_fails_like_the_handle_itself(db_url, load_handler, context, taken, lookalike):
    """Unique under case folding and the confusables skeleton (sql/migrations/0007_handle_lookalikes.sql), as the
    function's own least-privilege role writes it."""
    module = load_handler()
    module.handler(confirmation_event(handle=taken), context)
    with pytest.raises(module.HandleTakenError) as caught:
        module.handler(confirmation_event(handle=lookalike), context)
    assert str(caught.value) == ("the handle is already taken by another user (UniqueViolation, SQLSTATE 23505, "
                                 "constraint users_handle_lookalike_key)")
    assert user_count(db_url) == 1


# -- connection reuse, drops, outages, timeouts --------------------------------------------------------------------
def _backend_pid(module) -> int:
    return module.with_connection(lambda c: c.get_backend_pid())


def test_one_connection_is_reused_across_invocations(db_url, load_handler, context):
    module = load_handler()
    module.handler(confirmation_event(), context)
    pid = _backend_pid(module)
    module.handler(confirmation_event(), context)
    module.handler(confirmation_event(), context)
    assert _backend_pid(module) == pid
    assert user_count(db_url) == 3


def test_reconnects_once_when_the_server_dropped_the_connection(db_url, load_handler, context, capsys):
    module = load_handler()
    module.handler(confirmation_event(), context)
    pid = _backend_pid(module)
    with psycopg2.connect(db_url) as admin, admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close()
    time.sleep(0.2)

    event = confirmation_event()
    assert module.handler(copy.deepcopy(event), context) == event
    assert _backend_pid(module) != pid
    assert user_count(db_url) == 2
    assert "reconnecting once" in capsys.readouterr().out


def test_reconnects_after_the_server_restarted_between_invocations(own_server, handler_env, load_handler, context):
    url = make_database(own_server.admin_url())
    migrations.apply(DbTarget(url))
    handler_env.setenv("CONNECTION_URL", url)
    module = load_handler()
    module.handler(confirmation_event(), context)

    own_server.stop()
    own_server.start()

    event = confirmation_event()
    assert module.handler(copy.deepcopy(event), context) == event
    assert user_count(url) == 2


def test_server_down_raises_a_clear_error_quickly_and_records_nothing(own_server, handler_env, load_handler,
                                                                       context):
    url = make_database(own_server.admin_url())
    migrations.apply(DbTarget(url))
    handler_env.setenv("CONNECTION_URL", url)
    module = load_handler()
    module.handler(confirmation_event(), context)  # a live connection that the outage will break
    own_server.stop()

    started = time.monotonic()
    with pytest.raises(module.DatabaseUnavailableError, match="cannot connect to the database"):
        module.handler(confirmation_event(), context)
    assert time.monotonic() - started < 5

    own_server.start()
    assert user_count(url) == 1  # only the row from before the outage


def test_unreachable_database_on_a_cold_start_raises_a_clear_error(handler_env, down_database_url, load_handler,
                                                                   context):
    handler_env.setenv("CONNECTION_URL", down_database_url)
    module = load_handler()
    started = time.monotonic()
    with pytest.raises(module.DatabaseUnavailableError, match="cannot connect to the database") as caught:
        module.handler(confirmation_event(), context)
    assert time.monotonic() - started < 5
    assert "not-the-password" not in str(caught.value)


def test_statement_timeout_fails_fast_and_records_nothing(db_url, handler_env, load_handler, context):
    handler_env.setenv("DB_STATEMENT_TIMEOUT_MS", "300")
    module = load_handler()
    blocker = psycopg2.connect(db_url)
    try:
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")  # held until rollback
        started = time.monotonic()
        with pytest.raises(module.DatabaseTimeoutError, match="did not answer in time"):
            module.handler(confirmation_event(), context)
        elapsed = time.monotonic() - started
        assert 0.25 < elapsed < 2
    finally:
        blocker.rollback()
        blocker.close()
    assert user_count(db_url) == 0
    # the connection survives a timeout and the next invocation works
    module.handler(confirmation_event(), context)
    assert user_count(db_url) == 1


def test_default_timeouts_fit_cognitos_five_seconds(load_handler):
    module = load_handler()
    connect_s = module.DEFAULT_CONNECT_TIMEOUT_S
    statement_s = module.DEFAULT_STATEMENT_TIMEOUT_MS / 1000
    tcp_s = module.DEFAULT_TCP_USER_TIMEOUT_MS / 1000
    # worst case: a reused connection hangs (tcp_user_timeout), one reconnect, then the statement runs out
    assert tcp_s + connect_s + statement_s < 5


# -- as the real least-privilege role -----------------------------------------------------------------------------
def test_the_cruddur_confirmation_role_can_do_its_job_and_nothing_more(migrated_database_url, role_url,
                                                                      handler_env, load_handler, context):
    role = role_url(migrated_database_url, "cruddur_confirmation")
    handler_env.setenv("CONNECTION_URL", role)
    module = load_handler()
    event = confirmation_event()
    module.handler(copy.deepcopy(event), context)
    module.handler(copy.deepcopy(event), context)  # the ON CONFLICT path needs only these grants too
    assert user_count(migrated_database_url) == 1

    forbidden = [
        "DELETE FROM users",
        "TRUNCATE users",
        "SELECT count(*) FROM activities",
        "INSERT INTO activities (user_uuid, message) SELECT uuid, 'hi' FROM users",
        "DELETE FROM activities",
        "CREATE TABLE mine (id int)",
        "DROP TABLE users",
        "ALTER TABLE users ADD COLUMN x int",
    ]
    conn = psycopg2.connect(role)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone() == ("cruddur_confirmation",)
            for statement in forbidden:
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(statement)
    finally:
        conn.close()
    assert user_count(migrated_database_url) == 1
