"""Opening connections with clear, password-free errors, and the operator-endpoint tunnel.

``connect(target)`` is the one way the CLI talks to a database (``target`` is a ``DbTarget``): psycopg2 errors
become a one-line ``CruddurError`` (scrubbed of the password); a failed connection to a private RDS host says how
to open the EC2 Instance Connect Endpoint tunnel. A target's ``tunnel_port`` connects through 127.0.0.1 while TLS
verify-full still checks the certificate against the RDS host name (libpq ``hostaddr``). A ``-s STACK`` target
(``target.rotation``) logs in through the master secret's rotation: when AWSCURRENT's password is refused, AWSPENDING
then AWSPREVIOUS (``ops.stack.master_login``); every command gets it, since every command connects here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg2
import psycopg2.extensions

from ops.db.target import DbTarget
from ops.errors import CruddurError
from ops.urls import scrub

CONNECT_TIMEOUT = 5
APPLICATION_NAME = "cruddur-cli"


def tunnel_hint(host: str, endpoint_id: str | None = None) -> str:
    endpoint = endpoint_id or "$(pulumi stack output operatorEndpointId -s STACK)"
    return (
        f"{host} is a private RDS endpoint: open a tunnel through the operator endpoint with "
        f"`aws ec2-instance-connect open-tunnel --instance-connect-endpoint-id {endpoint} "
        f"--private-ip-address $(dig +short {host} | tail -n1) --remote-port 5432 --local-port 5432` "
        f"and re-run with --tunnel-port 5432"
    )


def dsn_params(target: DbTarget, *, database: str | None = None) -> dict[str, str]:
    """libpq keyword parameters for ``target`` (optionally another database; through its tunnel when it has one)."""
    info = target.info
    params = info.libpq  # exactly what libpq reads from the URL (query parameters override the authority part)
    params["dbname"] = database or info.database or "postgres"
    if info.is_rds:
        params.setdefault("sslmode", "verify-full")  # TLS with certificate verification to RDS, always
    if target.tunnel_port:
        params["hostaddr"] = "127.0.0.1"  # TCP goes to the tunnel; TLS still verifies `host`
        params["port"] = str(target.tunnel_port)
    params.setdefault("connect_timeout", str(CONNECT_TIMEOUT))
    params.setdefault("application_name", APPLICATION_NAME)
    stage = target.rotation.credentials() if target.rotation is not None else None
    if stage is not None:  # a fallback stage of the master secret logged in: its user and password from now on
        params["user"], params["password"] = stage
    return params


def connect(
    target: DbTarget, *, database: str | None = None, autocommit: bool = False
) -> psycopg2.extensions.connection:
    """Connect or raise a one-line CruddurError that never contains the password."""
    params = dsn_params(target, database=database)
    shown = target.shown
    if database:
        shown = f"{shown} (database {database})"
    try:
        if target.rotation is None:
            conn = psycopg2.connect(**params)
        else:
            conn = target.rotation.login(
                lambda user, password: psycopg2.connect(**{**params, "user": user, "password": password}), shown)
    except psycopg2.OperationalError as exc:
        raise CruddurError(describe_connect_error(exc, target, shown)) from None
    except psycopg2.Error as exc:
        raise CruddurError(f"cannot connect to {shown}: {scrub(_first_line(exc), target.url)}") from None
    conn.autocommit = autocommit
    return conn


def settle_login(target: DbTarget) -> None:
    """Before handing ``dsn_params(target)`` to code that opens its own connections (yoyo, psql): for a ``-s STACK``
    target not logged in yet, log in once through the rotation (and close), so the params carry the stage that works.
    Other targets: nothing to do."""
    if target.rotation is not None and target.rotation.stage is None:
        connect(target).close()


def describe_connect_error(exc: Exception, target: DbTarget, shown: str) -> str:
    text = " ".join(str(exc).split())
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        reason = "authentication failed (wrong user or password)"
    elif "does not exist" in lowered and "database" in lowered:
        reason = "the database does not exist (create it with: cruddur db create)"
    elif "connection refused" in lowered:
        reason = "connection refused: is the server running? (local: cruddur local up)"
    elif "could not translate host name" in lowered:
        reason = "the host name does not resolve"
    elif "timeout" in lowered:
        reason = "timed out"
    else:
        reason = scrub(text, target.url)[:300]
    message = f"cannot connect to {shown}: {reason}"
    info = target.info
    if info.is_rds and not target.tunnel_port and "authentication" not in reason:
        message += ". " + tunnel_hint(info.rds_host or "", target.endpoint_id)
    elif target.tunnel_port and "refused" in reason:
        message += f". Is the tunnel open on 127.0.0.1:{target.tunnel_port}?"
    return message


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def cursor(target: DbTarget) -> Iterator[psycopg2.extensions.cursor]:
    """A cursor in one transaction (committed on success), connection closed afterwards.
    SQL errors become a CruddurError without the password."""
    conn = connect(target)
    try:
        with conn:
            with conn.cursor() as cur:
                yield cur
    except psycopg2.Error as exc:
        raise CruddurError(f"database error on {target.shown}: {scrub(_first_line(exc), target.url)}") from None
    finally:
        conn.close()
