"""Schema migrator: ``pulumi up`` invokes ``handler`` (an ``aws.lambda_.Invocation``), which runs OUTSIDE the VPC and
makes every AWS call, then invokes ``db_handler`` (``db.py``), which runs INSIDE the VPC, talks only to PostgreSQL and
makes no AWS call. So the private subnets, which have no route out, need no Secrets Manager VPC endpoint.

One package, two functions (two entry points of this file):

- ``handler(event, context)``, outside the VPC (its role: read the two secrets, invoke the database function):
  1. checks the event and the package: the event is a JSON object; its ``migrations_sha256``, when present, must
     equal the hash of the migrations packaged beside this file (``common.migrations_sha256``); its
     ``app_secret_version``, when present, is a string (logged: the Invocation re-runs when the app secret changes);
  2. reads the master secret's candidates (``master_login.read_candidates``, ``master_login.py`` beside this file,
     from ``lambda/shared``): its AWSCURRENT value, then its AWSPENDING and AWSPREVIOUS values where they exist, so
     the database function can log in mid-rotation or on a database restored from before the last rotation; and
     the app secret's AWSCURRENT value, which must name ``APP_ROLE`` or ``APP_ROLE_clone``;
  3. invokes the database function (``DB_FUNCTION_NAME``) synchronously (RequestResponse, no retry) with::

         {"action": "migrate",
          "migrations_sha256": "<64 hex: this package's migrations>",
          "master_candidates": [{"stage": "AWSCURRENT", "username": "...", "password": "..."},
                                {"stage": "AWSPENDING", ...}, {"stage": "AWSPREVIOUS", ...}],  # AWSCURRENT first;
                                                                                  # the others where they exist
          "app": {"username": "<APP_ROLE or APP_ROLE_clone>", "password": "..."},
          "app_secret_version": "<the app secret's version id>"}

     (a synchronous payload is not logged by Lambda; this code never logs it, nor returns it);
  4. returns the database function's summary ``{"applied": [ids], "already_applied": n, "app_password_set": true}``
     and nothing else. When the database function fails (a FunctionError), raises ``DatabaseFunctionFailed`` whose
     one-line message is the database function's own (its ``errorMessage``), so ``pulumi up`` fails with it; a
     failure to invoke it (permissions, no such function, the network) is one line too.
- ``db_handler(event, context)``, inside the VPC: ``db.py`` (its docstring says what it does with the payload).

Every failure raises a ``MigratorError`` subclass (``common.py``) whose message says what failed and what to do. No
password, secret value, verifier or URL is ever logged or put in an exception or a result.

Package (built by ``components/migrator.py``): ``handler.py``, ``db.py``, ``common.py``, ``master_login.py``,
``yoyo_one_transaction.py``, ``global-bundle.pem``, ``migrations/*.sql``; psycopg2 (imported by ``db.py``, which this
file imports), yoyo (``components/psycopg2_layer.py``; imported only when migrating) and Powertools come from
layers, boto3 from the runtime (imported only by the outer function's calls).

Environment of ``handler`` (outside the VPC):
    MASTER_SECRET_ARN, APP_SECRET_ARN   required; secrets ``{"engine","host","port","username","password","dbname"}``
    DB_FUNCTION_NAME                    required; the database function's name (or ARN)
    APP_ROLE                            the app's role (default ``cruddur_app``); the app secret names it or
                                        ``<APP_ROLE>_clone``
    MIGRATIONS_DIR                      the migrations (default: ``migrations/`` beside this file)
    POWERTOOLS_SERVICE_NAME             the log's service name (default ``cruddur-migrator``)
Environment of ``db_handler``: ``db.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import db  # the database function, beside this file
import master_login  # lambda/shared/master_login.py, packaged beside this file
from common import (
    SHA256_HEX,
    ConfigurationError,
    DatabaseFunctionFailed,
    MalformedEvent,
    MigratorError,
    PackageMismatch,
    SecretError,
    app_role_from_env,
    app_users,
    env,
    logger,
    migrations_dir_from_env,
    migrations_sha256,
    require_env,
    unexpected,
)

# The database function answers within its own timeout (well under Lambda's 900 s ceiling), so wait that long at most;
# this function's own timeout must exceed the database function's (components/migrator.py).
INVOKE_READ_TIMEOUT_S = 900
SUMMARY_KEYS = {"applied", "already_applied", "app_password_set"}

# ``invoke(payload) -> (FunctionError or None, response payload)``: one synchronous invocation of the database
# function (``lambda_transport``; tests pass one that calls ``db_handler`` in-process).
Invoke = Callable[[bytes], tuple[str | None, bytes]]


# -- configuration and event --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    master_secret_arn: str
    app_secret_arn: str
    db_function: str
    app_role: str
    migrations_dir: Path


def load_config() -> Config:
    require_env(("MASTER_SECRET_ARN", "APP_SECRET_ARN", "DB_FUNCTION_NAME"), "the migrator's")
    return Config(master_secret_arn=env("MASTER_SECRET_ARN"), app_secret_arn=env("APP_SECRET_ARN"),
                  db_function=env("DB_FUNCTION_NAME"), app_role=app_role_from_env(),
                  migrations_dir=migrations_dir_from_env())


def check_event(event: Any, package_sha256: str) -> None:
    """The event is a JSON object; its ``migrations_sha256``, when present, is the package's. Unknown keys are
    ignored."""
    if not isinstance(event, dict):
        raise MalformedEvent(f"the event must be a JSON object such as {{\"migrations_sha256\": \"<hex>\"}}, got "
                             f"{type(event).__name__}")
    for key in ("migrations_sha256", "app_secret_version"):
        if key in event and event[key] is None:  # null is not absence: whoever sent it meant a value
            raise MalformedEvent(f"the event's {key} is null; leave the key out or give its value")
    expected = event.get("migrations_sha256")
    if expected is not None:
        if not isinstance(expected, str) or not SHA256_HEX.fullmatch(expected):
            raise MalformedEvent("the event's migrations_sha256 must be 64 lower-case hex characters, got "
                                 f"{expected!r:.80}")
        if expected != package_sha256:
            raise PackageMismatch(
                f"the event's migrations_sha256 {expected} is not the hash of the migrations this function carries "
                f"({package_sha256}): the deployed function is not the one this deployment built; run pulumi up "
                "again so the function and its invocation come from the same commit")
    version = event.get("app_secret_version")
    if version is not None and not isinstance(version, str):
        raise MalformedEvent(f"the event's app_secret_version must be a string, got {type(version).__name__}")


# -- AWS: the secrets and the database function ----------------------------------------------------------------------
def _secrets_client():
    import boto3  # in the Lambda runtime
    from botocore.config import Config as BotoConfig

    return boto3.client("secretsmanager", config=BotoConfig(connect_timeout=5, read_timeout=10,
                                                            retries={"max_attempts": 3, "mode": "standard"}))


def _lambda_client():
    import boto3
    from botocore.config import Config as BotoConfig

    # No retry: a retried invocation could run while the first one still does (yoyo's lock would make it wait, but
    # the error would be the second one's).
    return boto3.client("lambda", config=BotoConfig(connect_timeout=5, read_timeout=INVOKE_READ_TIMEOUT_S,
                                                    retries={"total_max_attempts": 1}))


def lambda_transport(client, function_name: str) -> Invoke:
    """``invoke(payload)`` through Lambda's Invoke API, synchronously; a failure to invoke is one line."""
    from botocore.exceptions import BotoCoreError, ClientError

    def invoke(payload: bytes) -> tuple[str | None, bytes]:
        try:
            response = client.invoke(FunctionName=function_name, InvocationType="RequestResponse", Payload=payload)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise DatabaseFunctionFailed(
                f"cannot invoke the migrator's database function {function_name} ({code}): check that it exists "
                "(components/migrator.py creates it) and that the migrator's role may lambda:InvokeFunction on "
                "it") from None
        except BotoCoreError as exc:
            raise DatabaseFunctionFailed(
                f"cannot reach Lambda to invoke the migrator's database function {function_name} "
                f"({type(exc).__name__}): run pulumi up again") from None
        return response.get("FunctionError"), response["Payload"].read()

    return invoke


def call_db_function(invoke: Invoke, payload: dict, function_name: str) -> dict:
    """Invoke the database function with ``payload``; its summary, or ``DatabaseFunctionFailed`` carrying its own
    one-line error. Never quotes the payload."""
    function_error, body = invoke(json.dumps(payload).encode())
    try:
        answer = json.loads(body or b"null")
    except ValueError:
        answer = None
    if function_error:
        message = answer.get("errorMessage") if isinstance(answer, dict) else None
        lines = [line.strip() for line in message.splitlines() if line.strip()] if isinstance(message, str) else []
        error_type = answer.get("errorType") if isinstance(answer, dict) else None
        if not lines:
            raise DatabaseFunctionFailed(f"the migrator's database function {function_name} failed "
                                         f"({function_error}) without a message: see its log group", error_type)
        raise DatabaseFunctionFailed(lines[0], error_type if isinstance(error_type, str) else None)
    if not (isinstance(answer, dict) and set(answer) == SUMMARY_KEYS and isinstance(answer["applied"], list)
            and all(isinstance(i, str) for i in answer["applied"]) and type(answer["already_applied"]) is int
            and answer["app_password_set"] is True):
        raise DatabaseFunctionFailed(
            f"the migrator's database function {function_name} answered {type(answer).__name__}, not its summary "
            "{\"applied\", \"already_applied\", \"app_password_set\"}: deploy both functions from the same commit "
            "(pulumi up)")
    return {"applied": list(answer["applied"]), "already_applied": answer["already_applied"],
            "app_password_set": True}


def migrate(event: Any, config: Config, invoke: Invoke | None) -> dict:
    package_sha256 = migrations_sha256(config.migrations_dir)
    logger.append_keys(migrations_sha256=package_sha256)
    check_event(event, package_sha256)
    client = _secrets_client()
    try:
        candidates = master_login.read_candidates(client, config.master_secret_arn, logger)
        app, app_version = master_login.read_secret(client, config.app_secret_arn, "app")
    except master_login.SecretUnreadable as exc:
        raise SecretError(str(exc)) from None
    if app["username"] not in app_users(config.app_role):
        raise ConfigurationError(f"the app secret {config.app_secret_arn} is for {app['username']}, not APP_ROLE "
                                 f"{config.app_role} (or {app_users(config.app_role)[1]}): point APP_SECRET_ARN at "
                                 "the app role's secret")
    logger.info("secrets read", master_stages=[c["stage"] for c in candidates], app_secret_version=app_version,
                app_user=app["username"], requested_app_secret_version=event.get("app_secret_version"))
    payload = {"action": db.ACTION, "migrations_sha256": package_sha256, "master_candidates": candidates,
               "app": {"username": app["username"], "password": app["password"]}, "app_secret_version": app_version}
    logger.info("invoking the database function", db_function=config.db_function)
    return call_db_function(invoke or lambda_transport(_lambda_client(), config.db_function), payload,
                            config.db_function)


# -- the entry points ---------------------------------------------------------------------------------------------
@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: Any, context: Any, invoke: Invoke | None = None) -> dict:
    """Outside the VPC (module docstring). ``invoke``: how to reach the database function (default: Lambda)."""
    try:
        result = migrate(event, load_config(), invoke)
    except MigratorError as exc:
        logger.error("migration run failed", error_type=type(exc).__name__, error=str(exc),
                     db_error_type=getattr(exc, "error_type", None))
        raise
    except Exception as exc:  # noqa: BLE001 - reported by type only: its text may quote a secret value
        raise unexpected(exc, "migrator") from None
    logger.info("migration run done", **result)
    return result


@logger.inject_lambda_context(clear_state=True, log_event=False)
def db_handler(event: Any, context: Any) -> dict:
    """Inside the VPC: ``db.handle`` (``db.py``)."""
    return db.handle(event, context)
