"""Secrets Manager rotation for the stack's two database secrets, PostgreSQL, two strategies, two functions.

ONE package, two entry points:

- ``handler.handler``, the ROTATION function, OUTSIDE the VPC: Secrets Manager invokes it; it makes every AWS call
  (describe, read, write a version, move a stage) and reaches the database only by invoking the database function;
- ``handler.db_handler``, the DATABASE function, INSIDE the private subnets: PostgreSQL only, no AWS call and no AWS
  SDK imported, so the private subnets need no Secrets Manager endpoint and its role needs only
  ``AWSLambdaVPCAccessExecutionRole``. Three explicit actions, never SQL (``db_actions.py`` documents them in full;
  LOGIN is ``{"host", "port", "username", "password", "dbname"}``):

  ``{"action": "login", "secret": LOGIN}`` -> ``{"ok": BOOL}`` (false only when the password is refused);
  ``{"action": "set_password", "logins": [LOGIN, ...], "target": {"username", "password"}, "check_app_user": BOOL}``
  -> ``{"ok": true, "login": INDEX}`` (the first accepted login set it) or ``{"ok": false, "login": null}``;
  ``{"action": "test", "secret": LOGIN, "require_role": ROLE or null}`` -> ``{"ok": BOOL, "has_role": BOOL or null}``.

``single-user`` (the default; the RDS master secret ``cruddur/<stack>/rds/master``): the user keeps its name and gets
a new password. ``alternating-users`` (``ROTATION_STRATEGY=alternating-users``; the app secret
``cruddur/<stack>/rds/app``): AWS's multi-user strategy. The app's privileges belong to ``cruddur_app``, and
``cruddur_app_clone`` inherits them (sql/migrations/0006_app_clone_role.sql); each rotation gives the user the app is
NOT using a new password, set by the master user (its secret's ARN in ``MASTER_SECRET_ARN``), and switches the secret
to that user. The user the app was using keeps its password until the next rotation: an app that still holds the
previous value keeps logging in for a whole rotation period.

Secrets Manager invokes the rotation function four times per rotation, each with ``{"SecretId",
"ClientRequestToken", "Step"}``
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html):

``createSecret``  a new password (``secrets.token_urlsafe``, 40 characters) as a new version labelled AWSPENDING, the
                  rest of the standard RDS JSON (engine, host, port, username, dbname) copied from AWSCURRENT;
                  alternating users: ``username`` switches to the other user (``X`` <-> ``X_clone``);
``setSecret``     ``ALTER ROLE <user> PASSWORD <SCRAM verifier>`` (the database function's ``set_password``).
                  Single user: logged in with AWSCURRENT (or already done: AWSPENDING logs in; or a retried
                  rotation: AWSPREVIOUS logs in). Alternating users: logged in as the master (its AWSCURRENT, or its
                  AWSPENDING while the master itself is mid-rotation), on the pending user only, after checking that
                  user exists, is unprivileged and inherits the app role. The verifier is computed client-side, so
                  no plaintext reaches SQL text, pg_stat_activity or the DDL log;
``testSecret``    AWSPENDING logs in and runs ``SELECT 1`` (alternating users: and holds the app role's privileges);
``finishSecret``  AWSCURRENT moves to the new version (the old one becomes AWSPREVIOUS).

Every step is idempotent: Secrets Manager retries a failed step. A failed step leaves AWSCURRENT as it was, and the
database keeps accepting it. Between ``setSecret`` and ``finishSecret`` (single user) the database has the AWSPENDING
password and refuses AWSCURRENT's: the functions that connect as the master (the migrator, the restore probe) log in
through ``lambda/shared/master_login.py``, which on a refused password (SQLSTATE 28P01 only) tries AWSPENDING, then
AWSPREVIOUS, each once; an operator's ``cruddur db ... -s STACK`` reads AWSCURRENT only and is refused in that window
(seconds): run it again. Sessions already open are never affected (PostgreSQL checks the password only at login).

The rotation function invokes the database function synchronously (``RequestResponse``, the function named by
``DB_FUNCTION_NAME``) with the credentials the action needs in the payload: Lambda does not log payloads, neither
function logs one, and no answer carries a password. A ``FunctionError`` answer becomes a ``RotationError`` with the
database function's one-line message. Environment of the rotation function: ``ROTATION_STRATEGY`` (default
single-user), ``MASTER_SECRET_ARN`` (alternating users), ``DB_FUNCTION_NAME``; of the database function: none
(``DB_SSLMODE``/``DB_SSLROOTCERT`` for tests only, see ``db_actions.py``). Nothing secret is ever logged.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

from aws_lambda_powertools import Logger

SERVICE = "cruddur-rotate-master"
REQUIRED_FIELDS = ("host", "port", "username", "password", "dbname")
LOGIN_FIELDS = REQUIRED_FIELDS  # what the database function's actions take of a secret
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
SINGLE_USER, ALTERNATING_USERS = "single-user", "alternating-users"
STRATEGIES = (SINGLE_USER, ALTERNATING_USERS)
CLONE_SUFFIX = "_clone"  # AWS's multi-user naming: the alternate of user X is X_clone (and back)
# URL-safe passwords (letters, digits, - and _): the secret's readers put them in libpq URLs, and RDS refuses
# / " @ and spaces in master passwords. 30 random bytes = 40 characters.
PASSWORD_BYTES = 30
DB_ERROR_TYPE = "ActionError"  # db_actions.py's errors: their message is the whole story

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))


class RotationError(Exception):
    """A rotation step cannot proceed; the message says why (never a secret value)."""


def db_handler(event: Any, context: Any) -> dict[str, Any]:
    """The database function's entry point (inside the VPC): ``db_actions.py``, loaded here so that the rotation
    function never imports psycopg2 and the database function never imports boto3."""
    import db_actions  # beside this file in the package

    return db_actions.handle(event)


def handler(event: dict[str, Any], context: Any, client=None, invoke=None) -> None:
    """The rotation function's entry point (outside the VPC). ``client``: a Secrets Manager client; ``invoke``: the
    Lambda client's ``invoke`` (keyword arguments, boto3's answer); both made here when not given."""
    if not isinstance(event, dict):
        raise RotationError("the rotation event must be a JSON object with SecretId, ClientRequestToken and Step")
    arn, token, step = (event.get(k) for k in ("SecretId", "ClientRequestToken", "Step"))
    if not (isinstance(arn, str) and isinstance(token, str) and step in STEPS):
        raise RotationError(f"the rotation event needs SecretId, ClientRequestToken and Step (one of {', '.join(STEPS)})")
    client = client or _aws_client("secretsmanager")
    metadata = client.describe_secret(SecretId=arn)
    if not metadata.get("RotationEnabled"):
        raise RotationError(f"rotation is not enabled on {arn}")
    stages = metadata.get("VersionIdsToStages", {})
    if token not in stages:
        raise RotationError(f"version {token} is not a version of {arn}")
    if "AWSCURRENT" in stages[token]:
        logger.info("version already current; nothing to do", extra={"step": step, "version": token})
        return
    if "AWSPENDING" not in stages[token]:
        raise RotationError(f"version {token} of {arn} is not labelled AWSPENDING")
    strategy = os.environ.get("ROTATION_STRATEGY") or SINGLE_USER
    if strategy not in STRATEGIES:
        raise RotationError(f"ROTATION_STRATEGY must be {' or '.join(STRATEGIES)}, got {strategy!r}")
    logger.info("rotation step", extra={"step": step, "version": token, "strategy": strategy})
    if strategy == SINGLE_USER:
        steps = {"createSecret": create_secret, "setSecret": set_secret, "testSecret": test_secret,
                 "finishSecret": finish_secret}
    else:
        steps = {"createSecret": create_alternate, "setSecret": set_alternate, "testSecret": test_alternate,
                 "finishSecret": finish_secret}
    steps[step](client, arn, token, DatabaseFunction(invoke))


def _aws_client(service: str):
    # Imported here, not at the top: the database function loads this module too, and imports no AWS SDK.
    import boto3

    return boto3.client(service)


class DatabaseFunction:
    """The database function (``DB_FUNCTION_NAME``, inside the VPC), invoked synchronously with one action each."""

    def __init__(self, invoke=None):
        self._invoke = invoke

    def login(self, secret: dict[str, Any]) -> bool:
        """Whether the database accepts the secret's login (False only when it refuses the password)."""
        answer = self._call({"action": "login", "secret": _login(secret)})
        if not isinstance(answer.get("ok"), bool):
            raise self._unexpected("login")
        return answer["ok"]

    def set_password(self, logins: list[dict[str, Any]], target: dict[str, Any], check_app_user: bool) -> int | None:
        """Set ``target``'s user's password, logged in with the first of ``logins`` that the database accepts; the
        index of that login, or None when it refused them all (nothing changed)."""
        answer = self._call({"action": "set_password", "logins": [_login(s) for s in logins],
                             "target": {"username": target["username"], "password": target["password"]},
                             "check_app_user": check_app_user})
        index = answer.get("login")
        if answer.get("ok") is True and type(index) is int and 0 <= index < len(logins):
            return index
        if answer.get("ok") is False and index is None:
            return None
        raise self._unexpected("set_password")

    def test(self, secret: dict[str, Any], require_role: str | None) -> tuple[bool, bool | None]:
        """(whether the secret logs in, whether it holds ``require_role``'s privileges: None without a role)."""
        answer = self._call({"action": "test", "secret": _login(secret), "require_role": require_role})
        ok, has_role = answer.get("ok"), answer.get("has_role")
        if not (isinstance(ok, bool) and (isinstance(has_role, bool) if ok and require_role else has_role is None)):
            raise self._unexpected("test")
        return ok, has_role

    @property
    def name(self) -> str:
        name = os.environ.get("DB_FUNCTION_NAME", "")
        if not name:
            raise RotationError("DB_FUNCTION_NAME is not set: the rotation reaches the database through its database "
                                "function in the VPC (components/master_rotation.py sets it); redeploy the function")
        return name

    def _call(self, payload: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError  # the rotation function's only (see _aws_client)

        name = self.name
        if self._invoke is None:
            self._invoke = _aws_client("lambda").invoke
        try:
            response = self._invoke(FunctionName=name, InvocationType="RequestResponse",
                                    Payload=json.dumps(payload).encode())
            body = response["Payload"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise RotationError(f"cannot invoke the database function {name} ({code}): check that it exists and that "
                                "this function's role may invoke it") from None
        except BotoCoreError as exc:  # its type only: a parameter error's message would quote the payload
            raise RotationError(f"cannot invoke the database function {name}: {type(exc).__name__}") from None
        try:
            answer = json.loads(body)
        except (TypeError, ValueError):
            answer = None
        if response.get("FunctionError"):
            error = answer if isinstance(answer, dict) else {}
            message = " ".join(str(error.get("errorMessage") or "no message").split())
            if error.get("errorType") == DB_ERROR_TYPE:
                raise RotationError(message)
            raise RotationError(f"the database function {name} failed ({error.get('errorType', 'unknown error')}): "
                                f"{message[:300]}")
        if not isinstance(answer, dict):
            raise self._unexpected(payload["action"])
        return answer

    def _unexpected(self, action: str) -> RotationError:
        return RotationError(f"the database function {self.name} gave an unexpected answer to {action}: deploy the "
                             "same package to both rotation functions")


def _login(secret: dict[str, Any]) -> dict[str, Any]:
    """What an action takes of a secret value: the five login fields (not ``engine``, nothing else)."""
    return {key: secret[key] for key in LOGIN_FIELDS}


def _set_as_first_accepted(db: DatabaseFunction, logins: list[dict[str, Any]], refusal, pending: dict[str, Any],
                           check_app_user: bool, none_accepted: str) -> None:
    """Set ``pending``'s password logged in as the first of ``logins`` the database accepts, in order. A login that
    ``refusal(login)`` names a reason for is never used: the list stops there, and the reason is the error if no
    earlier login was accepted; ``none_accepted`` is the error when the database refused every login."""
    usable, reason = [], None
    for login in logins:
        reason = refusal(login)
        if reason:
            break
        usable.append(login)
    if usable and db.set_password(usable, pending, check_app_user) is not None:
        return
    raise RotationError(reason or none_accepted)


def _create_pending(client, arn: str, token: str, user_of) -> None:
    """createSecret for both strategies: an AWSPENDING version like AWSCURRENT, with a new password and the user
    ``user_of(current user)``; nothing when an earlier attempt of this rotation created it."""
    current = _get(client, arn, "AWSCURRENT")
    try:
        _get(client, arn, "AWSPENDING", token)
        return  # created by an earlier attempt of this rotation
    except client.exceptions.ResourceNotFoundException:
        pass
    # Generated here, not with GetRandomPassword: the function's policy lets it act on its one secret only, and
    # GetRandomPassword has no resource. URL-safe, 240 bits.
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    pending = {**current, "username": user_of(current["username"]), "password": password}
    client.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=json.dumps(pending),
                            VersionStages=["AWSPENDING"])
    if pending["username"] != current["username"]:
        logger.info("pending version created", extra={"from_user": current["username"],
                                                      "to_user": pending["username"]})


def create_secret(client, arn: str, token: str, db: DatabaseFunction) -> None:
    _create_pending(client, arn, token, lambda username: username)


def set_secret(client, arn: str, token: str, db: DatabaseFunction) -> None:
    pending = _get(client, arn, "AWSPENDING", token)
    if db.login(pending):
        return  # the database already has the pending password
    candidates = [_get(client, arn, "AWSCURRENT")]
    try:
        candidates.append(_get(client, arn, "AWSPREVIOUS"))
    except client.exceptions.ResourceNotFoundException:
        pass

    def refusal(secret: dict[str, Any]) -> str | None:
        for key in ("host", "port", "username", "dbname"):
            if str(secret[key]) != str(pending[key]):
                return f"the pending version's {key} differs from the current one; refusing to rotate"
        return None

    _set_as_first_accepted(
        db, candidates, refusal, pending, check_app_user=False,
        none_accepted=f"cannot log in to {pending['host']} as {pending['username']} with the current or previous "
                      "password: set the secret's AWSCURRENT value to the database's password (runbooks/"
                      "rotate-master-password.md)")


def _test_pending(client, arn: str, token: str, db: DatabaseFunction,
                  require_role=lambda pending: None) -> tuple[dict[str, Any], bool | None]:
    """The AWSPENDING version logs in (and, with ``require_role(pending)``, whether it holds that role); returns
    that version and whether it holds the role (None without one)."""
    pending = _get(client, arn, "AWSPENDING", token)
    ok, has_role = db.test(pending, require_role(pending))
    if not ok:
        raise RotationError(f"the pending password does not log in to {pending['host']} as {pending['username']}")
    return pending, has_role


def test_secret(client, arn: str, token: str, db: DatabaseFunction) -> None:
    _test_pending(client, arn, token, db)


def finish_secret(client, arn: str, token: str, db: DatabaseFunction) -> None:
    stages = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
    current = next((v for v, labels in stages.items() if "AWSCURRENT" in labels), None)
    if current == token:
        return
    client.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token,
                                       RemoveFromVersionId=current)
    logger.info("rotation finished", extra={"version": token})


# -- alternating users ----------------------------------------------------------------------------------------------
def alternate_user(username: str) -> str:
    """The other login user of the pair: ``X`` <-> ``X_clone``."""
    base = base_user(username)
    return base + CLONE_SUFFIX if username == base else base


def base_user(username: str) -> str:
    """The role that holds the privileges (``X`` for both ``X`` and ``X_clone``)."""
    return username[:-len(CLONE_SUFFIX)] if username.endswith(CLONE_SUFFIX) else username


def create_alternate(client, arn: str, token: str, db: DatabaseFunction) -> None:
    _create_pending(client, arn, token, alternate_user)


def set_alternate(client, arn: str, token: str, db: DatabaseFunction) -> None:
    pending = _get(client, arn, "AWSPENDING", token)
    current = _get(client, arn, "AWSCURRENT")
    if pending["username"] != alternate_user(current["username"]):
        raise RotationError(f"the pending version's user {pending['username']} is not the alternate of the current "
                            f"user {current['username']} ({alternate_user(current['username'])}); refusing to rotate")
    for key in ("host", "port", "dbname"):
        if str(current[key]) != str(pending[key]):
            raise RotationError(f"the pending version's {key} differs from the current one; refusing to rotate")
    if db.login(pending):
        return  # the database already has the pending password
    master_arn = os.environ.get("MASTER_SECRET_ARN", "")
    if not master_arn:
        raise RotationError("MASTER_SECRET_ARN is not set: the alternating-users rotation sets passwords as the "
                            "master user (components/master_rotation.py sets it); redeploy the function")
    masters = [_get(client, master_arn, "AWSCURRENT")]
    try:  # the master secret may be mid-rotation itself: its pending password may already be the database's
        masters.append(_get(client, master_arn, "AWSPENDING"))
    except client.exceptions.ResourceNotFoundException:
        pass

    def refusal(master: dict[str, Any]) -> str | None:
        for key in ("host", "port"):
            if str(master[key]) != str(pending[key]):
                return f"the master secret's {key} differs from the app secret's; refusing to rotate"
        if master["username"] in (pending["username"], base_user(pending["username"])):
            return f"the app secret names the master user {master['username']}; refusing to rotate"
        return None

    _set_as_first_accepted(
        db, [{**master, "dbname": pending["dbname"]} for master in masters], refusal, pending, check_app_user=True,
        none_accepted=f"cannot log in to {pending['host']} as the master user {masters[0]['username']} with its "
                      "current password: fix the master secret first (runbooks/rotate-master-password.md); the app's "
                      "current password is unchanged")


def test_alternate(client, arn: str, token: str, db: DatabaseFunction) -> None:
    pending, allowed = _test_pending(client, arn, token, db, lambda pending: base_user(pending["username"]))
    if not allowed:
        raise RotationError(f"{pending['username']} logs in but does not hold {base_user(pending['username'])}'s "
                            "privileges; refusing to switch the app to it")


def _get(client, arn: str, stage: str, token: str | None = None) -> dict[str, Any]:
    kwargs = {"SecretId": arn, "VersionStage": stage}
    if token:
        kwargs["VersionId"] = token
    value = client.get_secret_value(**kwargs)
    try:
        secret = json.loads(value["SecretString"])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise RotationError(f"the {stage} version of {arn} is not a JSON object") from None
    missing = [k for k in REQUIRED_FIELDS if not secret.get(k)] if isinstance(secret, dict) else list(REQUIRED_FIELDS)
    if missing:
        raise RotationError(f"the {stage} version of {arn} lacks {', '.join(missing)} (standard RDS secret JSON)")
    # Checked on every read, before anything is written or set: a port the database function would refuse stops
    # the rotation at its first step, with the database's password unchanged.
    port = secret["port"]
    if isinstance(port, str) and port.isascii() and port.isdigit() and len(port) <= 5:
        port = int(port)
    if not (type(port) is int and 1 <= port <= 65535):
        raise RotationError(f"the {stage} version of {arn} has a port that is not a whole number from 1 to 65535 "
                            f"(a {type(secret['port']).__name__}); fix the secret's port (standard RDS secret JSON: "
                            "5432), then rotate again; the database's password is unchanged")
    wrong = [k for k in ("host", "username", "password", "dbname") if not isinstance(secret[k], str)]
    if wrong:
        raise RotationError(f"the {stage} version of {arn} has {', '.join(wrong)} that is not a string (standard RDS "
                            "secret JSON); fix the secret, then rotate again; the database's password is unchanged")
    return secret
