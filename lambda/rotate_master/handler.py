"""Secrets Manager rotation for the stack's two database secrets, PostgreSQL, two strategies.

``single-user`` (the default; the RDS master secret ``cruddur/<stack>/rds/master``): the user keeps its name and gets
a new password. ``alternating-users`` (``ROTATION_STRATEGY=alternating-users``; the app secret
``cruddur/<stack>/rds/app``): AWS's multi-user strategy. The app's privileges belong to ``cruddur_app``, and
``cruddur_app_clone`` inherits them (sql/migrations/0006_app_clone_role.sql); each rotation gives the user the app is
NOT using a new password, set by the master user (its secret's ARN in ``MASTER_SECRET_ARN``), and switches the secret
to that user. The user the app was using keeps its password until the next rotation: an app that still holds the
previous value keeps logging in for a whole rotation period.

Secrets Manager invokes this function four times per rotation, each with ``{"SecretId", "ClientRequestToken",
"Step"}`` (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html):

``createSecret``  a new password (``secrets.token_urlsafe``, 40 characters) as a new version labelled AWSPENDING, the
                  rest of the standard RDS JSON (engine, host, port, username, dbname) copied from AWSCURRENT;
                  alternating users: ``username`` switches to the other user (``X`` <-> ``X_clone``);
``setSecret``     ``ALTER ROLE <user> PASSWORD <SCRAM verifier>``. Single user: logged in with AWSCURRENT (or already
                  done: AWSPENDING logs in; or a retried rotation: AWSPREVIOUS logs in). Alternating users: logged in
                  as the master (its AWSCURRENT, or its AWSPENDING while the master itself is mid-rotation), on the
                  pending user only, after checking that user exists, is unprivileged and inherits the app role.
                  The verifier is computed client-side, so no plaintext reaches SQL text, pg_stat_activity or the DDL
                  log;
``testSecret``    AWSPENDING logs in and runs ``SELECT 1`` (alternating users: and holds the app role's privileges);
``finishSecret``  AWSCURRENT moves to the new version (the old one becomes AWSPREVIOUS).

Every step is idempotent: Secrets Manager retries a failed step. A failed step leaves AWSCURRENT as it was, and the
database keeps accepting it. Between ``setSecret`` and ``finishSecret`` (single user) the database has the AWSPENDING
password and refuses AWSCURRENT's: the functions that connect as the master (the migrator, the restore probe) log in
through ``lambda/shared/master_login.py``, which on a refused password (SQLSTATE 28P01 only) tries AWSPENDING, then
AWSPREVIOUS, each once; an operator's ``cruddur db ... -s STACK`` reads AWSCURRENT only and is refused in that window
(seconds): run it again. Sessions already open are never affected (PostgreSQL checks the password only at login).

The function runs in the private subnets: it reaches Secrets Manager through the VPC's interface endpoint and the
database through its security group; TLS ``verify-full`` against the RDS CA bundle shipped beside this file
(``DB_SSLROOTCERT`` overrides the path; ``DB_SSLMODE`` overrides ``verify-full`` for tests against a local server
without TLS, never set on AWS). Nothing secret is ever logged.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import boto3
import psycopg2
from aws_lambda_powertools import Logger
from psycopg2 import sql
from psycopg2.extensions import encrypt_password

SERVICE = "cruddur-rotate-master"
DEFAULT_CA_BUNDLE = Path(__file__).resolve().parent / "global-bundle.pem"
REQUIRED_FIELDS = ("host", "port", "username", "password", "dbname")
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
SINGLE_USER, ALTERNATING_USERS = "single-user", "alternating-users"
STRATEGIES = (SINGLE_USER, ALTERNATING_USERS)
CLONE_SUFFIX = "_clone"  # AWS's multi-user naming: the alternate of user X is X_clone (and back)
# URL-safe passwords (letters, digits, - and _): the secret's readers put them in libpq URLs, and RDS refuses
# / " @ and spaces in master passwords. 30 random bytes = 40 characters.
PASSWORD_BYTES = 30

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))


class RotationError(Exception):
    """A rotation step cannot proceed; the message says why (never a secret value)."""


def handler(event: dict[str, Any], context: Any, client=None) -> None:
    if not isinstance(event, dict):
        raise RotationError("the rotation event must be a JSON object with SecretId, ClientRequestToken and Step")
    arn, token, step = (event.get(k) for k in ("SecretId", "ClientRequestToken", "Step"))
    if not (isinstance(arn, str) and isinstance(token, str) and step in STEPS):
        raise RotationError(f"the rotation event needs SecretId, ClientRequestToken and Step (one of {', '.join(STEPS)})")
    client = client or boto3.client("secretsmanager")
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
    steps[step](client, arn, token)


def _create_pending(client, arn: str, token: str, user_of) -> None:
    """createSecret for both strategies: an AWSPENDING version like AWSCURRENT, with a new password and the user
    ``user_of(current user)``; nothing when an earlier attempt of this rotation created it."""
    current = _get(client, arn, "AWSCURRENT")
    try:
        _get(client, arn, "AWSPENDING", token)
        return  # created by an earlier attempt of this rotation
    except client.exceptions.ResourceNotFoundException:
        pass
    # Generated here, not with GetRandomPassword: the VPC endpoint's policy lets this function act on its one
    # secret only, and GetRandomPassword has no resource. URL-safe, 240 bits.
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    pending = {**current, "username": user_of(current["username"]), "password": password}
    client.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=json.dumps(pending),
                            VersionStages=["AWSPENDING"])
    if pending["username"] != current["username"]:
        logger.info("pending version created", extra={"from_user": current["username"],
                                                      "to_user": pending["username"]})


def create_secret(client, arn: str, token: str) -> None:
    _create_pending(client, arn, token, lambda username: username)


def set_secret(client, arn: str, token: str) -> None:
    pending = _get(client, arn, "AWSPENDING", token)
    if _try_connect(pending) is not None:
        return  # the database already has the pending password
    current = _get(client, arn, "AWSCURRENT")
    candidates = [current]
    try:
        candidates.append(_get(client, arn, "AWSPREVIOUS"))
    except client.exceptions.ResourceNotFoundException:
        pass
    for secret in candidates:
        for key in ("host", "port", "username", "dbname"):
            if str(secret[key]) != str(pending[key]):
                raise RotationError(f"the pending version's {key} differs from the current one; refusing to rotate")
        conn = _try_connect(secret)
        if conn is None:
            continue
        _set_password(conn, pending)
        return
    raise RotationError(f"cannot log in to {pending['host']} as {pending['username']} with the current or previous "
                        "password: set the secret's AWSCURRENT value to the database's password (runbooks/"
                        "rotate-master-password.md)")


def _as_pending(client, arn: str, token: str, query: str, params=lambda pending: ()) -> tuple[dict[str, Any], tuple]:
    """Log in with the AWSPENDING version and run one query (``params(pending)`` its parameters); returns that
    version and the query's row."""
    pending = _get(client, arn, "AWSPENDING", token)
    conn = _try_connect(pending)
    if conn is None:
        raise RotationError(f"the pending password does not log in to {pending['host']} as {pending['username']}")
    try:
        with conn.cursor() as cur:
            cur.execute(query, params(pending))
            return pending, cur.fetchone()
    finally:
        conn.close()


def test_secret(client, arn: str, token: str) -> None:
    _as_pending(client, arn, token, "SELECT 1")


def finish_secret(client, arn: str, token: str) -> None:
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


def create_alternate(client, arn: str, token: str) -> None:
    _create_pending(client, arn, token, alternate_user)


def set_alternate(client, arn: str, token: str) -> None:
    pending = _get(client, arn, "AWSPENDING", token)
    current = _get(client, arn, "AWSCURRENT")
    if pending["username"] != alternate_user(current["username"]):
        raise RotationError(f"the pending version's user {pending['username']} is not the alternate of the current "
                            f"user {current['username']} ({alternate_user(current['username'])}); refusing to rotate")
    for key in ("host", "port", "dbname"):
        if str(current[key]) != str(pending[key]):
            raise RotationError(f"the pending version's {key} differs from the current one; refusing to rotate")
    conn = _try_connect(pending)
    if conn is not None:
        conn.close()
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
    for master in masters:
        for key in ("host", "port"):
            if str(master[key]) != str(pending[key]):
                raise RotationError(f"the master secret's {key} differs from the app secret's; refusing to rotate")
        if master["username"] in (pending["username"], base_user(pending["username"])):
            raise RotationError(f"the app secret names the master user {master['username']}; refusing to rotate")
        conn = _try_connect({**master, "dbname": pending["dbname"]})
        if conn is None:
            continue
        _set_password(conn, pending, check=_check_app_user)
        return
    raise RotationError(f"cannot log in to {pending['host']} as the master user {masters[0]['username']} with its "
                        "current password: fix the master secret first (runbooks/rotate-master-password.md); the "
                        "app's current password is unchanged")


def _set_password(conn, pending: dict, check=None) -> None:
    """Set ``pending``'s user's password to ``pending``'s, as a client-side SCRAM verifier (the plaintext never reaches
    the server's statement log), after ``check(cursor, username)`` when given; commits and closes ``conn``."""
    try:
        with conn.cursor() as cur:
            if check is not None:
                check(cur, pending["username"])
            verifier = encrypt_password(pending["password"], pending["username"], conn, "scram-sha-256")
            cur.execute(sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
                sql.Identifier(pending["username"]), sql.Literal(verifier)))
        conn.commit()
    finally:
        conn.close()
    logger.info("password set on the database", extra={"user": pending["username"]})


def _check_app_user(cur, username: str) -> None:
    base = base_user(username)
    cur.execute("SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls, "
                "pg_catalog.pg_has_role(rolname, %s, 'USAGE') FROM pg_catalog.pg_roles WHERE rolname = %s",
                (base, username))
    row = cur.fetchone()
    if row is None:
        raise RotationError(f"role {username} does not exist: the migrations create it (sql/migrations/"
                            "0006_app_clone_role.sql); deploy, then rotate again")
    if row[0]:
        raise RotationError(f"role {username} is privileged (superuser, CREATEROLE, CREATEDB, REPLICATION or "
                            "BYPASSRLS); this rotation sets only the app's least-privilege users' passwords")
    if not row[1]:
        raise RotationError(f"role {username} does not inherit {base}'s privileges; GRANT {base} TO {username} "
                            "(sql/migrations/0006_app_clone_role.sql does), then rotate again")


def test_alternate(client, arn: str, token: str) -> None:
    pending, (allowed,) = _as_pending(client, arn, token, "SELECT pg_catalog.pg_has_role(current_user, %s, 'USAGE')",
                                      lambda pending: (base_user(pending["username"]),))
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
    return secret


def _try_connect(secret: dict[str, Any]):
    """A connection with the secret's credentials, or None when the password is refused."""
    try:
        return psycopg2.connect(
            host=secret["host"], port=int(secret["port"]), dbname=secret["dbname"], user=secret["username"],
            password=secret["password"], connect_timeout=5, application_name=SERVICE,
            sslmode=os.environ.get("DB_SSLMODE", "verify-full"),
            sslrootcert=os.environ.get("DB_SSLROOTCERT", str(DEFAULT_CA_BUNDLE)),
        )
    except psycopg2.OperationalError as exc:
        if "password authentication failed" in str(exc):
            return None
        raise RotationError(f"cannot reach {secret['host']}:{secret['port']}: "
                            f"{' '.join(str(exc).split())[:200]}") from None
