"""The CLI reads a stack's CURRENT secrets (ops/stack/secrets.py) from Secrets Manager (moto), not the deploy-time
URL outputs: it follows a rotation (master and app), the app's alternating user, never a pending version, retries
throttling through botocore, and turns every user-caused failure into one line naming the fix (exit 2)."""

from __future__ import annotations

import json

import boto3
import botocore.handlers
import pytest
from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import MockRawResponse

from ops.cli.targets import resolve
from ops.stack import secrets as stack_secrets
from tests.ops.conftest import (
    APP_USER,
    FAKE_APP_PASSWORD,
    FAKE_STACK_PASSWORD,
    MASTER_USER,
    RECORDED_OUTPUTS,
    denied_operator,
    rds_secret,
)

REGION = "eu-west-1"
RECORDED = json.loads(RECORDED_OUTPUTS.read_text())
HOST = RECORDED["dbHost"]
NEW_MASTER_PASSWORD = "Rotated-Master-Passw0rd~v2"
NEW_APP_PASSWORD = "Rotated-App-Passw0rd~v2"
NO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None,
                  "AWS_PROFILE": None, "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
                  "AWS_CONFIG_FILE": "/nonexistent/config", "AWS_EC2_METADATA_DISABLED": "true",
                  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None, "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
                  "AWS_WEB_IDENTITY_TOKEN_FILE": None}


@pytest.fixture
def sm(aws_secrets):
    return boto3.client("secretsmanager", region_name=REGION)


def outputs(docs, stack="dev") -> dict:
    return json.loads((docs / f"{stack}.json").read_text())


def rewrite(docs, stack="dev", **changes) -> None:
    doc = outputs(docs, stack)
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    (docs / f"{stack}.json").write_text(json.dumps(doc))


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    return result.stderr


# ------------------------------------------------------------------ the current version, followed
def test_db_stack_target_follows_the_master_rotation(cli, fake_pulumi, aws_secrets, sm, secrets):
    secrets.append(NEW_MASTER_PASSWORD)
    before = resolve(stack="dev")
    assert before.db.info.user == MASTER_USER and before.db.info.password == FAKE_STACK_PASSWORD
    sm.put_secret_value(SecretId=aws_secrets[("dev", "master")],
                        SecretString=rds_secret("dev", MASTER_USER, NEW_MASTER_PASSWORD))  # a rotation: AWSCURRENT
    after = resolve(stack="dev")
    assert after.db.info.password == NEW_MASTER_PASSWORD != FAKE_STACK_PASSWORD
    assert after.db.info.host == HOST and after.db.info.port == 5432 and after.db.database == "cruddur"
    assert after.db.info.params == {"sslmode": "verify-full"}
    assert after.db.endpoint_id == "eice-0123456789abcdef0"
    # the deploy-time output still holds the first password: the CLI does not use it
    assert FAKE_STACK_PASSWORD in outputs(fake_pulumi)["masterConnectionUrl"]
    result = cli("db", "status", "-s", "dev")  # the RDS host is unreachable here: the error shows the URL, redacted
    line = one_error_line(result)
    assert line.startswith(f"error: cannot connect to postgresql://{MASTER_USER}:***@{HOST}:5432/cruddur")


def test_a_pending_version_is_not_used(fake_pulumi, aws_secrets, sm):
    """Mid-rotation, AWSPENDING holds a password the database may not have yet: only AWSCURRENT counts."""
    sm.put_secret_value(SecretId=aws_secrets[("dev", "master")], VersionStages=["AWSPENDING"],
                        SecretString=rds_secret("dev", MASTER_USER, NEW_MASTER_PASSWORD))
    assert resolve(stack="dev").db.info.password == FAKE_STACK_PASSWORD


def test_stack_env_follows_the_app_rotation_and_its_alternating_user(cli, fake_pulumi, aws_secrets, sm, secrets):
    secrets.remove(FAKE_APP_PASSWORD)  # stack env prints the app's URL on stdout, on purpose

    def app_url() -> str:
        result = cli("stack", "env", "-s", "dev", "--format", "json")
        assert result.exit_code == 0, result.output
        assert FAKE_APP_PASSWORD not in result.stderr and NEW_APP_PASSWORD not in result.stderr
        return json.loads(result.stdout)["CONNECTION_URL"]

    first = f"postgresql://{APP_USER}:{FAKE_APP_PASSWORD}@{HOST}:5432/cruddur?sslmode=verify-full"
    assert app_url() == first
    sm.put_secret_value(SecretId=aws_secrets[("dev", "app")],
                        SecretString=rds_secret("dev", f"{APP_USER}_clone", NEW_APP_PASSWORD))
    assert app_url() == f"postgresql://{APP_USER}_clone:{NEW_APP_PASSWORD}@{HOST}:5432/cruddur?sslmode=verify-full"
    sm.put_secret_value(SecretId=aws_secrets[("dev", "app")],
                        SecretString=rds_secret("dev", APP_USER, FAKE_APP_PASSWORD + "3"))
    assert app_url() == first.replace(FAKE_APP_PASSWORD, FAKE_APP_PASSWORD + "3")
    assert outputs(fake_pulumi)["appConnectionUrl"] == first  # the stale deploy-time output, unused


def test_missing_host_port_dbname_fall_back_to_the_outputs(fake_pulumi, aws_secrets, sm):
    sm.put_secret_value(SecretId=aws_secrets[("dev", "master")], SecretString=json.dumps(
        {"username": MASTER_USER, "password": NEW_MASTER_PASSWORD}))
    info = resolve(stack="dev").db.info
    assert (info.user, info.password, info.host, info.port, info.database) == (
        MASTER_USER, NEW_MASTER_PASSWORD, HOST, 5432, "cruddur")


def test_throttling_is_retried_by_botocore(fake_pulumi, aws_secrets, monkeypatch):
    """Two throttled answers, then Secrets Manager (moto) answers: botocore's standard retry mode gets through."""
    attempts = []

    def throttle(request, **kwargs):
        if request.headers.get("X-Amz-Target", b"") in (b"secretsmanager.GetSecretValue", "secretsmanager.GetSecretValue"):
            attempts.append(request.url)
            if len(attempts) <= 2:
                body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
                return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"},
                                   MockRawResponse(body))
        return None

    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", [("before-send", throttle),
                                                                *botocore.handlers.BUILTIN_HANDLERS])
    monkeypatch.setattr(stack_secrets, "RETRIES", {"total_max_attempts": 3, "mode": "standard"})
    assert resolve(stack="dev").db.info.password == FAKE_STACK_PASSWORD
    assert len(attempts) == 3
    attempts.clear()
    monkeypatch.setattr(stack_secrets, "RETRIES", {"total_max_attempts": 2, "mode": "standard"})
    with pytest.raises(stack_secrets.CruddurError, match=r"^cannot read arn:aws:secretsmanager:eu-west-1:\d+:secret:"
                                                         r"cruddur/dev/rds/master-\w+ in eu-west-1: ThrottlingException$"):
        resolve(stack="dev")
    assert len(attempts) == 2


# ------------------------------------------------------------------ errors a user can cause: one line, exit 2
def test_no_aws_credentials(cli, fake_pulumi, aws_secrets):
    arn = aws_secrets[("dev", "master")]
    line = one_error_line(cli("db", "status", "-s", "dev", env=NO_CREDENTIALS))
    assert line == (f"error: no AWS credentials to read {arn}: sign in (e.g. `aws sso login`, or set AWS_PROFILE / "
                    "AWS_ACCESS_KEY_ID) as an operator allowed secretsmanager:GetSecretValue and kms:Decrypt\n")
    env_line = one_error_line(cli("stack", "env", "-s", "dev", env=NO_CREDENTIALS))
    assert env_line.startswith(f"error: no AWS credentials to read {aws_secrets[('dev', 'app')]}: sign in")


def test_access_denied_names_the_secret_and_the_actions(cli, fake_pulumi, aws_secrets, monkeypatch):
    env = denied_operator(monkeypatch, "no-secrets")
    arn = aws_secrets[("dev", "master")]
    line = one_error_line(cli("db", "status", "-s", "dev", env=env))
    assert line.startswith(f"error: access denied reading {arn}: the caller needs secretsmanager:GetSecretValue on "
                           f"this secret and kms:Decrypt on the key {RECORDED['kmsKeyArn']}: grant both to your operator "
                           "role (docs/operations.md, 'Operator access') (")
    app = one_error_line(cli("stack", "env", "-s", "dev", env=env))
    assert app.startswith(f"error: access denied reading {aws_secrets[('dev', 'app')]}: the caller needs "
                          "secretsmanager:GetSecretValue")


def test_kms_decrypt_failure_names_kms_decrypt(aws_secrets, sm):
    """Secrets Manager answers DecryptionFailure when the caller may not use the secret's key (moto does not model
    KMS grants on secrets, so botocore's Stubber gives Secrets Manager's answer)."""
    from botocore.stub import Stubber

    arn = aws_secrets[("dev", "master")]
    client = stack_secrets.client(REGION)
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", "DecryptionFailure", "Access to KMS is not allowed")
        with pytest.raises(Exception) as caught:
            client.get_secret_value(SecretId=arn)
    message = stack_secrets._client_error(caught.value, arn, REGION, "dev", RECORDED["kmsKeyArn"])
    assert message == (f"cannot decrypt {arn}: the caller needs kms:Decrypt on the key {RECORDED['kmsKeyArn']} as well "
                       "as secretsmanager:GetSecretValue, and the key must be enabled (DecryptionFailure)")
    unnamed = stack_secrets._client_error(caught.value, arn, REGION, "dev")
    assert "needs kms:Decrypt on stack dev's key (kmsKeyArn) as well as" in unnamed


def test_secret_deleted_or_scheduled_for_deletion(cli, fake_pulumi, aws_secrets, sm):
    master, app = aws_secrets[("dev", "master")], aws_secrets[("dev", "app")]
    sm.delete_secret(SecretId=master, ForceDeleteWithoutRecovery=True)
    gone = one_error_line(cli("db", "status", "-s", "dev"))
    assert gone == (f"error: secret {master} not found in eu-west-1 (deleted, or not created yet): run `pulumi up -s "
                    f"dev`, or restore it with `aws secretsmanager restore-secret --secret-id {master}` if it was "
                    "deleted\n")
    sm.delete_secret(SecretId=app, RecoveryWindowInDays=7)
    scheduled = one_error_line(cli("stack", "env", "-s", "dev"))
    assert scheduled == (f"error: secret {app} is scheduled for deletion: restore it with `aws secretsmanager "
                         f"restore-secret --region eu-west-1 --secret-id {app}`, then re-run\n")


@pytest.mark.parametrize("field", ["username", "password"])
def test_secret_missing_a_field(cli, fake_pulumi, aws_secrets, sm, field):
    arn = aws_secrets[("dev", "master")]
    sm.put_secret_value(SecretId=arn, SecretString=rds_secret("dev", MASTER_USER, NEW_MASTER_PASSWORD, **{field: None}))
    line = one_error_line(cli("db", "status", "-s", "dev"))
    assert line == (f"error: secret {arn} (AWSCURRENT) has no {field!r} field; it must hold the RDS JSON (username, "
                    "password, host, port, dbname): put a complete version back, see runbooks/rotate-master-password.md\n")
    assert NEW_MASTER_PASSWORD not in line


def test_secret_missing_host_with_no_output_to_fall_back_to(cli, fake_pulumi, aws_secrets, sm):
    arn = aws_secrets[("dev", "master")]
    sm.put_secret_value(SecretId=arn, SecretString=rds_secret("dev", MASTER_USER, NEW_MASTER_PASSWORD, host=None))
    rewrite(fake_pulumi, dbHost=None)
    line = one_error_line(cli("db", "status", "-s", "dev"))
    assert line == (f"error: secret {arn} (AWSCURRENT) has no 'host' field and stack dev has no output 'dbHost': put "
                    "a complete RDS JSON version back, or run `pulumi up -s dev`\n")


def test_secret_that_is_not_rds_json_is_never_echoed(cli, fake_pulumi, aws_secrets, sm):
    arn = aws_secrets[("dev", "master")]
    for text in (f"plain:{NEW_MASTER_PASSWORD}", json.dumps([NEW_MASTER_PASSWORD])):
        sm.put_secret_value(SecretId=arn, SecretString=text)
        line = one_error_line(cli("db", "status", "-s", "dev"))
        assert line == (f"error: secret {arn} (AWSCURRENT) is not a JSON object; it must hold the RDS JSON (username, "
                        "password, host, port, dbname): see runbooks/rotate-master-password.md\n")
    sm.put_secret_value(SecretId=arn, SecretString=rds_secret("dev", MASTER_USER, NEW_MASTER_PASSWORD, port="x"))
    assert "has a 'port' that is not a port number" in one_error_line(cli("db", "status", "-s", "dev"))
    sm.put_secret_value(SecretId=arn, SecretString=rds_secret("dev", MASTER_USER, NEW_MASTER_PASSWORD, engine="mysql"))
    assert "is for engine 'mysql', not postgres" in one_error_line(cli("db", "status", "-s", "dev"))


def test_wrong_region(cli, fake_pulumi, aws_secrets):
    arn = aws_secrets[("dev", "master")]
    rewrite(fake_pulumi, region="us-east-1")
    line = one_error_line(cli("db", "status", "-s", "dev"))
    assert line == (f"error: stack dev's secret {arn} is in region eu-west-1, but its region output is us-east-1: the "
                    "stack's outputs disagree; run `pulumi up -s dev` (or `pulumi refresh`)\n")
    # A secret in another region than the stack's: not found there, and the message names the region searched.
    other = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="cruddur/dev/rds/master", SecretString=rds_secret("dev", MASTER_USER, NEW_MASTER_PASSWORD))["ARN"]
    rewrite(fake_pulumi, region="eu-west-1", masterSecretArn=other.replace("us-east-1", "eu-west-1"))
    moved = one_error_line(cli("db", "status", "-s", "dev"))
    assert moved.startswith(f"error: secret {other.replace('us-east-1', 'eu-west-1')} not found in eu-west-1")


def test_missing_or_malformed_arn_outputs(cli, fake_pulumi):
    rewrite(fake_pulumi, masterSecretArn=None)
    assert one_error_line(cli("db", "status", "-s", "dev")) == (
        "error: stack dev has no output 'masterSecretArn'; has `pulumi up -s dev` completed?\n")
    rewrite(fake_pulumi, masterSecretArn="cruddur/dev/rds/master")
    assert one_error_line(cli("db", "status", "-s", "dev")) == (
        "error: stack dev's output masterSecretArn is not a Secrets Manager ARN ('cruddur/dev/rds/master'); run "
        "`pulumi up -s dev` with this version of the program\n")


def test_client_uses_the_stack_region_and_botocore_retries():
    client = stack_secrets.client("eu-west-1")
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.retries == {"total_max_attempts": 5, "mode": "standard"}
    assert client.meta.config.connect_timeout == 5 and client.meta.config.read_timeout == 15
    assert "password" not in repr(stack_secrets.Credentials("u", "s3cret-pw", "h", 1, "d"))
    assert "s3cret-pw" not in repr(stack_secrets.Credentials("u", "s3cret-pw", "h", 1, "d"))
