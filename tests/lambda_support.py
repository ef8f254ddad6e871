"""Helpers for the post-confirmation Lambda's tests (``tests/lambda`` cannot be named in an import statement:
``lambda`` is a keyword). Fixtures built on these live in ``tests/lambda/conftest.py``.

The handler lives in ``lambda/post_confirmation/handler.py`` and is loaded with importlib: ``load_handler_module()``
returns a FRESH module each call; its module-level connection is that container's own, so two loads behave like
two Lambda containers (used for the concurrency test). ``fresh_module`` is how every Lambda test loads its handler
(the migrator's, the rotations', the restore check's too).
"""

from __future__ import annotations

import copy
import importlib.util
import io
import itertools
import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.extras
from botocore.response import StreamingBody

from ops.paths import PROJECT_ROOT

PROJECT_DIR = PROJECT_ROOT
# lambda/shared's modules (master_login.py, ...): each package carries them beside its handler
# (components/lambda_shared.py copies them in); a handler loaded from the repository finds their one source directory
# on sys.path instead.
SHARED_DIR = PROJECT_DIR / "lambda" / "shared"
HANDLER_PATH = PROJECT_DIR / "lambda" / "post_confirmation" / "handler.py"
FIXTURES = Path(__file__).resolve().parent / "lambda" / "fixtures"
# Every variable the handler reads: cleared for each test so the developer's shell never leaks in.
HANDLER_ENV = ("CONNECTION_URL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_SSLROOTCERT",
               "DB_STATEMENT_TIMEOUT_MS", "DB_CONNECT_TIMEOUT_S", "DB_TCP_USER_TIMEOUT_MS", "DB_BUDGET_MS")
_counter = itertools.count()


@dataclass
class LambdaContext:
    """The context object the Lambda runtime hands a function (what the handlers and Powertools read): the
    post-confirmation function's by default (5 s: Cognito's limit)."""

    function_name: str = "cruddur-test-post-confirmation"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    remaining_ms: int = 5000

    @property
    def invoked_function_arn(self) -> str:
        qualifier = "" if self.function_version == "$LATEST" else f":{self.function_version}"
        return f"arn:aws:lambda:eu-west-1:123456789012:function:{self.function_name}{qualifier}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def importable(*directories: Path) -> None:
    """Let a handler loaded from the repository import the bare names its package holds beside it (its siblings,
    ``lambda/shared``'s modules) from these directories."""
    for directory in directories:
        if str(directory) not in sys.path:
            sys.path.append(str(directory))


def shared_modules_importable() -> None:
    """Let a handler loaded from the repository ``import master_login`` as it does in its package."""
    importable(SHARED_DIR)


def fresh_module(path: Path, prefix: str, *siblings: Path):
    """A new copy of the module at ``path`` (a Lambda handler: a new "container"), as ``<prefix>_<n>``; what its
    package holds beside it is imported from ``siblings`` (directories put on ``sys.path``)."""
    importable(*siblings)
    name = f"{prefix}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_handler_module():
    return fresh_module(HANDLER_PATH, "post_confirmation_handler")


def lambda_response(payload: dict, function_error: str | None = None) -> dict:
    """What the Lambda client's ``invoke`` returns (for botocore's Stubber): ``payload`` as the JSON body, and
    ``FunctionError`` when the function failed."""
    body = json.dumps(payload).encode()
    response = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))}
    if function_error:
        response["FunctionError"] = function_error
    return response


def aws_example_event() -> dict:
    """The AWS documentation's post-confirmation example shape, with this pool's required attributes."""
    return json.loads((FIXTURES / "post_confirmation_event.json").read_text())


def confirmation_event(sub: str | None = None, name: str = "Alice Example", handle: str | None = None,
                       email: str | None = None, source: str | None = "PostConfirmation_ConfirmSignUp") -> dict:
    """A confirmation event for a new, unique user unless values are given."""
    event = copy.deepcopy(aws_example_event())
    sub = sub or str(uuid.uuid4())
    handle = handle if handle is not None else f"user_{sub[:8]}"
    email = email if email is not None else f"{handle}@example.com"
    event["triggerSource"] = source
    event["userName"] = sub
    event["request"]["userAttributes"].update({
        "sub": sub, "name": name, "preferred_username": handle, "email": email, "cognito:email_alias": email,
    })
    return event


def admin_rows(database_url: str) -> list[dict]:
    """Every row of ``users``, oldest first, read with the admin URL."""
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SELECT uuid, display_name, handle, email, cognito_user_id, created_at FROM users "
                        "ORDER BY created_at, cognito_user_id")
            return [dict(row) for row in cur.fetchall()]
    finally:
        conn.close()


def user_count(database_url: str) -> int:
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM users")
            return cur.fetchone()[0]
    finally:
        conn.close()
