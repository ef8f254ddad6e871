"""The app's environment variables from a stack's outputs, rendered as dotenv, JSON or shell."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ops.dotenv import quote as _dotenv_value
from ops.errors import CruddurError
from ops.paths import PROJECT_ROOT
from ops.stack.outputs import require

FORMATS = ("dotenv", "json", "shell")
# The Amazon RDS CA bundle shipped in the repo: the app verifies the server against it (sslmode=verify-full).
RDS_CA_BUNDLE = PROJECT_ROOT / "lambda" / "post_confirmation" / "global-bundle.pem"


def app_connection_url(outputs: dict[str, Any], stack: str) -> str:
    """The app's own URL (``appConnectionUrl``, role ``cruddur_app``); refuses one that logs in as the master."""
    url = str(require(outputs, "appConnectionUrl", stack))
    # connectionUrl: the master URL's name on stacks deployed before the rename
    master = outputs.get("masterConnectionUrl") or outputs.get("connectionUrl")
    user = urlsplit(url).username
    if not user or (master and urlsplit(str(master)).username == user):
        raise CruddurError(f"stack {stack}'s appConnectionUrl does not name the app's own role; the app never gets "
                           f"the master credentials: run `pulumi up -s {stack}` with this version of the program")
    return url


def app_env(outputs: dict[str, Any], stack: str, ca_bundle: str | Path = RDS_CA_BUNDLE) -> dict[str, str]:
    """Map stack outputs to the backend's and the frontend's variable names. ``ca_bundle`` is where the app
    finds the RDS CA bundle (``PGSSLROOTCERT``, which libpq and so psycopg read for verify-full)."""
    region = str(require(outputs, "region", stack))
    pool = str(require(outputs, "userPoolId", stack))
    client = str(require(outputs, "userPoolClientId", stack))
    return {
        "CONNECTION_URL": app_connection_url(outputs, stack),
        "AWS_COGNITO_USER_POOL_ID": pool,
        "AWS_COGNITO_USER_POOL_CLIENT_ID": client,
        "AWS_DEFAULT_REGION": region,
        "REACT_APP_AWS_PROJECT_REGION": region,
        "REACT_APP_AWS_COGNITO_REGION": region,
        "REACT_APP_AWS_USER_POOLS_ID": pool,
        "REACT_APP_CLIENT_ID": client,
        "PGSSLROOTCERT": str(ca_bundle),
    }


def render(env: dict[str, str], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(env, indent=2) + "\n"
    if fmt == "shell":
        return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
    if fmt == "dotenv":
        return "".join(f"{key}={_dotenv_value(value)}\n" for key, value in env.items())
    raise CruddurError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
