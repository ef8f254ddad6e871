"""The CURRENT database credentials of a stack, read from Secrets Manager (never from deploy-time outputs).

The master secret rotates (``components/master_rotation.py``) and the app's secret rotates with alternating users
(its ``username`` switches between two login roles), so the ``masterConnectionUrl`` / ``appConnectionUrl`` stack
outputs are only right until the first rotation. ``current_url(outputs, stack, "masterSecretArn")`` reads the
secret's ``AWSCURRENT`` version with boto3 in the stack's region (its ``region`` output) and builds the libpq URL
(``sslmode=verify-full``; the CA bundle comes from ``PGSSLROOTCERT``, as before).

The secret is the standard RDS JSON that ``components/database.py`` and ``components/app_access.py`` write:
``{"engine", "host", "port", "username", "password", "dbname", "dbInstanceIdentifier"}``. ``username`` and
``password`` must be there; ``host``, ``port`` and ``dbname`` fall back to the ``dbHost`` / ``dbPort`` / ``dbName``
outputs. The caller needs ``secretsmanager:GetSecretValue`` on the secret and ``kms:Decrypt`` on the stack's key
(``kmsKeyArn``). Every failure a user can cause is one ``CruddurError`` line naming the fix; no message ever holds
the password (the secret's text is never echoed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ops.errors import CruddurError
from ops.stack.aws_errors import error_code, refusal
from ops.stack.outputs import require
from ops.urls import build_url

# Throttling and transient errors are retried by botocore itself (standard mode: exponential backoff with jitter).
RETRIES = {"total_max_attempts": 5, "mode": "standard"}  # 1 call + up to 4 retries
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 15
READ_ACTIONS = "secretsmanager:GetSecretValue and kms:Decrypt"
REQUIRED_FIELDS = ("username", "password")
FALLBACK_OUTPUTS = {"host": "dbHost", "port": "dbPort", "dbname": "dbName"}  # field -> stack output
POSTGRES_ENGINES = ("postgres", "postgresql", "aurora-postgresql")
_KMS = ("DecryptionFailure", "KMSAccessDeniedException", "KMSDisabledException", "KMSInvalidStateException")


@dataclass(frozen=True)
class Credentials:
    """One version of a database secret. ``password`` is never shown (``repr`` masks it)."""

    username: str
    password: str = field(repr=False)
    host: str
    port: int
    dbname: str
    version_id: str | None = None

    @property
    def url(self) -> str:
        # The same shape as components/database.py's connection_url (the deploy-time outputs): TLS, verify-full.
        return build_url(self.username, self.password, self.host, self.port, self.dbname, sslmode="verify-full")


def arn_region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 6 and parts[0] == "arn" and parts[2] == "secretsmanager" else None


def client(region: str):
    """A Secrets Manager client in ``region`` with botocore's own retries and bounded timeouts."""
    import boto3
    from botocore.config import Config

    config = Config(retries=dict(RETRIES), connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)
    return boto3.session.Session().client("secretsmanager", region_name=region, config=config)


def read_secret(secret_arn: str, region: str, stack: str, output: str, kms_key: str | None = None) -> dict[str, Any]:
    """The parsed JSON of the secret's AWSCURRENT version (plus ``_version_id``); one-line errors naming the fix."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    where = arn_region(secret_arn)
    if where is None:
        raise CruddurError(f"stack {stack}'s output {output} is not a Secrets Manager ARN ({secret_arn!r}); "
                           f"run `pulumi up -s {stack}` with this version of the program")
    if where != region:
        raise CruddurError(f"stack {stack}'s secret {secret_arn} is in region {where}, but its region output is "
                           f"{region}: the stack's outputs disagree; run `pulumi up -s {stack}` (or `pulumi refresh`)")
    try:
        response = client(region).get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")
    except (NoCredentialsError, PartialCredentialsError):
        raise CruddurError(f"no AWS credentials to read {secret_arn}: sign in (e.g. `aws sso login`, or set "
                           "AWS_PROFILE / AWS_ACCESS_KEY_ID) as an operator allowed " + READ_ACTIONS) from None
    except NoRegionError:  # pragma: no cover - the region is always passed
        raise CruddurError(f"no AWS region for stack {stack}: its region output is empty") from None
    except EndpointConnectionError:
        raise CruddurError(f"cannot reach Secrets Manager in region {region} (stack {stack}'s region output): check "
                           "the region and your network or proxy") from None
    except ClientError as exc:
        raise CruddurError(_client_error(exc, secret_arn, region, stack, kms_key)) from None
    except BotoCoreError as exc:
        raise CruddurError(f"cannot read {secret_arn} in {region}: {type(exc).__name__}") from None
    text = response.get("SecretString")
    if not text:
        raise CruddurError(f"secret {secret_arn} has no SecretString in its AWSCURRENT version; it must hold the RDS "
                           "JSON (username, password, host, port, dbname): see runbooks/rotate-master-password.md")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None  # never echo the text: it is the secret
    if not isinstance(data, dict):
        raise CruddurError(f"secret {secret_arn} (AWSCURRENT) is not a JSON object; it must hold the RDS JSON "
                           "(username, password, host, port, dbname): see runbooks/rotate-master-password.md")
    data["_version_id"] = response.get("VersionId")
    return data


def _client_error(exc, secret_arn: str, region: str, stack: str, kms_key: str | None = None) -> str:
    key = f"the key {kms_key}" if kms_key else f"stack {stack}'s key (kmsKeyArn)"
    refused = refusal(exc, f"reading {secret_arn}",
                      f"secretsmanager:GetSecretValue on this secret and kms:Decrypt on {key}")
    if refused:
        return refused
    code = error_code(exc)
    if code in _KMS:
        return (f"cannot decrypt {secret_arn}: the caller needs kms:Decrypt on {key} as "
                f"well as secretsmanager:GetSecretValue, and the key must be enabled ({code})")
    if code == "ResourceNotFoundException":
        return (f"secret {secret_arn} not found in {region} (deleted, or not created yet): run `pulumi up -s {stack}`, "
                f"or restore it with `aws secretsmanager restore-secret --secret-id {secret_arn}` if it was deleted")
    if code == "InvalidRequestException" and "delet" in str(exc.response.get("Error", {}).get("Message", "")).lower():
        return (f"secret {secret_arn} is scheduled for deletion: restore it with `aws secretsmanager restore-secret "
                f"--region {region} --secret-id {secret_arn}`, then re-run")
    return f"cannot read {secret_arn} in {region}: {code or type(exc).__name__}"


def credentials(outputs: dict[str, Any], stack: str, arn_output: str) -> Credentials:
    """The current credentials in the secret named by the stack output ``arn_output``."""
    region = str(require(outputs, "region", stack))
    secret_arn = str(require(outputs, arn_output, stack))
    data = read_secret(secret_arn, region, stack, arn_output, outputs.get("kmsKeyArn"))
    engine = data.get("engine")
    if engine not in (None, "") and str(engine).lower() not in POSTGRES_ENGINES:
        raise CruddurError(f"secret {secret_arn} is for engine {engine!r}, not postgres: {arn_output} names the wrong "
                           f"secret; run `pulumi up -s {stack}`")
    values: dict[str, Any] = {}
    for key in REQUIRED_FIELDS:
        if not isinstance(data.get(key), str) or not data[key]:
            raise CruddurError(f"secret {secret_arn} (AWSCURRENT) has no {key!r} field; it must hold the RDS JSON "
                               "(username, password, host, port, dbname): put a complete version back, see "
                               "runbooks/rotate-master-password.md")
        values[key] = data[key]
    for key, fallback in FALLBACK_OUTPUTS.items():
        value = data.get(key)
        if value in (None, ""):
            value = outputs.get(fallback)
        if value in (None, ""):
            raise CruddurError(f"secret {secret_arn} (AWSCURRENT) has no {key!r} field and stack {stack} has no "
                               f"output {fallback!r}: put a complete RDS JSON version back, or run `pulumi up -s "
                               f"{stack}`")
        values[key] = value
    try:
        port = int(values["port"])
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise CruddurError(f"secret {secret_arn} (AWSCURRENT) has a 'port' that is not a port number: put a complete "
                           "RDS JSON version back (see runbooks/rotate-master-password.md)")
    return Credentials(values["username"], values["password"], str(values["host"]), port, str(values["dbname"]),
                       data.get("_version_id"))


def current_url(outputs: dict[str, Any], stack: str, arn_output: str) -> str:
    """The connection URL (verify-full) built from the secret's AWSCURRENT version."""
    return credentials(outputs, stack, arn_output).url
