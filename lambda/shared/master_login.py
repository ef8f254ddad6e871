"""Log in with the master secret through a rotation: AWSCURRENT first, then AWSPENDING, then AWSPREVIOUS.

The master secret (``cruddur/<stack>/rds/master``) rotates with Secrets Manager's SINGLE-USER strategy
(``lambda/rotate_master/handler.py``): between ``setSecret`` (the database now has the AWSPENDING password) and
``finishSecret`` (AWSCURRENT moves to it) the AWSCURRENT password is refused. And a copy restored from a backup taken
before the latest rotation still has the password that is now AWSPREVIOUS. So a reader that connects as the master:

1. connects with the AWSCURRENT value it already read (and validated, with its own messages);
2. only when the server refuses that password (SQLSTATE 28P01, ``password authentication failed``) tries AWSPENDING,
   if the secret has such a version and it holds other credentials, then AWSPREVIOUS, if it exists and differs from
   what was tried; each once, in that order;
3. logs which stage logged in (the stage's name, never the password);
4. when no stage logs in, raises the ORIGINAL error of the AWSCURRENT attempt, so the reader fails exactly as before.

Any other error (the database is down, TLS, too many clients, a missing database) propagates unchanged at once,
never retried through the stages; a fallback stage that cannot be read (no such version, not JSON, no
username/password, Secrets Manager refused) is skipped with a warning that names the stage only.

psycopg2 raises a login failure with no ``pgcode`` (libpq reports it before any query), so 28P01 is recognised by
the server's message for that SQLSTATE (``password authentication failed for user "..."``, auth.c), which RDS sends
in English; a ``pgcode`` of ``28P01``, when present, counts too.

ONE source file, ``lambda/shared/master_login.py``: ``components/lambda_shared.py`` copies it into the package of
each function that connects as the master (the migrator, the restore probe) as ``master_login.py`` beside its
handler. It needs psycopg2 (both functions have the psycopg2 layer) and botocore (the Lambda runtime's).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import psycopg2
from botocore.exceptions import BotoCoreError, ClientError

CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"
PREVIOUS = "AWSPREVIOUS"
FALLBACK_STAGES = (PENDING, PREVIOUS)
REFUSED_SQLSTATE = "28P01"  # invalid_password
_REFUSED_MESSAGE = "password authentication failed"  # the server's message for it

Connection = TypeVar("Connection")


@dataclass(frozen=True)
class Login(Generic[Connection]):
    """What logged in: the connection, the secret value whose credentials it used, and that value's stage."""

    connection: Connection
    secret: dict[str, Any]
    stage: str


def password_refused(exc: BaseException) -> bool:
    """True for the server's SQLSTATE 28P01 (the password is wrong), False for every other failure."""
    code = getattr(exc, "pgcode", None)
    if code:
        return code == REFUSED_SQLSTATE
    return _REFUSED_MESSAGE in str(exc)


def _credentials(secret: dict[str, Any]) -> tuple[Any, Any]:
    return secret.get("username"), secret.get("password")


def read_stage(client, secret_id: str, stage: str, logger, label: str) -> dict[str, Any] | None:
    """The secret's ``stage`` version as a JSON object with a username and a password, or None (logged, by stage
    name only) when there is no such version or it cannot be used."""
    try:
        text = client.get_secret_value(SecretId=secret_id, VersionStage=stage).get("SecretString")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        if code != "ResourceNotFoundException":  # no version with this stage: the usual case, nothing to say
            logger.warning(f"cannot read the {label} secret's {stage} version ({code}); skipping it",
                           extra={"secret_stage": stage})
        return None
    except BotoCoreError as exc:
        logger.warning(f"cannot reach Secrets Manager for the {label} secret's {stage} version "
                       f"({type(exc).__name__}); skipping it", extra={"secret_stage": stage})
        return None
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, str) and v for v in _credentials(value)):
        logger.warning(f"the {label} secret's {stage} version has no username and password; skipping it",
                       extra={"secret_stage": stage})
        return None
    return value


def connect_through_rotation(current: dict[str, Any], client, secret_id: str,
                             connect: Callable[[dict[str, Any]], Connection], logger,
                             label: str = "master") -> Login[Connection]:
    """Log in with ``current`` (the secret's AWSCURRENT value), falling back to AWSPENDING then AWSPREVIOUS only when
    the server refuses the password (module docstring). ``connect(secret)`` opens the connection with that value's
    username and password and raises the driver's error; ``logger`` is a ``logging.Logger`` or a Powertools
    ``Logger`` (``info``/``warning`` with ``extra``)."""
    try:
        connection = connect(current)
    except psycopg2.Error as exc:
        if not password_refused(exc):
            raise
        original = exc
    else:
        logger.info(f"logged in with the {label} secret's {CURRENT} version", extra={"secret_stage": CURRENT})
        return Login(connection, current, CURRENT)

    logger.warning(f"the {label} secret's {CURRENT} password was refused (SQLSTATE {REFUSED_SQLSTATE}): trying its "
                   f"{' and '.join(FALLBACK_STAGES)} versions (a rotation in progress, or a copy restored from before "
                   "the last one)", extra={"secret_stage": CURRENT})
    tried = {_credentials(current)}
    for stage in FALLBACK_STAGES:
        candidate = read_stage(client, secret_id, stage, logger, label)
        if candidate is None or _credentials(candidate) in tried:
            continue
        tried.add(_credentials(candidate))
        try:
            connection = connect(candidate)
        except psycopg2.Error as exc:
            if not password_refused(exc):
                raise
            logger.warning(f"the {label} secret's {stage} password was refused too", extra={"secret_stage": stage})
            continue
        logger.info(f"logged in with the {label} secret's {stage} version", extra={"secret_stage": stage})
        return Login(connection, candidate, stage)
    logger.warning(f"no version of the {label} secret logged in ({CURRENT}, {', '.join(FALLBACK_STAGES)})")
    raise original
