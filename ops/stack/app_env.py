"""The app's environment variables from a stack's outputs, rendered as dotenv, JSON or shell."""

from __future__ import annotations

import json
import shlex
from typing import Any

from ops.dotenv import quote as _dotenv_value
from ops.errors import CruddurError
from ops.stack.outputs import require

FORMATS = ("dotenv", "json", "shell")


def app_env(outputs: dict[str, Any], stack: str) -> dict[str, str]:
    """Map stack outputs to the backend's and the frontend's variable names."""
    region = str(require(outputs, "region", stack))
    pool = str(require(outputs, "userPoolId", stack))
    client = str(require(outputs, "userPoolClientId", stack))
    return {
        "CONNECTION_URL": str(require(outputs, "connectionUrl", stack)),
        "AWS_COGNITO_USER_POOL_ID": pool,
        "AWS_COGNITO_USER_POOL_CLIENT_ID": client,
        "AWS_DEFAULT_REGION": region,
        "REACT_APP_AWS_PROJECT_REGION": region,
        "REACT_APP_AWS_COGNITO_REGION": region,
        "REACT_APP_AWS_USER_POOLS_ID": pool,
        "REACT_APP_CLIENT_ID": client,
    }


def render(env: dict[str, str], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(env, indent=2) + "\n"
    if fmt == "shell":
        return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
    if fmt == "dotenv":
        return "".join(f"{key}={_dotenv_value(value)}\n" for key, value in env.items())
    raise CruddurError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
