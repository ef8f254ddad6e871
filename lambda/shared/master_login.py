"""Log in with the master secret through a rotation: AWSCURRENT first, then AWSPENDING, then AWSPREVIOUS.

The master secret (``cruddur/<stack>/rds/master``) rotates with Secrets Manager's SINGLE-USER strategy
(``lambda/rotate_master/handler.py``): between ``setSecret`` (the database now has the AWSPENDING password) and
``finishSecret`` (AWSCURRENT moves to it) the AWSCURRENT password is refused. And a copy restored from a backup taken
before the latest rotation still has the password that is now AWSPREVIOUS.

Two halves, so that the code that connects to the database makes no AWS call (the functions inside the VPC have no
route to Secrets Manager and no VPC endpoint: a function outside the VPC reads the secret and hands them the
credentials in its synchronous invocation payload):

- the AWS side, ``read_candidates(client, secret_id)``: the secret's AWSCURRENT value (``read_secret``: it must be
  usable, or ``SecretUnreadable`` says what to fix), then its AWSPENDING and AWSPREVIOUS values where they exist
  (``read_fallbacks``: a stage that cannot be read, no such version, not JSON, no username/password, Secrets Manager
  refused, is skipped with a warning that names the stage only). Each candidate is
  ``{"stage": "AWSCURRENT" | "AWSPENDING" | "AWSPREVIOUS", "username": ..., "password": ...}`` and nothing else;
  ``check_candidates`` validates such a list where it arrives (naming what is wrong, never quoting a value);
- the database side, ``login(candidates, connect)``:
  1. connects with the first candidate (AWSCURRENT);
  2. only when the server refuses that password (SQLSTATE 28P01, ``password authentication failed``) tries the next
     candidate, skipping any whose username and password were tried already; each once, in order;
  3. logs which stage logged in (the stage's name, never the password);
  4. when no candidate logs in, raises the ORIGINAL error of the first attempt, so the caller fails exactly as it did
     with AWSCURRENT alone.
  Any other error (the database is down, TLS, too many clients, a missing database) propagates unchanged at once,
  never retried with another candidate. ``candidates`` is any iterable, consumed only as far as needed: the operator
  CLI passes a lazy one (``read_fallbacks`` is a generator), so it asks Secrets Manager for the other stages only
  after AWSCURRENT was refused.

psycopg2 raises a login failure with no ``pgcode`` (libpq reports it before any query), so 28P01 is recognised by
the server's message for that SQLSTATE (``password authentication failed for user "..."``, auth.c), which RDS sends
in English; a ``pgcode`` of ``28P01``, when present, counts too.

ONE source file, ``lambda/shared/master_login.py``: ``components/lambda_shared.py`` copies it into the packages of
the functions that log in as the master (the migrator, the restore check) as ``master_login.py`` beside their
handler; the operator CLI loads it by path (``ops/stack/master_login.py``). It imports neither botocore nor
psycopg2 at module level: each half imports what it uses when called (botocore from the Lambda runtime, psycopg2
from the stack's layer), so the database side loads where there is no AWS SDK.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"
PREVIOUS = "AWSPREVIOUS"
FALLBACK_STAGES = (PENDING, PREVIOUS)
STAGES = (CURRENT, *FALLBACK_STAGES)
CANDIDATE_KEYS = ("stage", "username", "password")
REFUSED_SQLSTATE = "28P01"  # invalid_password
_REFUSED_MESSAGE = "password authentication failed"  # the server's message for it
RDS_SHAPE = "{\"username\", \"password\", ...}"

Connection = TypeVar("Connection")
_default_logger = logging.getLogger("cruddur.master_login")


class SecretUnreadable(Exception):
    """A secret's AWSCURRENT value cannot be read or used: one line naming the secret and what to fix, never its
    value."""


class MalformedCandidates(ValueError):
    """A list of candidates is not what ``read_candidates`` makes: one line naming what is wrong, never a value."""


@dataclass(frozen=True)
class Login(Generic[Connection]):
    """What logged in: the connection, the candidate whose credentials it used, and that candidate's stage."""

    connection: Connection
    secret: dict[str, Any]
    stage: str


def _credentials(secret: dict[str, Any]) -> tuple[Any, Any]:
    return secret.get("username"), secret.get("password")


def _usable(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) and v for v in _credentials(value))


def candidate(stage: str, value: dict[str, Any]) -> dict[str, str]:
    """``{"stage", "username", "password"}`` of a secret value (its other fields stay behind)."""
    return {"stage": stage, "username": value["username"], "password": value["password"]}


# -- the AWS side ---------------------------------------------------------------------------------------------------
def read_secret(client, secret_id: str, label: str) -> tuple[dict[str, Any], str | None]:
    """(the secret's AWSCURRENT value, a JSON object in the RDS shape with a username and a password; its version
    id). Raises ``SecretUnreadable``; the value is never logged, nor quoted in an error."""
    from botocore.exceptions import BotoCoreError, ClientError  # the Lambda runtime's; only this half needs it

    try:
        response = client.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SecretUnreadable(f"cannot read the {label} secret {secret_id} ({code}): check that it exists and that "
                               "the function's role may secretsmanager:GetSecretValue on it and kms:Decrypt its "
                               "key") from None
    except BotoCoreError as exc:
        raise SecretUnreadable(f"cannot reach Secrets Manager for the {label} secret ({type(exc).__name__}): a "
                               "network failure between the function and Secrets Manager; try again") from None
    text = response.get("SecretString")
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise SecretUnreadable(f"the {label} secret {secret_id} is not a JSON object in the RDS shape {RDS_SHAPE}: "
                               "put a value of that shape in it")
    for key in ("username", "password"):
        if not isinstance(value.get(key), str) or not value[key]:
            raise SecretUnreadable(f"the {label} secret {secret_id} has no '{key}': put the RDS JSON shape "
                                   f"{RDS_SHAPE} in it")
    return value, response.get("VersionId")


def read_stage(client, secret_id: str, stage: str, logger, label: str) -> dict[str, Any] | None:
    """The secret's ``stage`` version as a JSON object with a username and a password, or None (logged, by stage
    name only) when there is no such version or it cannot be used."""
    from botocore.exceptions import BotoCoreError, ClientError

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
    if not _usable(value):
        logger.warning(f"the {label} secret's {stage} version has no username and password; skipping it",
                       extra={"secret_stage": stage})
        return None
    return value


def read_fallbacks(client, secret_id: str, logger=None, label: str = "master") -> Iterator[dict[str, str]]:
    """The candidates of the AWSPENDING, then the AWSPREVIOUS version, where they exist and can be used; LAZY: each
    stage is read only when the next candidate is asked for."""
    for stage in FALLBACK_STAGES:
        value = read_stage(client, secret_id, stage, logger or _default_logger, label)
        if value is not None:
            yield candidate(stage, value)


def read_candidates(client, secret_id: str, logger=None, label: str = "master") -> list[dict[str, str]]:
    """Every candidate of the secret, AWSCURRENT first (``SecretUnreadable`` when it cannot be used), then
    AWSPENDING and AWSPREVIOUS where they exist: what a function outside the VPC hands one inside it."""
    current, _ = read_secret(client, secret_id, label)
    return [candidate(CURRENT, current), *read_fallbacks(client, secret_id, logger, label)]


def check_candidates(value: Any, where: str = "master_candidates") -> list[dict[str, str]]:
    """``value`` as ``read_candidates`` makes it (1 to 3 objects, AWSCURRENT first, each stage once, each with exactly
    a stage, a username and a password), or ``MalformedCandidates`` naming what is wrong and never a value."""
    if not isinstance(value, list) or not 1 <= len(value) <= len(STAGES):
        raise MalformedCandidates(f"{where} must be a list of 1 to {len(STAGES)} objects {{\"stage\", \"username\", "
                                  f"\"password\"}}, got {type(value).__name__}"
                                  + (f" of {len(value)}" if isinstance(value, list) else ""))
    stages: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise MalformedCandidates(f"{where}[{index}] must be an object {{\"stage\", \"username\", \"password\"}}, "
                                      f"got {type(item).__name__}")
        keys = sorted(set(item) ^ set(CANDIDATE_KEYS))
        if keys:
            raise MalformedCandidates(f"{where}[{index}] must have exactly the keys stage, username, password "
                                      f"(wrong: {', '.join(map(str, keys))})")
        if item["stage"] not in STAGES or item["stage"] in stages:
            raise MalformedCandidates(f"{where}[{index}]'s stage must be one of {', '.join(STAGES)}, each once")
        if not _usable(item):
            raise MalformedCandidates(f"{where}[{index}] ({item['stage']}) must have a non-empty username and "
                                      "password (strings)")
        stages.append(item["stage"])
    if stages[0] != CURRENT:
        raise MalformedCandidates(f"{where} must start with the {CURRENT} version")
    return [dict(item) for item in value]


# -- the database side ----------------------------------------------------------------------------------------------
def password_refused(exc: BaseException) -> bool:
    """True for the server's SQLSTATE 28P01 (the password is wrong), False for every other failure."""
    code = getattr(exc, "pgcode", None)
    if code:
        return code == REFUSED_SQLSTATE
    return _REFUSED_MESSAGE in str(exc)


def login(candidates: Iterable[dict[str, Any]], connect: Callable[[dict[str, Any]], Connection], logger=None,
          label: str = "master") -> Login[Connection]:
    """Log in with the first candidate, falling back to the next ones only when the server refuses the password
    (module docstring). ``connect(candidate)`` opens the connection with that candidate's username and password and
    raises the driver's error; ``logger`` is a ``logging.Logger`` or a Powertools ``Logger`` (``info``/``warning``
    with ``extra``). Makes no AWS call itself (a lazy ``candidates`` may)."""
    import psycopg2  # the stack's psycopg2 layer (the operator's venv for the CLI)

    logger = logger or _default_logger
    remaining = iter(candidates)
    first = next(remaining, None)
    if first is None:
        raise MalformedCandidates(f"no candidate to log in with: the {label} secret's {CURRENT} version comes first")
    try:
        connection = connect(first)
    except psycopg2.Error as exc:
        if not password_refused(exc):
            raise
        original = exc
    else:
        logger.info(f"logged in with the {label} secret's {first['stage']} version",
                    extra={"secret_stage": first["stage"]})
        return Login(connection, first, first["stage"])

    logger.warning(f"the {label} secret's {first['stage']} password was refused (SQLSTATE {REFUSED_SQLSTATE}): "
                   f"trying its {' and '.join(FALLBACK_STAGES)} versions (a rotation in progress, or a copy restored "
                   "from before the last one)", extra={"secret_stage": first["stage"]})
    tried = {_credentials(first)}
    for other in remaining:
        if _credentials(other) in tried:
            continue
        tried.add(_credentials(other))
        try:
            connection = connect(other)
        except psycopg2.Error as exc:
            if not password_refused(exc):
                raise
            logger.warning(f"the {label} secret's {other['stage']} password was refused too",
                           extra={"secret_stage": other["stage"]})
            continue
        logger.info(f"logged in with the {label} secret's {other['stage']} version",
                    extra={"secret_stage": other["stage"]})
        return Login(connection, other, other["stage"])
    logger.warning(f"no version of the {label} secret logged in ({', '.join(STAGES)})")
    raise original
