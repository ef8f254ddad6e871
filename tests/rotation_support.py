"""Helpers for the rotation functions' tests (``tests/lambda`` cannot be named in an import statement: ``lambda`` is
a keyword). Fixtures built on these (``rotation_aws``, ``rotation_master``, ``rotation_pair``) live in
``tests/lambda/conftest.py``.

``lambda/rotate_master/handler.py`` is ONE package with two entry points: ``handler`` (the rotation function, outside
the VPC, Secrets Manager through moto here) and ``db_handler`` (the database function, inside the VPC, PostgreSQL
only, the suite's real server here). ``InProcessLambda`` is Lambda's synchronous Invoke between them, in this
process: the REAL ``db_handler`` runs on the JSON the rotation function sent, and answers as Lambda's Python runtime
does, an exception included. Secrets Manager's own part of a rotation (``RotateSecret`` labels a new, empty version
AWSPENDING, then calls the function once per step) is ``begin_rotation`` on moto's model.
"""

from __future__ import annotations

import io
import json
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import pytest
from moto.secretsmanager.models import secretsmanager_backends

from ops.paths import PROJECT_ROOT
from tests.lambda_support import fresh_module

HANDLER_DIR = PROJECT_ROOT / "lambda" / "rotate_master"
HANDLER_PATH = HANDLER_DIR / "handler.py"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
DB_FUNCTION = "cruddur-test-rotate-master-db"  # what the rotation function's DB_FUNCTION_NAME names
# the two functions' service names (logger names) when POWERTOOLS_SERVICE_NAME is not set
ROTATION_LOGGER, DB_LOGGER = "cruddur-rotate-master", "cruddur-rotate-db"


def load():
    """A fresh handler module (a fresh "container"); its ``db_handler`` imports ``db_actions`` as in the package."""
    return fresh_module(HANDLER_PATH, "rotate_master_handler", HANDLER_DIR)


@dataclass
class InProcessLambda:
    """The Lambda client's ``invoke`` for the database function: the payload crosses as JSON bytes, the real
    ``db_handler`` of ``module`` runs, and its answer or exception comes back as Lambda's Python runtime reports it
    (an exception: ``FunctionError: Unhandled`` and ``{"errorMessage", "errorType", "requestId", "stackTrace"}``)."""

    module: Any
    calls: list[tuple[str, str]] = field(default_factory=list)  # (function name, action) of each invocation
    answers: list[Any] = field(default_factory=list)  # each answer body, as the rotation function received it

    def __call__(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict:  # noqa: N803 - boto3's
        assert InvocationType == "RequestResponse"
        event = json.loads(Payload)
        self.calls.append((FunctionName, event.get("action")))
        error = None
        try:
            body = self.module.db_handler(event, None)
        except Exception as exc:  # noqa: BLE001 - Lambda's runtime reports any exception the same way
            body = {"errorMessage": str(exc), "errorType": type(exc).__name__, "requestId": str(uuid.uuid4()),
                    "stackTrace": traceback.format_tb(exc.__traceback__)}
            error = "Unhandled"
        body = json.loads(json.dumps(body))  # what Lambda returns is JSON
        self.answers.append(body)
        response = {"StatusCode": 200, "ExecutedVersion": "$LATEST",
                    "Payload": io.BytesIO(json.dumps(body).encode())}
        if error:
            response["FunctionError"] = error
        return response

    @property
    def actions(self) -> list[str]:
        return [action for _, action in self.calls]


def make_secret(client, value: dict) -> str:
    """A secret with ``value`` as AWSCURRENT and rotation enabled (moto's model; RotateSecret would start one)."""
    arn = client.create_secret(Name=f"cruddur/test/rds/master-{uuid.uuid4().hex[:6]}",
                               SecretString=json.dumps(value))["ARN"]
    model = secretsmanager_backends[ACCOUNT][REGION].secrets[arn]
    model.rotation_requested = model.rotation_enabled = True
    model.auto_rotate_after_days = 30
    return arn


def begin_rotation(arn: str) -> str:
    """What RotateSecret does before calling the function: a new version, no value yet, labelled AWSPENDING."""
    model = secretsmanager_backends[ACCOUNT][REGION].secrets[arn]
    token = str(uuid.uuid4())
    model.remove_version_stages_from_old_versions(["AWSPENDING"])
    model.versions[token] = {"createdate": int(time.time()), "version_id": token, "version_stages": ["AWSPENDING"]}
    return token


def run(module, client, arn: str, token: str, steps=STEPS, invoke=None) -> None:
    """Secrets Manager calling the rotation function once per step; ``invoke`` defaults to a new in-process Lambda
    for the module's database function."""
    invoke = invoke or InProcessLambda(module)
    for step in steps:
        assert module.handler({"SecretId": arn, "ClientRequestToken": token, "Step": step}, None, client=client,
                              invoke=invoke) is None


def step_error(module, client, arn: str, token: str, step: str, invoke=None) -> str:
    """The message of the ``RotationError`` the function raises for ``step`` (Secrets Manager calling it once)."""
    with pytest.raises(module.RotationError) as err:
        run(module, client, arn, token, steps=(step,), invoke=invoke)
    return str(err.value)


def set_secret_error(module, client, arn: str, invoke=None) -> str:
    """A new rotation's createSecret, then the message of the ``RotationError`` its setSecret raises."""
    token = begin_rotation(arn)
    run(module, client, arn, token, steps=("createSecret",), invoke=invoke)
    return step_error(module, client, arn, token, "setSecret", invoke)


def current(client, arn: str) -> dict:
    return json.loads(client.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"])


def pending(client, arn: str) -> dict:
    return json.loads(client.get_secret_value(SecretId=arn, VersionStage="AWSPENDING")["SecretString"])


def connect(secret: dict, password: str | None = None, user: str | None = None):
    return psycopg2.connect(host=secret["host"], port=secret["port"], dbname=secret["dbname"],
                            user=user or secret["username"], password=password or secret["password"])


def logs_in(secret: dict, password: str | None = None, user: str | None = None) -> bool:
    try:
        connect(secret, password, user).close()
        return True
    except psycopg2.OperationalError:
        return False


def login_of(secret: dict) -> dict:
    """The five fields the database function's actions take of a secret value."""
    return {key: secret[key] for key in ("host", "port", "username", "password", "dbname")}


def log_text(caplog, capsys) -> str:
    """Every line either function logged (their records, at whatever level the test set) and all the streams got."""
    out = capsys.readouterr()
    lines = [f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name in (ROTATION_LOGGER, DB_LOGGER)]
    return "\n".join([*lines, *out.out.splitlines(), *out.err.splitlines()])
