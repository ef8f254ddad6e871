"""The app's environment variables from a stack's outputs and its app secret's CURRENT version, rendered as
dotenv, JSON or shell."""

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
from ops.stack.secrets import Credentials, credentials
from ops.urls import build_url

FORMATS = ("dotenv", "json", "shell")
# The Amazon RDS CA bundle shipped in the repo: the app verifies the server against it (sslmode=verify-full).
RDS_CA_BUNDLE = PROJECT_ROOT / "lambda" / "post_confirmation" / "global-bundle.pem"
# The same bundle plus Amazon Root CA 1-4: an RDS Proxy's certificate comes from ACM and chains to those roots. The
# default on a stack with a proxy (its URL verifies the proxy, READER_CONNECTION_URL a replica: one file for both).
RDS_PROXY_CA_BUNDLE = PROJECT_ROOT / "lambda" / "post_confirmation" / "rds-proxy-bundle.pem"


def app_credentials(outputs: dict[str, Any], stack: str) -> Credentials:
    """The app's own credentials from the CURRENT version of its secret (``appSecretArn``; the user alternates
    between two login roles when the password rotates). Refuses a secret that logs in as the master (the master's
    user name is read from the ``masterConnectionUrl`` output: only the name, which rotation never changes)."""
    app_arn = str(require(outputs, "appSecretArn", stack))
    if app_arn == outputs.get("masterSecretArn"):
        raise CruddurError(f"stack {stack}'s appSecretArn is the master secret; the app never gets the master "
                           f"credentials: run `pulumi up -s {stack}` with this version of the program")
    creds = credentials(outputs, stack, "appSecretArn")
    # connectionUrl: the master URL's name on stacks deployed before the rename
    master = outputs.get("masterConnectionUrl") or outputs.get("connectionUrl")
    if master and urlsplit(str(master)).username == creds.username:
        raise CruddurError(f"stack {stack}'s app secret ({app_arn}) logs in as the master user; the app never gets "
                           f"the master credentials: run `pulumi up -s {stack}` with this version of the program")
    return creds


def app_connection_url(outputs: dict[str, Any], stack: str) -> str:
    """The app's own URL (``app_credentials``) on the host it writes through (``_write_host``)."""
    creds = app_credentials(outputs, stack)
    return _on_host(creds, _write_host(outputs, creds))


def _write_host(outputs: dict[str, Any], creds: Credentials) -> str:
    """The stack's RDS Proxy (``proxyEndpoint``) when it has one, else the instance the secret names."""
    return str(outputs.get("proxyEndpoint") or creds.host)


def _on_host(creds: Credentials, host: str) -> str:
    """The credentials' URL (verify-full, as ``Credentials.url``) on another host of the same database."""
    return build_url(creds.username, creds.password, host, creds.port, creds.dbname, sslmode="verify-full")


def app_variables(connection_url: str, *, region: str, user_pool_id: str, client_id: str,
                  ca_bundle: str | Path, reader_connection_url: str | None = None) -> dict[str, str]:
    """The app's variables, by the names the Cruddur backend and frontend read: the one mapping that both
    ``cruddur stack env`` (a stack's values) and ``cruddur local up`` (the local database's, in ``.env``) write, so
    the app sees the same names wherever it runs (docs/environment.md). ``READER_CONNECTION_URL`` (a read replica,
    for the feed's queries) only where there is one."""
    reader = {} if reader_connection_url is None else {"READER_CONNECTION_URL": reader_connection_url}
    return {
        "CONNECTION_URL": connection_url,
        "AWS_COGNITO_USER_POOL_ID": user_pool_id,
        "AWS_COGNITO_USER_POOL_CLIENT_ID": client_id,
        "AWS_DEFAULT_REGION": region,
        "REACT_APP_AWS_PROJECT_REGION": region,
        "REACT_APP_AWS_COGNITO_REGION": region,
        "REACT_APP_AWS_USER_POOLS_ID": user_pool_id,
        "REACT_APP_CLIENT_ID": client_id,
        "PGSSLROOTCERT": str(ca_bundle),
        **reader,
    }


def app_env(outputs: dict[str, Any], stack: str, ca_bundle: str | Path = RDS_CA_BUNDLE) -> dict[str, str]:
    """Map stack outputs to the backend's and the frontend's variable names. ``ca_bundle`` is where the app
    finds the RDS CA bundle (``PGSSLROOTCERT``, which libpq and so psycopg read for verify-full); on a stack with an
    RDS Proxy the default is ``RDS_PROXY_CA_BUNDLE``, which also verifies the proxy."""
    region = str(require(outputs, "region", stack))
    pool = str(require(outputs, "userPoolId", stack))
    client = str(require(outputs, "userPoolClientId", stack))
    proxy = outputs.get("proxyEndpoint")
    if proxy and Path(ca_bundle) == RDS_CA_BUNDLE:
        ca_bundle = RDS_PROXY_CA_BUNDLE
    creds = app_credentials(outputs, stack)  # last: every cheap check first, then the one AWS call
    url = _on_host(creds, _write_host(outputs, creds))
    reader = outputs.get("readerEndpoint")
    return app_variables(url, region=region, user_pool_id=pool, client_id=client, ca_bundle=ca_bundle,
                         reader_connection_url=_on_host(creds, str(reader)) if reader else None)


def render(env: dict[str, str], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(env, indent=2) + "\n"
    if fmt == "shell":
        return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
    if fmt == "dotenv":
        return "".join(f"{key}={_dotenv_value(value)}\n" for key, value in env.items())
    raise CruddurError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
