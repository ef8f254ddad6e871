"""The rotation's database function: inside the VPC, PostgreSQL only, no AWS call.

Entry point ``handler.db_handler`` (``handler.py`` loads this module on the function's first call). The rotation
function outside the VPC (``handler.handler``) reads and writes Secrets Manager and invokes this function
synchronously (``RequestResponse``) for the steps that need the database; the credentials it needs travel in that
payload. This function imports no AWS SDK (it runs even where boto3 and botocore are absent; a test proves it), so
its role needs only ``AWSLambdaVPCAccessExecutionRole`` (network interfaces, logs) and the private subnets need no
Secrets Manager endpoint.

The payload is one of three explicit actions (never SQL), each a JSON object with exactly these keys. A *login* is
``{"host", "port", "username", "password", "dbname"}`` (non-empty strings; ``port`` a number 1-65535 or its digits):

``{"action": "login", "secret": LOGIN}``
    -> ``{"ok": true}`` when the server accepts the login, ``{"ok": false}`` when it refuses the password
    (SQLSTATE 28P01).
``{"action": "set_password", "logins": [LOGIN, ...], "target": {"username", "password"}, "check_app_user": BOOL}``
    Logs in with the first of the 1 to 3 logins whose password the server accepts (in order; a refused password
    tries the next) and sets the target user's password there, as a SCRAM-SHA-256 verifier computed here (the
    plaintext never reaches SQL text, ``pg_stat_activity`` or the server's statement log). With ``check_app_user``
    it first checks, in the same transaction, that the target exists, is unprivileged and inherits its base role
    (``X`` for ``X_clone``). -> ``{"ok": true, "login": INDEX}`` (the login that set it) or
    ``{"ok": false, "login": null}`` when the server refused every login (nothing changed).
``{"action": "test", "secret": LOGIN, "require_role": ROLE or null}``
    Logs in and runs ``SELECT 1``, or with a role, asks whether the login holds that role's privileges.
    -> ``{"ok": true, "has_role": BOOL or null}``, or ``{"ok": false, "has_role": null}`` when the password is
    refused.

Anything else raises ``ActionError`` with a one-line message (Lambda answers with ``FunctionError`` and
``{"errorType": "ActionError", "errorMessage": ...}``; the rotation function raises that message): a malformed
payload names the key at fault and never echoes a value; an unreachable server says ``cannot reach HOST:PORT: ...``;
the server's refusal of a statement names its SQLSTATE. The function never logs the event or a password, and its
answers carry no password.

TLS ``verify-full`` against the RDS CA bundle shipped beside this file. ``DB_SSLROOTCERT`` overrides the bundle's
path and ``DB_SSLMODE`` the mode, for tests against a local server without TLS only (never set on AWS).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

import psycopg2
from aws_lambda_powertools import Logger
from psycopg2 import sql
from psycopg2.extensions import encrypt_password

SERVICE = "cruddur-rotate-db"
DEFAULT_CA_BUNDLE = Path(__file__).resolve().parent / "global-bundle.pem"
CLONE_SUFFIX = "_clone"  # AWS's multi-user naming: the alternate of user X is X_clone (and back)
LOGIN_FIELDS = ("host", "port", "username", "password", "dbname")
TARGET_FIELDS = ("username", "password")
# single user: AWSCURRENT, AWSPREVIOUS; alternating users: the master's AWSCURRENT, AWSPENDING
MAX_LOGINS = 3
ACTIONS = {"login": ("secret",), "set_password": ("logins", "target", "check_app_user"),
           "test": ("secret", "require_role")}
REFUSED_SQLSTATE = "28P01"  # invalid_password; libpq reports it with no pgcode, by the server's message
_REFUSED_MESSAGE = "password authentication failed"

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))


class ActionError(Exception):
    """A database action cannot proceed; the one-line message says why (never a secret value)."""


def handle(event: Any) -> dict[str, Any]:
    action = _validated(event)
    logger.info("database action", extra={"action": action})
    try:
        return _ACTIONS[action](event)
    except psycopg2.Error as exc:  # a statement the server refused: its SQLSTATE and first line, no values
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ActionError(f"the database refused the {action} action ({exc.pgcode or 'no SQLSTATE'}): "
                          f"{first[:200]}") from None


# -- the actions ----------------------------------------------------------------------------------------------------
def _login(event: dict) -> dict[str, Any]:
    conn = _connect(event["secret"])
    if conn is None:
        return {"ok": False}
    conn.close()
    return {"ok": True}


def _set_password(event: dict) -> dict[str, Any]:
    target = event["target"]
    for index, login in enumerate(event["logins"]):
        conn = _connect(login)
        if conn is None:
            continue
        try:
            with conn.cursor() as cur:
                if event["check_app_user"]:
                    check_app_user(cur, target["username"])
                verifier = encrypt_password(target["password"], target["username"], conn, "scram-sha-256")
                cur.execute(sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
                    sql.Identifier(target["username"]), sql.Literal(verifier)))
            conn.commit()
        finally:
            conn.close()
        logger.info("password set on the database", extra={"user": target["username"], "login": index})
        return {"ok": True, "login": index}
    return {"ok": False, "login": None}


def _test(event: dict) -> dict[str, Any]:
    conn = _connect(event["secret"])
    if conn is None:
        return {"ok": False, "has_role": None}
    try:
        with conn.cursor() as cur:
            if event["require_role"] is None:
                cur.execute("SELECT 1")
                cur.fetchone()
                return {"ok": True, "has_role": None}
            cur.execute("SELECT pg_catalog.pg_has_role(current_user, %s, 'USAGE')", (event["require_role"],))
            return {"ok": True, "has_role": bool(cur.fetchone()[0])}
    finally:
        conn.close()


_ACTIONS = {"login": _login, "set_password": _set_password, "test": _test}


def base_user(username: str) -> str:
    """The role that holds the privileges (``X`` for both ``X`` and ``X_clone``); the rule of ``handler.base_user``,
    repeated so that the database actions depend on nothing of the rotation function's."""
    return username[:-len(CLONE_SUFFIX)] if username.endswith(CLONE_SUFFIX) else username


def check_app_user(cur, username: str) -> None:
    """The alternating-users rotation sets passwords only on existing, unprivileged users that inherit their base
    role's privileges."""
    base = base_user(username)
    cur.execute("SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls, "
                "pg_catalog.pg_has_role(rolname, %s, 'USAGE') FROM pg_catalog.pg_roles WHERE rolname = %s",
                (base, username))
    row = cur.fetchone()
    if row is None:
        raise ActionError(f"role {username} does not exist: the migrations create it (sql/migrations/"
                          "0006_app_clone_role.sql); deploy, then rotate again")
    if row[0]:
        raise ActionError(f"role {username} is privileged (superuser, CREATEROLE, CREATEDB, REPLICATION or "
                          "BYPASSRLS); this rotation sets only the app's least-privilege users' passwords")
    if not row[1]:
        raise ActionError(f"role {username} does not inherit {base}'s privileges; GRANT {base} TO {username} "
                          "(sql/migrations/0006_app_clone_role.sql does), then rotate again")


def tls_may_be_off(host: str) -> bool:
    """Whether a connection to ``host`` may go without TLS: only to this machine (``localhost``, a loopback address,
    a socket directory), the suite's server; an RDS endpoint in any partition, or any other host, never. The same
    rule as lambda/migrator/common.py's (tests/lambda/test_tls_rule.py holds them equal)."""
    name = host.strip().lower().rstrip(".")
    if name == "localhost" or name.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _sslmode(host: str) -> str:
    """``verify-full``, or ``disable`` (DB_SSLMODE, tests only) for a server on this machine."""
    sslmode = os.environ.get("DB_SSLMODE") or "verify-full"
    if sslmode not in ("verify-full", "disable"):
        raise ActionError(f"DB_SSLMODE must be verify-full (the default) or disable (tests against a local server "
                          f"only), got {sslmode!r}")
    if sslmode == "disable" and not tls_may_be_off(host):
        raise ActionError(f"DB_SSLMODE=disable is for tests against a server on this machine (localhost, a loopback "
                          f"address); {host!r} is not one, and the rotation reaches any other host only with TLS "
                          "verify-full: unset DB_SSLMODE")
    return sslmode


def _connect(login: dict[str, Any]):
    """A connection with the login's credentials, or None when the server refuses the password."""
    sslmode = _sslmode(login["host"])
    try:
        return psycopg2.connect(
            host=login["host"], port=int(login["port"]), dbname=login["dbname"], user=login["username"],
            password=login["password"], connect_timeout=5, application_name=SERVICE,
            sslmode=sslmode,
            sslrootcert=os.environ.get("DB_SSLROOTCERT", str(DEFAULT_CA_BUNDLE)),
        )
    except psycopg2.OperationalError as exc:
        if exc.pgcode == REFUSED_SQLSTATE or _REFUSED_MESSAGE in str(exc):
            return None
        raise ActionError(f"cannot reach {login['host']}:{login['port']}: "
                          f"{' '.join(str(exc).split())[:200]}") from None


# -- the payload ----------------------------------------------------------------------------------------------------
def _validated(event: Any) -> str:
    """The event's action, once every key and value has the documented shape; messages name keys, never values."""
    action = event.get("action") if isinstance(event, dict) else None
    if not (isinstance(action, str) and action in ACTIONS):
        raise ActionError("the database function's payload must be a JSON object whose action is "
                          f"{', '.join(ACTIONS)}")
    keys = ("action", *ACTIONS[action])
    if set(event) != set(keys):
        raise ActionError(f"the {action} payload takes exactly the keys {', '.join(keys)}")
    where = f"the {action} payload's"
    if action == "set_password":
        logins = event["logins"]
        if not (isinstance(logins, list) and 1 <= len(logins) <= MAX_LOGINS):
            raise ActionError(f"{where} logins must be a list of 1 to {MAX_LOGINS} logins")
        for index, login in enumerate(logins):
            _check_object(login, LOGIN_FIELDS, where, f"logins[{index}]")
        _check_object(event["target"], TARGET_FIELDS, where, "target")
        if not isinstance(event["check_app_user"], bool):
            raise ActionError(f"{where} check_app_user must be true or false")
    else:
        _check_object(event["secret"], LOGIN_FIELDS, where, "secret")
        if action == "test" and not (event["require_role"] is None or _text(event["require_role"])):
            raise ActionError(f"{where} require_role must be a role name or null")
    return action


def _check_object(value: Any, fields: tuple[str, ...], where: str, path: str) -> None:
    if not (isinstance(value, dict) and set(value) == set(fields)):
        raise ActionError(f"{where} {path} must be an object with exactly the keys {', '.join(fields)}")
    for field in fields:
        if field == "port":
            if not _port(value[field]):
                raise ActionError(f"{where} {path}.port must be a port number (1-65535)")
        elif not _text(value[field]):
            raise ActionError(f"{where} {path}.{field} must be a non-empty string without NUL characters")


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != "" and "\x00" not in value


def _port(value: Any) -> bool:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 5:
        value = int(value)
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535
