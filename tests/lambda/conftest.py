"""Fixtures for the Lambda tests (helpers in ``tests/lambda_support.py``, for the layers ``tests/layer_support.py``).

``load_handler()`` loads a fresh handler module (a fresh "container") and closes its connection after the test;
``handler_env`` clears every variable the handler reads; ``context`` is a Lambda context. The real-PostgreSQL
fixtures (``migrated_database_url``, ``role_url``, ``own_server``, ``down_database_url``) come from
``tests/conftest.py``. ``layer_builds`` holds each layer's stashed wheels and end-to-end build, made once per
session and shared by the layer tests.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass

import pytest

from tests.lambda_support import HANDLER_ENV, load_handler_module
from tests.layer_support import LayerBuilds


@pytest.fixture(scope="session")
def layer_builds(tmp_path_factory) -> LayerBuilds:
    return LayerBuilds(tmp_path_factory)


@pytest.fixture
def handler_env(monkeypatch):
    for name in HANDLER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "cruddur-post-confirmation")
    return monkeypatch


@pytest.fixture
def load_handler(handler_env):
    loaded = []

    def load():
        module = load_handler_module()
        # Powertools keeps one handler per service name, bound to the stream of the first load; point it at this
        # test's stdout so capsys sees the JSON lines.
        module.logger.registered_handler.stream = sys.stdout
        loaded.append(module)
        return module

    yield load
    for module in loaded:
        module._discard()
        sys.modules.pop(module.__name__, None)


@dataclass
class LambdaContext:
    function_name: str = "cruddur-test-post-confirmation"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:cruddur-test-post-confirmation"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 5000


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext(aws_request_id=str(uuid.uuid4()))


@pytest.fixture
def login_role(pg_server):
    """``login_role(password) -> name``: a new role on the suite's server that logs in with ``password`` and may read
    every table (``pg_read_all_data``): a "master" whose password is whatever a test says. Unique name (roles are
    cluster-wide), dropped afterwards."""
    import psycopg2

    created: list[str] = []

    def execute(statement, params=None):
        conn = psycopg2.connect(pg_server.admin_url())
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
        finally:
            conn.close()

    def _login_role(password: str) -> str:
        name = f"master_{uuid.uuid4().hex[:10]}"
        execute(f"CREATE ROLE {name} LOGIN PASSWORD %s IN ROLE pg_read_all_data", (password,))
        created.append(name)
        return name

    yield _login_role
    for name in created:
        execute(f"DROP ROLE IF EXISTS {name}")
