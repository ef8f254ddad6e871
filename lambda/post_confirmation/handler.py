"""Cognito post-confirmation trigger: record a newly confirmed user in Cruddur's ``users`` table.

Cognito invokes this synchronously and waits at most 5 seconds. On ``PostConfirmation_ConfirmSignUp`` it inserts one
row (``display_name`` <- ``name``, ``handle`` <- ``preferred_username``, ``email``, ``cognito_user_id`` <- ``sub``)
with ``INSERT ... ON CONFLICT (cognito_user_id) DO NOTHING``: a repeated or retried delivery changes nothing and
succeeds. Every other trigger source (``PostConfirmation_ConfirmForgotPassword``...) touches nothing. The event is
returned unchanged on success; any failure raises, so Cognito reports it and nothing is lost silently.

Connection (one per container, module-level, reused across invocations, re-established once if the server dropped
it; ``connect_timeout``, ``tcp_user_timeout`` and ``statement_timeout`` keep the worst case inside the 5 s limit):

- on AWS: ``DB_HOST``, ``DB_PORT``, ``DB_NAME``, ``DB_USER`` (the least-privilege ``cruddur_confirmation`` role)
  and the runtime's ``AWS_REGION``; the password is an IAM auth token from ``rds.generate_db_auth_token`` (signed
  locally with the function's role credentials, no network call); TLS ``verify-full`` against the RDS CA bundle
  shipped beside this file (``global-bundle.pem``; ``DB_SSLROOTCERT`` overrides the path);
- locally and in tests: ``CONNECTION_URL`` (a libpq URL with a password) is used instead when it is set.

Tuning (milliseconds, optional): ``DB_STATEMENT_TIMEOUT_MS`` (default 1000), ``DB_TCP_USER_TIMEOUT_MS`` (1000);
``DB_CONNECT_TIMEOUT_S`` (default 2, libpq's minimum).

psycopg2 comes from the function's psycopg2 layer; Powertools (structured JSON logs) from the public Powertools
layer. Logs never contain the user's email or name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import psycopg2
import psycopg2.errors
from aws_lambda_powertools import Logger

SERVICE = "cruddur-post-confirmation"
CONFIRM_SIGN_UP = "PostConfirmation_ConfirmSignUp"
DEFAULT_CA_BUNDLE = Path(__file__).resolve().parent / "global-bundle.pem"
DEFAULT_CONNECT_TIMEOUT_S = 2
DEFAULT_STATEMENT_TIMEOUT_MS = 1000
DEFAULT_TCP_USER_TIMEOUT_MS = 1000

# (Cognito user attribute, users column), in the order the INSERT takes them.
ATTRIBUTES = (
    ("name", "display_name"),
    ("preferred_username", "handle"),
    ("email", "email"),
    ("sub", "cognito_user_id"),
)
INSERT_USER = (
    "INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (cognito_user_id) DO NOTHING"
)

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))

T = TypeVar("T")


class ConfirmationError(Exception):
    """Base class: every failure of this trigger raises one of these (Cognito then reports the failure)."""


class MissingAttributeError(ConfirmationError, ValueError):
    """A required user attribute is missing or empty in the event."""

    def __init__(self, attribute: str):
        self.attribute = attribute
        super().__init__(f"required user attribute '{attribute}' is missing or empty in the Cognito event")


class MalformedEventError(ConfirmationError, ValueError):
    """The event is not the JSON object Cognito sends."""


class ConfigurationError(ConfirmationError):
    """The function's environment does not say how to reach the database."""


class DatabaseUnavailableError(ConfirmationError):
    """The database could not be reached (or dropped the connection twice)."""


class DatabaseTimeoutError(ConfirmationError):
    """The statement did not finish within the statement timeout."""


@dataclass(frozen=True)
class NewUser:
    display_name: str
    handle: str
    email: str
    cognito_user_id: str

    def row(self) -> tuple[str, str, str, str]:
        return (self.display_name, self.handle, self.email, self.cognito_user_id)


def user_from_event(event: dict) -> NewUser:
    """The user's row from a Cognito event; raises ``MissingAttributeError`` naming the first absent attribute."""
    request = event.get("request") if isinstance(event, dict) else None
    attributes = request.get("userAttributes") if isinstance(request, dict) else None
    if not isinstance(attributes, dict):
        raise MissingAttributeError("request.userAttributes")
    values = {}
    for attribute, column in ATTRIBUTES:
        value = attributes.get(attribute)
        if not isinstance(value, str) or not value.strip():
            raise MissingAttributeError(attribute)
        values[column] = value  # stored verbatim: quotes, SQL, emoji and right-to-left text are data
    return NewUser(**values)


# -- connection: one per container ------------------------------------------------------------------------------
_connection = None  # psycopg2 connection, reused across invocations of this container
_rds_client = None


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    return value


def _session_params() -> dict[str, Any]:
    """Timeouts and identification common to both ways of connecting."""
    statement_ms = _env_int("DB_STATEMENT_TIMEOUT_MS", DEFAULT_STATEMENT_TIMEOUT_MS)
    return {
        "connect_timeout": _env_int("DB_CONNECT_TIMEOUT_S", DEFAULT_CONNECT_TIMEOUT_S),
        "tcp_user_timeout": _env_int("DB_TCP_USER_TIMEOUT_MS", DEFAULT_TCP_USER_TIMEOUT_MS),
        "keepalives": 1,
        "keepalives_idle": 30,
        "application_name": SERVICE,
        "options": f"-c statement_timeout={statement_ms}",
    }


def _rds():
    """The RDS client used only to sign IAM auth tokens (local signing, no API call); created once."""
    global _rds_client
    if _rds_client is None:
        import boto3  # in the Lambda runtime; imported here so local runs with CONNECTION_URL do not need it

        _rds_client = boto3.client("rds", region_name=os.environ["AWS_REGION"])
    return _rds_client


def connection_params() -> tuple[str | None, dict[str, Any]]:
    """(dsn, keyword parameters) for ``psycopg2.connect``, from the environment.

    ``CONNECTION_URL`` wins when set (local runs and tests). Otherwise the IAM path: every ``DB_*`` variable and
    ``AWS_REGION`` are required, the password is a freshly signed auth token (valid 15 minutes; a new one is
    signed for every new connection), and TLS verifies the server against the RDS CA bundle.
    """
    params = _session_params()
    url = os.environ.get("CONNECTION_URL", "").strip()
    if url:
        return url, params
    missing = [name for name in ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "AWS_REGION")
               if not os.environ.get(name, "").strip()]
    if missing:
        raise ConfigurationError("cannot reach the database: set CONNECTION_URL, or all of DB_HOST, DB_PORT, "
                                 f"DB_NAME, DB_USER and AWS_REGION (missing: {', '.join(missing)})")
    host, user = os.environ["DB_HOST"].strip(), os.environ["DB_USER"].strip()
    port = _env_int("DB_PORT", 5432)
    ca_bundle = Path(os.environ.get("DB_SSLROOTCERT", "").strip() or DEFAULT_CA_BUNDLE)
    if not ca_bundle.is_file():
        raise ConfigurationError(f"the RDS CA bundle {ca_bundle} is missing from the package; "
                                 "TLS verify-full cannot work without it")
    token = _rds().generate_db_auth_token(DBHostname=host, Port=port, DBUsername=user,
                                          Region=os.environ["AWS_REGION"].strip())
    params.update(host=host, port=port, dbname=os.environ["DB_NAME"].strip(), user=user, password=token,
                  sslmode="verify-full", sslrootcert=str(ca_bundle))
    return None, params


def _connect():
    dsn, params = connection_params()
    try:
        connection = psycopg2.connect(dsn, **params) if dsn else psycopg2.connect(**params)
    except psycopg2.OperationalError as exc:
        # libpq's message names host and port, never the password or token.
        raise DatabaseUnavailableError(f"cannot connect to the database: {_first_line(exc)}") from exc
    connection.autocommit = True  # one statement per invocation: no transaction left open between invocations
    return connection


def _discard() -> None:
    global _connection
    connection, _connection = _connection, None
    if connection is not None:
        try:
            connection.close()
        except psycopg2.Error:
            pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def with_connection(work: Callable[[Any], T]) -> T:
    """Run ``work(connection)`` on the container's connection, reconnecting once if the server dropped it."""
    global _connection
    for attempt in (1, 2):
        fresh = _connection is None or _connection.closed != 0
        if fresh:
            _discard()
            _connection = _connect()
        connection = _connection
        try:
            return work(connection)
        except psycopg2.errors.QueryCanceled as exc:
            raise DatabaseTimeoutError(f"the database did not answer in time: {_first_line(exc)}") from exc
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            dropped = connection.closed != 0
            _discard()
            if dropped and not fresh and attempt == 1:
                logger.warning("database connection was dropped; reconnecting once", error=_first_line(exc))
                continue
            raise DatabaseUnavailableError(f"the database connection failed: {_first_line(exc)}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def insert_user(connection, user: NewUser) -> bool:
    """Insert the user unless a row with the same ``cognito_user_id`` exists; True if a row was inserted.

    A concurrent delivery of the same user can make the second INSERT trip the (non-arbiter) unique handle index
    instead of taking the ON CONFLICT path; it is retried once, by when the first delivery has committed and the
    retry does nothing. A handle taken by a *different* user fails again and raises.
    """
    with connection.cursor() as cursor:
        try:
            cursor.execute(INSERT_USER, user.row())
        except psycopg2.errors.UniqueViolation:
            cursor.execute(INSERT_USER, user.row())
        return cursor.rowcount == 1


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: Any) -> dict:
    if not isinstance(event, dict):
        logger.error("the Cognito event is not a JSON object", event_type=type(event).__name__)
        raise MalformedEventError(f"the Cognito event must be a JSON object, got {type(event).__name__}")
    source = event.get("triggerSource")
    logger.append_keys(trigger_source=source, user_pool_id=event.get("userPoolId"))
    if source != CONFIRM_SIGN_UP:
        logger.info("nothing to record for this trigger source")
        return event
    try:
        user = user_from_event(event)
    except MissingAttributeError as exc:
        logger.error("confirmation event is missing a required attribute", attribute=exc.attribute)
        raise
    logger.append_keys(cognito_user_id=user.cognito_user_id)
    try:
        inserted = with_connection(lambda connection: insert_user(connection, user))
    except ConfirmationError as exc:
        logger.error("could not record the confirmed user", error_type=type(exc).__name__, error=str(exc))
        raise
    except psycopg2.Error as exc:
        # Constraint violations and the like: the message may quote row values, so log only the class and state.
        logger.error("the database refused the user's row", error_type=type(exc).__name__, sqlstate=exc.pgcode)
        raise ConfirmationError(f"the database refused the user's row ({type(exc).__name__}, "
                                f"SQLSTATE {exc.pgcode})") from None
    logger.info("user recorded" if inserted else "user already recorded; nothing changed", inserted=inserted)
    return event
