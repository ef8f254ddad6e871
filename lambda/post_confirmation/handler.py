"""Cognito post-confirmation trigger: record a newly confirmed user in Cruddur's ``users`` table.

Cognito invokes this synchronously and waits at most 5 seconds. On ``PostConfirmation_ConfirmSignUp`` it inserts one
row (``display_name`` <- ``name``, ``handle`` <- ``preferred_username``, ``email``, ``cognito_user_id`` <- ``sub``)
with ``INSERT ... ON CONFLICT (cognito_user_id) DO NOTHING``: a repeated or retried delivery changes nothing and
succeeds. ``PostConfirmation_ConfirmForgotPassword`` touches nothing; any other ``triggerSource`` (missing, in another
case, not a string) is a ``MalformedEventError``, and ``sub`` must be Cognito's lower-case UUID. The event is
returned unchanged on success; any failure raises, so Cognito reports it and nothing is lost silently.

Handles are normalised before they are stored (``normalize_handle``, shared with ``cruddur users sync``): NFKC, then
surrounding spaces stripped, so look-alikes (NFD vs NFC ``josé``, full-width letters, ligatures like ``ﬁ``) become
the handle they imitate and meet the unique index. A handle with an invisible character (Unicode categories C*, Zl,
Zp, other spaces, the default-ignorable fillers and variation selectors) or with letters from scripts that do not
belong together (Latin with Cyrillic, Greek with Latin...: the "highly restrictive" rule of Unicode UTS #39, see
``script_of``) is refused with ``InvalidHandleError``. Every attribute must be text PostgreSQL can store (no NUL, no
lone surrogate: ``InvalidAttributeError``) of at most 8 KiB (``AttributeTooLongError``; Cognito's own ceiling is
2048 characters). ``migrations/0005_handle_normalization.sql`` enforces the same form in the schema, and
``0007_handle_lookalikes.sql`` makes handles unique under case folding and Unicode's confusables skeleton (an
all-Cyrillic or upper-case look-alike of a taken handle fails as ``HandleTakenError``).

Connection (one per container, module-level, reused across invocations, re-established once if the server dropped
it). Every invocation has one deadline (``DB_BUDGET_MS``, default 3500, never past the Lambda's remaining time less
a margin) inside Cognito's 5 s: the connection is made in psycopg2's asynchronous mode and every wait (connecting,
the statement) is a ``select`` bounded by that deadline, so a server that accepts TCP but never answers, or a frozen
backend, fails with ``DatabaseUnresponsiveError`` instead of blocking until Lambda kills the function. A refused
connection (too many clients, starting up or shutting down during a failover, connection refused) is retried with
jittered exponential backoff while the budget lasts, then fails with ``DatabaseBusyError`` (too many clients) or
``DatabaseUnavailableError``. ``statement_timeout`` bounds lock waits on the server side (``DatabaseTimeoutError``).

- on AWS: ``DB_HOST``, ``DB_PORT``, ``DB_NAME``, ``DB_USER`` (the least-privilege ``cruddur_confirmation`` role)
  and the runtime's ``AWS_REGION``; the password is an IAM auth token from ``rds.generate_db_auth_token`` (signed
  locally with the function's role credentials, no network call); TLS ``verify-full`` against the RDS CA bundle
  shipped beside this file (``global-bundle.pem``; ``DB_SSLROOTCERT`` overrides the path);
- locally and in tests: ``CONNECTION_URL`` (a libpq URL with a password) is used instead when it is set.

Tuning (milliseconds, optional): ``DB_BUDGET_MS`` (default 3500), ``DB_STATEMENT_TIMEOUT_MS`` (default 1000),
``DB_TCP_USER_TIMEOUT_MS`` (1000); ``DB_CONNECT_TIMEOUT_S`` (default 2: the most one connection attempt may take).

psycopg2 comes from the function's psycopg2 layer; Powertools (structured JSON logs) from the stack's own signed
Powertools layer. Logs never contain the user's email or name.
"""

from __future__ import annotations

import os
import random
import re
import select
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from aws_lambda_powertools import Logger

SERVICE = "cruddur-post-confirmation"
CONFIRM_SIGN_UP = "PostConfirmation_ConfirmSignUp"
# The trigger sources Cognito sends a post-confirmation function, exactly as spelled: a sign-up is recorded, a
# confirmed password reset touches nothing; anything else (missing, another case, not a string) is refused.
TRIGGER_SOURCES = (CONFIRM_SIGN_UP, "PostConfirmation_ConfirmForgotPassword")
# Cognito's ``sub``: a lower-case UUID, nothing around it.
COGNITO_SUB = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DEFAULT_CA_BUNDLE = Path(__file__).resolve().parent / "global-bundle.pem"
DEFAULT_CONNECT_TIMEOUT_S = 2
DEFAULT_STATEMENT_TIMEOUT_MS = 1000
DEFAULT_TCP_USER_TIMEOUT_MS = 1000
DEFAULT_BUDGET_MS = 3500  # all database work of one invocation; Cognito gives the whole trigger 5 s
LAMBDA_MARGIN_MS = 300  # kept back from the Lambda's remaining time to log and return the error
STATEMENT_GRACE_S = 0.5  # the client waits this much past statement_timeout before it calls the server frozen
RETRY_BASE_S = 0.05  # backoff of refused connections: full jitter in [base, min(cap, base * 2**attempt)]
RETRY_CAP_S = 0.8
MAX_ATTRIBUTE_BYTES = 8192  # Cognito's attribute ceiling is 2048 characters (<= 8 KiB of UTF-8)

# (Cognito user attribute, users column), in the order the INSERT takes them. The ONE mapping: `cruddur users sync`
# (ops/cognito_sync.py) loads this file by path and uses ATTRIBUTES and user_from_attributes too.
ATTRIBUTES = (
    ("name", "display_name"),
    ("preferred_username", "handle"),
    ("email", "email"),
    ("sub", "cognito_user_id"),
)
HANDLE_ATTRIBUTE = "preferred_username"
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


class InvalidAttributeError(ConfirmationError, ValueError):
    """A user attribute is not text the database can store (NUL byte, lone surrogate). ``reason`` never quotes
    the value, so it can be logged."""

    def __init__(self, attribute: str, reason: str):
        self.attribute = attribute
        self.reason = reason
        super().__init__(f"user attribute '{attribute}' {reason}")


class AttributeTooLongError(InvalidAttributeError):
    """A user attribute is larger than any value Cognito sends."""

    def __init__(self, attribute: str, size: int):
        self.size = size
        super().__init__(attribute, f"is {size} bytes of UTF-8; at most {MAX_ATTRIBUTE_BYTES} are accepted")


class InvalidHandleError(InvalidAttributeError):
    """The handle (``preferred_username``) is empty once normalised, has an invisible character or mixes scripts."""

    def __init__(self, reason: str):
        super().__init__(HANDLE_ATTRIBUTE, reason)


class HandleTakenError(ConfirmationError):
    """Another user already has this handle or one that looks the same (case folded, confusables skeleton)."""


class MalformedEventError(ConfirmationError, ValueError):
    """The event is not the JSON object Cognito sends."""


class ConfigurationError(ConfirmationError):
    """The function's environment does not say how to reach the database."""


class DatabaseUnavailableError(ConfirmationError):
    """The database could not be reached (or dropped the connection twice)."""


class DatabaseBusyError(DatabaseUnavailableError):
    """The server refused new connections (too many clients) for the whole budget."""


class DatabaseTimeoutError(ConfirmationError):
    """The statement did not finish within the statement timeout."""


class DatabaseUnresponsiveError(DatabaseTimeoutError):
    """The server accepted the connection but did not answer in time (frozen backend or server): the client gave up."""


class DatabaseRejectedRowError(ConfirmationError):
    """The database refused the row for a reason other than the handle (a constraint, a size limit)."""


# -- the user's row: mapping and normalisation (pure; shared with `cruddur users sync`) --------------------------
# Scripts that may share one handle: UTS #39 "highly restrictive" (a single script, or Latin with the scripts
# Chinese, Japanese and Korean are written in). Everything else that mixes scripts is refused.
ALLOWED_SCRIPT_SETS = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
_SCRIPT_ALIASES = {"CJK": "HAN", "IDEOGRAPHIC": "HAN", "KANGXI": "HAN", "KATAKANA-HIRAGANA": "KATAKANA",
                   "HALFWIDTH": "KATAKANA", "ARABIC-INDIC": "ARABIC", "EXTENDED": "ARABIC"}
_COMMON_WORDS = {"MODIFIER", "COMBINING", "DIGIT", "SUPERSCRIPT", "SUBSCRIPT"}
# Default-ignorable code points that Unicode does not put in a C* category (they render as nothing).
_INVISIBLE_LETTERS = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, *range(0x180B, 0x1810), *range(0xFE00, 0xFE10)])


def script_of(char: str) -> str | None:
    """The script a letter, mark or digit belongs to, from the first word of its Unicode name (``LATIN SMALL LETTER
    A`` -> LATIN, ``CYRILLIC SMALL LETTER A`` -> CYRILLIC, ``CJK UNIFIED IDEOGRAPH-540D`` -> HAN); None for
    characters every script shares (ASCII digits, punctuation, symbols, combining marks, modifier letters)."""
    category = unicodedata.category(char)
    if not (category[0] == "L" or category in ("Mn", "Mc") or (category == "Nd" and not char.isascii())):
        return None
    name = unicodedata.name(char, "")
    if not name:
        return None
    word = name.split(" ", 1)[0]
    if word in _COMMON_WORDS:
        return None
    return _SCRIPT_ALIASES.get(word, word)


def normalize_handle(raw: str) -> str:
    """The handle as stored: NFKC, surrounding spaces stripped. Raises ``InvalidHandleError`` when it is empty, has
    an invisible character or mixes scripts (the message names the first offending character's code point)."""
    handle = unicodedata.normalize("NFKC", raw).strip(" ")
    if not handle:
        raise InvalidHandleError("is empty once normalised (NFKC, spaces stripped)")
    for char in handle:
        category = unicodedata.category(char)
        if (category[0] == "C" or category in ("Zl", "Zp") or (category == "Zs" and char != " ")
                or ord(char) in _INVISIBLE_LETTERS):
            raise InvalidHandleError(f"contains an invisible or control character (U+{ord(char):04X}, "
                                     f"category {category}); use visible letters, digits and punctuation only")
    scripts = sorted({script for script in map(script_of, handle) if script})
    if len(scripts) > 1 and not any(set(scripts) <= allowed for allowed in ALLOWED_SCRIPT_SETS):
        raise InvalidHandleError(f"mixes letters from the scripts {', '.join(scripts)}; a handle uses one script "
                                 "(Latin may be combined with Han, Hiragana/Katakana, Bopomofo or Hangul)")
    return handle


def _check_text(attribute: str, value: str) -> None:
    if "\x00" in value:
        raise InvalidAttributeError(attribute, "contains a NUL byte, which PostgreSQL text cannot store")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidAttributeError(attribute, "is not valid Unicode text (it contains a lone surrogate)") from None
    if size > MAX_ATTRIBUTE_BYTES:
        raise AttributeTooLongError(attribute, size)


@dataclass(frozen=True)
class NewUser:
    display_name: str
    handle: str
    email: str
    cognito_user_id: str

    def row(self) -> tuple[str, str, str, str]:
        return (self.display_name, self.handle, self.email, self.cognito_user_id)


def user_from_attributes(attributes: dict) -> NewUser:
    """The row for a user's Cognito attributes (``{"name": ..., "sub": ...}``): raises ``MissingAttributeError``
    naming the first absent attribute, ``InvalidAttributeError`` (or a subclass) for a value that cannot be stored.
    The handle is normalised (``normalize_handle``); the other values are stored verbatim: quotes, SQL, emoji and
    right-to-left text are data."""
    values = {}
    for attribute, column in ATTRIBUTES:
        value = attributes.get(attribute)
        if not isinstance(value, str) or not value.strip():
            raise MissingAttributeError(attribute)
        values[column] = value
    for attribute, column in ATTRIBUTES:
        _check_text(attribute, values[column])
    if not COGNITO_SUB.fullmatch(values["cognito_user_id"]):
        raise InvalidAttributeError("sub", "is not Cognito's user id (a lower-case UUID such as "
                                           "8f6c2f3e-1a2b-4c5d-9e8f-0a1b2c3d4e5f, nothing around it)")
    values["handle"] = normalize_handle(values["handle"])
    return NewUser(**values)


def user_from_event(event: dict) -> NewUser:
    """The user's row from a Cognito event (see ``user_from_attributes``)."""
    request = event.get("request") if isinstance(event, dict) else None
    attributes = request.get("userAttributes") if isinstance(request, dict) else None
    if not isinstance(attributes, dict):
        raise MissingAttributeError("request.userAttributes")
    return user_from_attributes(attributes)


# -- connection: one per container ------------------------------------------------------------------------------
_connection = None  # psycopg2 connection (asynchronous mode, always autocommit), reused across invocations
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


class _NoAnswer(Exception):
    """A wait ran past its deadline (internal: turned into DatabaseUnresponsiveError)."""


def _wait(connection, deadline: float) -> None:
    """Drive an asynchronous connection until its pending work is done, never past ``deadline`` (monotonic)."""
    while True:
        state = connection.poll()  # raises the server's error, if any
        if state == psycopg2.extensions.POLL_OK:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _NoAnswer()
        if state == psycopg2.extensions.POLL_READ:
            select.select([connection.fileno()], [], [], remaining)
        elif state == psycopg2.extensions.POLL_WRITE:
            select.select([], [connection.fileno()], [], remaining)
        else:  # pragma: no cover - psycopg2 documents no other state
            raise psycopg2.OperationalError(f"unexpected poll state {state}")


# libpq / server messages of a refusal that may clear up in a moment.
_BUSY = ("too many clients already", "remaining connection slots are reserved", "too many connections for")
_TRANSIENT = _BUSY + ("the database system is starting up", "the database system is shutting down",
                      "the database system is in recovery mode", "the database system is not yet accepting",
                      "the database system is not accepting connections", "connection refused")


def _is_busy(message: str) -> bool:
    return any(text in message.lower() for text in _BUSY)


def _is_transient(message: str) -> bool:
    return any(text in message.lower() for text in _TRANSIENT)


def _connect_once(deadline: float):
    dsn, params = connection_params()
    attempt_deadline = min(deadline, time.monotonic() + params["connect_timeout"])
    connection = psycopg2.connect(dsn, async_=True, **params) if dsn else psycopg2.connect(async_=True, **params)
    try:
        _wait(connection, attempt_deadline)
    except BaseException:
        connection.close()
        raise
    return connection


def _connect(deadline: float):
    """A new connection, retrying refusals that may clear up (jittered exponential backoff) until ``deadline``."""
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return _connect_once(deadline)
        except _NoAnswer:
            elapsed = time.monotonic() - started
            raise DatabaseUnresponsiveError(f"the database did not complete the connection within {elapsed:.1f} s "
                                            "(it accepted the TCP connection but did not answer)") from None
        except psycopg2.OperationalError as exc:
            # libpq's message names host and port, never the password or token.
            message = _first_line(exc)
            delay = random.uniform(RETRY_BASE_S, min(RETRY_CAP_S, RETRY_BASE_S * 2 ** attempt))  # noqa: S311 - backoff jitter, not a secret
            if _is_transient(message) and time.monotonic() + delay + 0.1 < deadline:
                logger.warning("the database refused the connection; retrying", attempt=attempt, error=message,
                               retry_in_ms=round(delay * 1000))
                time.sleep(delay)
                continue
            elapsed = time.monotonic() - started
            error = DatabaseBusyError if _is_busy(message) else DatabaseUnavailableError
            raise error(f"cannot connect to the database: {message} "
                        f"({attempt} attempt{'s' if attempt > 1 else ''} in {elapsed:.1f} s)") from exc


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


def budget_deadline(context: Any = None) -> float:
    """The monotonic time by which this invocation's database work must be done: ``DB_BUDGET_MS`` from now, but
    never later than the Lambda's remaining time less a margin."""
    budget_s = _env_int("DB_BUDGET_MS", DEFAULT_BUDGET_MS) / 1000
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        budget_s = min(budget_s, max(0.0, (remaining() - LAMBDA_MARGIN_MS) / 1000))
    return time.monotonic() + budget_s


def with_connection(work: Callable[[Any], T], deadline: float | None = None) -> T:
    """Run ``work(connection)`` on the container's connection, reconnecting once if the server dropped it.

    ``work`` runs statements with ``execute(connection, sql, params)`` so that every wait respects ``deadline``.
    """
    global _connection
    deadline = budget_deadline() if deadline is None else deadline
    for attempt in (1, 2):
        fresh = _connection is None or _connection.closed != 0
        if fresh:
            _discard()
            _connection = _connect(deadline)
        connection = _connection
        try:
            return work(connection)
        except _NoAnswer:
            _discard()  # its state is unknown: never reuse it
            raise DatabaseUnresponsiveError("the database did not answer in time (no reply from the server within "
                                            "the client's deadline; the connection was dropped)") from None
        except psycopg2.errors.QueryCanceled as exc:
            raise DatabaseTimeoutError(f"the database did not answer in time: {_first_line(exc)}") from exc
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            if exc.pgcode and not exc.pgcode.startswith(("08", "57")):
                raise  # e.g. 54000 program_limit_exceeded: the server is fine, the row is not
            dropped = connection.closed != 0
            _discard()
            if dropped and not fresh and attempt == 1:
                logger.warning("database connection was dropped; reconnecting once", error=_first_line(exc))
                continue
            raise DatabaseUnavailableError(f"the database connection failed: {_first_line(exc)}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def execute(connection, sql: str, params: tuple = (), deadline: float | None = None):
    """Run one statement on an asynchronous connection, waiting at most until ``deadline`` and at most
    ``statement_timeout`` plus a grace; returns the cursor (rowcount, fetch...)."""
    statement_s = _env_int("DB_STATEMENT_TIMEOUT_MS", DEFAULT_STATEMENT_TIMEOUT_MS) / 1000
    limit = time.monotonic() + statement_s + STATEMENT_GRACE_S
    cursor = connection.cursor()
    cursor.execute(sql, params)
    _wait(connection, limit if deadline is None else min(limit, deadline))
    return cursor


def insert_user(connection, user: NewUser, deadline: float | None = None) -> bool:
    """Insert the user unless a row with the same ``cognito_user_id`` exists; True if a row was inserted.

    A concurrent delivery of the same user can make the second INSERT trip the (non-arbiter) unique handle index
    instead of taking the ON CONFLICT path; it is retried once, by when the first delivery has committed and the
    retry does nothing. A handle taken by a *different* user fails again and raises.
    """
    try:
        cursor = execute(connection, INSERT_USER, user.row(), deadline)
    except psycopg2.errors.UniqueViolation:
        cursor = execute(connection, INSERT_USER, user.row(), deadline)
    return cursor.rowcount == 1


def _described(value: Any) -> str:
    """A value an error names without quoting much of it: missing, its type, or a short printable string."""
    if value is None:
        return "none"
    if isinstance(value, str) and value.isprintable() and len(value) <= 64:
        return repr(value)
    return f"a {type(value).__name__}" + (f" of {len(value)} characters" if isinstance(value, str) else "")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: Any) -> dict:
    deadline = budget_deadline(context)
    if not isinstance(event, dict):
        logger.error("the Cognito event is not a JSON object", event_type=type(event).__name__)
        raise MalformedEventError(f"the Cognito event must be a JSON object, got {type(event).__name__}")
    source = event.get("triggerSource")
    if source not in TRIGGER_SOURCES:  # never logged as sent: it may be anything
        logger.error("the Cognito event has no post-confirmation triggerSource",
                     trigger_source_type=type(source).__name__)
        raise MalformedEventError(f"the Cognito event's triggerSource must be one of {', '.join(TRIGGER_SOURCES)} "
                                  f"(exactly so spelled); got {_described(source)}")
    logger.append_keys(trigger_source=source, user_pool_id=event.get("userPoolId"))
    if source != CONFIRM_SIGN_UP:
        logger.info("nothing to record for this trigger source")
        return event
    try:
        user = user_from_event(event)
    except MissingAttributeError as exc:
        logger.error("confirmation event is missing a required attribute", attribute=exc.attribute)
        raise
    except InvalidAttributeError as exc:  # the reason never quotes the value
        logger.error("confirmation event has an attribute that cannot be stored", attribute=exc.attribute,
                     error_type=type(exc).__name__, reason=exc.reason)
        raise
    logger.append_keys(cognito_user_id=user.cognito_user_id)
    try:
        inserted = with_connection(lambda connection: insert_user(connection, user, deadline), deadline)
    except ConfirmationError as exc:
        logger.error("could not record the confirmed user", error_type=type(exc).__name__, error=str(exc))
        raise
    except psycopg2.Error as exc:
        # Constraint violations and the like: the message may quote row values, so log only the class and state.
        logger.error("the database refused the user's row", error_type=type(exc).__name__, sqlstate=exc.pgcode)
        constraint = getattr(getattr(exc, "diag", None), "constraint_name", None) or ""
        if isinstance(exc, psycopg2.errors.UniqueViolation) and "handle" in constraint:
            raise HandleTakenError(f"the handle is already taken by another user ({type(exc).__name__}, "
                                   f"SQLSTATE {exc.pgcode}, constraint {constraint})") from None
        raise DatabaseRejectedRowError(f"the database refused the user's row ({type(exc).__name__}, "
                                       f"SQLSTATE {exc.pgcode})") from None
    logger.info("user recorded" if inserted else "user already recorded; nothing changed", inserted=inserted)
    return event
