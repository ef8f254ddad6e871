"""The handler inside Cognito's 5 s when the database is frozen or out of connections, against REAL
PostgreSQL servers: a backend stopped with SIGSTOP, a listener that never answers, a server whose connection slots
are all held, a server restarting.

Before: a frozen backend blocked until Lambda's own timeout; a full server failed at once with a generic
DatabaseUnavailableError and was never retried.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import socket
import threading
import time

import psycopg2
import pytest

from ops.db import migrations
from ops.db.roles import set_role_password
from ops.db.target import DbTarget
from tests.conftest import make_database
from tests.lambda_support import confirmation_event, user_count

pytestmark = pytest.mark.usefixtures("handler_env")

MAX_CONNECTIONS = 8  # superuser_reserved_connections (3) keep the other 5 for everyone else


def _log_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


# -- frozen server / backend --------------------------------------------------------------------------------------
@pytest.fixture
def silent_listener():
    """A TCP port that accepts connections (the kernel completes the handshake) and never says a word."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


def test_a_server_that_accepts_but_never_answers_fails_clearly_within_the_connect_timeout(
        handler_env, silent_listener, load_handler, context, capsys):
    handler_env.setenv("CONNECTION_URL", f"postgresql://postgres:not-the-password-xyz@127.0.0.1:{silent_listener}/x")
    module = load_handler()
    started = time.monotonic()
    with pytest.raises(module.DatabaseUnresponsiveError) as caught:
        module.handler(confirmation_event(email="quiet@example.com"), context)
    elapsed = time.monotonic() - started
    assert 1.9 < elapsed < 2.6  # DB_CONNECT_TIMEOUT_S (2), enforced by the client itself
    assert str(caught.value) == ("the database did not complete the connection within 2.0 s (it accepted the TCP "
                                 "connection but did not answer)")
    assert isinstance(caught.value, module.DatabaseTimeoutError)
    (error,) = [line for line in _log_lines(capsys) if line["level"] == "ERROR"]
    assert (error["message"], error["error_type"]) == ("could not record the confirmed user",
                                                        "DatabaseUnresponsiveError")
    assert "quiet@example.com" not in json.dumps(error) and "not-the-password" not in json.dumps(error)


def test_a_frozen_backend_fails_clearly_inside_the_budget_and_the_next_invocation_reconnects(
        migrated_database_url, handler_env, load_handler, context, capsys):
    handler_env.setenv("CONNECTION_URL", migrated_database_url)
    module = load_handler()
    module.handler(confirmation_event(), context)
    pid = module.with_connection(lambda connection: connection.get_backend_pid())
    os.kill(pid, signal.SIGSTOP)  # the backend process stops; the kernel still acknowledges its TCP traffic
    try:
        started = time.monotonic()
        with pytest.raises(module.DatabaseUnresponsiveError) as caught:
            module.handler(confirmation_event(), context)
        elapsed = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    # statement_timeout (1 s) cannot fire in a stopped backend: the client's own wait (1 s + 0.5 s grace) does
    assert 1.4 < elapsed < 2.0
    assert str(caught.value) == ("the database did not answer in time (no reply from the server within the client's "
                                 "deadline; the connection was dropped)")
    assert module._connection is None
    errors = [line for line in _log_lines(capsys) if line["level"] == "ERROR"]
    assert [e["error_type"] for e in errors] == ["DatabaseUnresponsiveError"]

    event = confirmation_event()
    assert module.handler(copy.deepcopy(event), context) == event
    assert module.with_connection(lambda connection: connection.get_backend_pid()) != pid


def test_the_lambdas_remaining_time_caps_the_budget(migrated_database_url, handler_env, load_handler, context):
    handler_env.setenv("CONNECTION_URL", migrated_database_url)
    module = load_handler()
    module.handler(confirmation_event(), context)
    pid = module.with_connection(lambda connection: connection.get_backend_pid())
    context.get_remaining_time_in_millis = lambda: 1000  # 300 ms are kept back to log and return
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(module.DatabaseUnresponsiveError):
            module.handler(confirmation_event(), context)
        elapsed = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert 0.6 < elapsed < 0.95


def test_default_budget_fits_cognitos_five_seconds(load_handler):
    module = load_handler()
    assert module.DEFAULT_BUDGET_MS + module.LAMBDA_MARGIN_MS < 5000
    # one connection attempt and one statement both fit inside the budget
    assert module.DEFAULT_CONNECT_TIMEOUT_S * 1000 < module.DEFAULT_BUDGET_MS
    assert module.DEFAULT_STATEMENT_TIMEOUT_MS + module.STATEMENT_GRACE_S * 1000 < module.DEFAULT_BUDGET_MS


# -- out of connections ---------------------------------------------------------------------------------------------
class FullServer:
    """A private server with max_connections = 8, every slot open to ordinary roles held by cruddur_app."""

    def __init__(self, server):
        self.server = server
        self.url = make_database(server.admin_url())
        migrations.apply(DbTarget(self.url))
        admin = psycopg2.connect(server.admin_url())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
        admin.close()
        server.stop()
        server.start()
        self.confirmation_url = set_role_password(DbTarget(self.url), "cruddur_confirmation", "confirm-pass-123")
        self.app_url = set_role_password(DbTarget(self.url), "cruddur_app", "app-pass-123")
        self.held: list = []

    def fill(self) -> int:
        while True:
            try:
                self.held.append(psycopg2.connect(self.app_url))
            except psycopg2.OperationalError as exc:
                self.refusal = str(exc).strip().splitlines()[-1]
                return len(self.held)

    def release(self, count: int = 1) -> None:
        for _ in range(count):
            self.held.pop().close()

    def close(self) -> None:
        while self.held:
            self.release()


@pytest.fixture
def full_server(own_server, handler_env):
    full = FullServer(own_server)
    handler_env.setenv("CONNECTION_URL", full.confirmation_url)
    try:
        yield full
    finally:
        full.close()


def test_a_full_server_is_retried_and_the_user_recorded_once_a_slot_frees(full_server, load_handler, context,
                                                                         capsys):
    assert full_server.fill() == MAX_CONNECTIONS - 3
    module = load_handler()
    threading.Timer(0.8, full_server.release).start()
    event = confirmation_event(email="patient@example.com")
    started = time.monotonic()
    assert module.handler(copy.deepcopy(event), context) == event
    elapsed = time.monotonic() - started
    assert 0.8 < elapsed < 3.5
    assert user_count(full_server.url) == 1
    lines = _log_lines(capsys)
    retries = [line for line in lines if line["message"] == "the database refused the connection; retrying"]
    assert retries and all(line["level"] == "WARNING" for line in retries)
    assert [line["attempt"] for line in retries] == list(range(1, len(retries) + 1))
    assert all("remaining connection slots are reserved" in line["error"] for line in retries)
    assert [line["message"] for line in lines if line["level"] == "INFO"] == ["user recorded"]
    assert "patient@example.com" not in json.dumps(lines)


def test_a_server_that_stays_full_fails_clearly_inside_the_budget(full_server, load_handler, context, capsys):
    full_server.fill()
    module = load_handler()
    started = time.monotonic()
    with pytest.raises(module.DatabaseBusyError) as caught:
        module.handler(confirmation_event(email="turned.away@example.com"), context)
    elapsed = time.monotonic() - started
    # DB_BUDGET_MS (3.5 s), well inside Cognito's 5 s; a retry is not started when its backoff (up to RETRY_CAP_S)
    # would end past the deadline, so the last attempt may come up to RETRY_CAP_S + 0.1 s early.
    assert 3.5 - module.RETRY_CAP_S - 0.2 < elapsed < 3.6
    message = str(caught.value)
    assert re.fullmatch(r"cannot connect to the database: FATAL:  remaining connection slots are reserved for roles "
                        r"with the SUPERUSER attribute \((\d+) attempts in [23]\.\d s\)", message), message
    assert int(re.search(r"\((\d+) attempts", message).group(1)) >= 5
    assert isinstance(caught.value, module.DatabaseUnavailableError)
    assert user_count(full_server.url) == 0
    lines = _log_lines(capsys)
    (error,) = [line for line in lines if line["level"] == "ERROR"]
    assert (error["message"], error["error_type"], error["error"]) == (
        "could not record the confirmed user", "DatabaseBusyError", message)
    assert "turned.away@example.com" not in json.dumps(lines)
    assert "confirm-pass-123" not in json.dumps(lines)


def test_a_wrong_password_is_not_retried(full_server, handler_env, load_handler, context):
    handler_env.setenv("CONNECTION_URL", full_server.confirmation_url.replace("confirm-pass-123", "wrong-pass"))
    module = load_handler()
    started = time.monotonic()
    with pytest.raises(module.DatabaseUnavailableError) as caught:
        module.handler(confirmation_event(), context)
    assert time.monotonic() - started < 0.5
    assert type(caught.value) is module.DatabaseUnavailableError
    assert str(caught.value) == ('cannot connect to the database: FATAL:  password authentication failed for user '
                                 '"cruddur_confirmation" (1 attempt in 0.0 s)')


def test_a_restarting_server_is_retried_until_it_accepts_connections(own_server, handler_env, load_handler, context,
                                                                     capsys):
    url = make_database(own_server.admin_url())
    migrations.apply(DbTarget(url))
    handler_env.setenv("CONNECTION_URL", url)
    own_server.stop()
    restart = threading.Timer(0.5, own_server.start)
    restart.start()
    module = load_handler()
    event = confirmation_event()
    assert module.handler(copy.deepcopy(event), context) == event
    restart.join()  # pg_ctl may still be waiting for the server it started: not past the fixture's teardown
    assert user_count(url) == 1
    retries = [line for line in _log_lines(capsys)
               if line["message"] == "the database refused the connection; retrying"]
    assert retries
