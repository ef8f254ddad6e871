"""CLI helpers for the ops tests.

``cli(*args, input=None, env=None)`` runs ``cruddur`` in-process (typer.testing.CliRunner) with a clean
environment (no CONNECTION_URL or MASTER_CONNECTION_URL, CRUDDUR_LOCAL_DIR pointing to an empty temp project, wide
terminal), and asserts that no known password appears in its stdout or stderr. ``secrets`` lists those passwords;
tests add theirs with ``secrets.append(...)``.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ops.cli import app

FIXTURES = Path(__file__).parent / "fixtures"
RECORDED_OUTPUTS = FIXTURES / "stack-output-dev.json"
FAKE_STACK_PASSWORD = "Fake-Passw0rd_for.tests~only"  # the master password inside the recorded outputs (fake)
FAKE_APP_PASSWORD = "Fake-App-Passw0rd_for.tests~only"  # cruddur_app's password inside the recorded outputs (fake)
COGNITO_REGION = "us-east-1"  # the ``cognito`` fixture's pool


@pytest.fixture
def secrets(pg_server) -> list[str]:
    return [pg_server.password, FAKE_STACK_PASSWORD, FAKE_APP_PASSWORD, "not-the-password-xyz"]


@pytest.fixture
def project_dir():
    """An empty project folder (CRUDDUR_LOCAL_DIR) for `cruddur local ...`; outside tmp_path, see server_dir."""
    from tests.conftest import server_dir

    folder = server_dir("cruddur-project-")
    yield folder
    from ops.local.server import LocalServer

    LocalServer(folder / ".local").destroy()  # a test that failed half-way must not leave a server running
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def cli(secrets, project_dir, monkeypatch):
    runner = CliRunner()
    results = []
    monkeypatch.delenv("CONNECTION_URL", raising=False)
    monkeypatch.delenv("MASTER_CONNECTION_URL", raising=False)
    monkeypatch.delenv("CRUDDUR_LOCAL_PORT", raising=False)
    monkeypatch.delenv("AWS_COGNITO_USER_POOL_ID", raising=False)

    def run(*args: str, input: str | None = None, env: dict | None = None):
        full_env = {"CRUDDUR_LOCAL_DIR": str(project_dir), "COLUMNS": "200", "CONNECTION_URL": None,
                    "MASTER_CONNECTION_URL": None, **(env or {})}
        result = runner.invoke(app, list(args), input=input, env=full_env, prog_name="cruddur")
        for secret in secrets:
            assert secret not in result.stdout, f"password leaked on stdout of {args}"
            assert secret not in result.stderr, f"password leaked on stderr of {args}"
        results.append(result)
        return result

    run.results = results
    return run


MASTER_USER = "cruddur_admin"
APP_USER = "cruddur_app"


def rds_secret(stack: str, username: str, password: str, /, **overrides) -> str:
    """The standard RDS secret JSON that components/database.py and components/app_access.py write."""
    recorded = json.loads(RECORDED_OUTPUTS.read_text())
    doc = {"engine": "postgres", "host": recorded["dbHost"].replace("dev", stack), "port": 5432,
           "username": username, "password": password, "dbname": "cruddur",
           "dbInstanceIdentifier": f"cruddur-{stack}-db", **overrides}
    return json.dumps({k: v for k, v in doc.items() if v is not None})


@pytest.fixture
def moto_aws(monkeypatch):
    """moto in place of every AWS API, with fake credentials and no profile: no test reaches a real account."""
    from moto import mock_aws

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


def denied_operator(monkeypatch, user: str) -> dict:
    """The environment (for ``cli(..., env=...)``) of an IAM user ``user`` with no permission at all; from here on
    moto enforces IAM, so every AWS call it makes is denied. Call it after the test's own AWS setup."""
    import boto3
    from moto import settings

    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto enforces IAM from here on
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            "AWS_SESSION_TOKEN": None}


@pytest.fixture
def cognito(moto_aws):
    """(client, pool id): an empty Cognito user pool in moto, in ``COGNITO_REGION``."""
    import boto3

    client = boto3.client("cognito-idp", region_name=COGNITO_REGION)
    return client, client.create_user_pool(PoolName="cruddur-test")["UserPool"]["Id"]


@pytest.fixture
def aws_secrets(moto_aws):
    """moto's Secrets Manager (eu-west-1, the recorded stacks' region) with the dev and prod stacks' master and app
    secrets (names as components/database.py and components/app_access.py give them), first versions holding the
    recorded fake passwords. Yields {(stack, "master"|"app"): arn}."""
    import boto3

    client = boto3.client("secretsmanager", region_name="eu-west-1")
    arns = {}
    for stack in ("dev", "prod"):
        for kind, user, password in (("master", MASTER_USER, FAKE_STACK_PASSWORD),
                                     ("app", APP_USER, FAKE_APP_PASSWORD)):
            arns[(stack, kind)] = client.create_secret(
                Name=f"cruddur/{stack}/rds/{kind}", SecretString=rds_secret(stack, user, password))["ARN"]
    return arns


def stack_outputs(stack: str, arns: dict) -> dict:
    """The recorded outputs (prod: same outputs, prod names) with the secret ARNs of ``aws_secrets``."""
    doc = json.loads(RECORDED_OUTPUTS.read_text())
    if stack != "dev":
        doc = {k: (v.replace("dev", stack) if isinstance(v, str) else v) for k, v in doc.items()}
    doc["masterSecretArn"] = arns[(stack, "master")]
    doc["appSecretArn"] = arns[(stack, "app")]
    return doc


@pytest.fixture
def fake_pulumi(tmp_path: Path, monkeypatch, aws_secrets) -> Path:
    """Put a fake `pulumi` first on PATH: `stack output --json --show-secrets --stack dev|prod` prints the
    recorded document (prod: same outputs, prod names) whose masterSecretArn/appSecretArn name the secrets in
    moto (``aws_secrets``); other stacks fail like the real CLI. Returns the folder holding one ``STACK.json``
    per stack (what the fake prints): a test may rewrite it."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    docs = tmp_path / "stack-outputs"
    docs.mkdir()
    for stack in ("dev", "prod"):
        (docs / f"{stack}.json").write_text(json.dumps(stack_outputs(stack, aws_secrets), indent=2))
    script = bindir / "pulumi"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import pathlib, sys
        args = sys.argv[1:]
        stack = args[args.index("--stack") + 1]
        assert args[:4] == ["stack", "output", "--json", "--show-secrets"], args
        doc = pathlib.Path({str(docs)!r}) / (stack + ".json")
        if stack not in ("dev", "prod") or not doc.is_file():
            sys.stderr.write(f"error: no stack named '{{stack}}' found\\n")
            sys.exit(255)
        print(doc.read_text())
        """))
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return docs
