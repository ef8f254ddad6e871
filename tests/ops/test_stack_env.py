"""`cruddur stack env` against a recorded `pulumi stack output --json --show-secrets` document and the app secret
in moto's Secrets Manager (its first version holds the recorded password)."""

from __future__ import annotations

import json
import subprocess

import pytest

from ops.cli import stack as stack_cmd
from ops.errors import CruddurError
from ops.stack.app_env import RDS_CA_BUNDLE, app_env, render
from ops.stack.outputs import parse_outputs
from tests.ops.conftest import FAKE_APP_PASSWORD, FAKE_STACK_PASSWORD, RECORDED_OUTPUTS, rds_secret, stack_outputs

RECORDED = json.loads(RECORDED_OUTPUTS.read_text())
EXPECTED = {
    "CONNECTION_URL": RECORDED["appConnectionUrl"],
    "AWS_COGNITO_USER_POOL_ID": "eu-west-1_AbCdEfGhI",
    "AWS_COGNITO_USER_POOL_CLIENT_ID": "4f8l2k9qv1example7clientid",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "REACT_APP_AWS_PROJECT_REGION": "eu-west-1",
    "REACT_APP_AWS_COGNITO_REGION": "eu-west-1",
    "REACT_APP_AWS_USER_POOLS_ID": "eu-west-1_AbCdEfGhI",
    "REACT_APP_CLIENT_ID": "4f8l2k9qv1example7clientid",
    "PGSSLROOTCERT": str(RDS_CA_BUNDLE),
}


@pytest.fixture
def stack_cli(cli, secrets):
    """stack env writes the app's secret URL to stdout on purpose: allow the fake app password in stdout only
    (the master's stays forbidden everywhere)."""
    secrets.remove(FAKE_APP_PASSWORD)
    return cli


def test_json_format(stack_cli, fake_pulumi):
    result = stack_cli("stack", "env", "-s", "dev", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == EXPECTED
    assert FAKE_STACK_PASSWORD not in result.stderr and result.stderr == ""
    assert FAKE_APP_PASSWORD not in result.stderr


def test_env_has_the_app_url_never_the_masters(stack_cli, fake_pulumi):
    for fmt in ("dotenv", "json", "shell"):
        result = stack_cli("stack", "env", "-s", "dev", "--format", fmt)
        assert result.exit_code == 0, result.output
        assert "cruddur_admin" not in result.stdout and FAKE_STACK_PASSWORD not in result.stdout
        assert "postgresql://cruddur_app:" in result.stdout and FAKE_APP_PASSWORD in result.stdout
    env = json.loads(stack_cli("stack", "env", "-s", "dev", "--format", "json").stdout)
    assert env["CONNECTION_URL"] == RECORDED["appConnectionUrl"] != RECORDED["masterConnectionUrl"]
    assert env["CONNECTION_URL"].endswith("?sslmode=verify-full")
    assert env["PGSSLROOTCERT"] == str(RDS_CA_BUNDLE) and RDS_CA_BUNDLE.is_file()
    assert RDS_CA_BUNDLE.read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_ca_bundle_path_can_name_where_the_app_runs(stack_cli, fake_pulumi):
    result = stack_cli("stack", "env", "-s", "dev", "--format", "json", "--ca-bundle", "/app/rds-ca.pem")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["PGSSLROOTCERT"] == "/app/rds-ca.pem"


def test_refuses_an_app_secret_that_is_the_masters(fake_pulumi, aws_secrets):
    import boto3

    outputs = stack_outputs("dev", aws_secrets)
    same = {**outputs, "appSecretArn": outputs["masterSecretArn"]}
    with pytest.raises(CruddurError, match=r"^stack dev's appSecretArn is the master secret; the app never gets the "
                                           r"master credentials: run `pulumi up -s dev` with this version of the "
                                           r"program$"):
        app_env(same, "dev")
    client = boto3.client("secretsmanager", region_name="eu-west-1")
    client.put_secret_value(SecretId=outputs["appSecretArn"],
                            SecretString=rds_secret("dev", "cruddur_admin", FAKE_STACK_PASSWORD))
    with pytest.raises(CruddurError, match=r"^stack dev's app secret \(arn:aws:secretsmanager:eu-west-1:\d+:secret:"
                                           r"cruddur/dev/rds/app-\w+\) logs in as the master user; the app never "
                                           r"gets the master credentials"):
        app_env(outputs, "dev")
    old_stack = {k: v for k, v in outputs.items() if k not in ("appSecretArn", "appConnectionUrl")}
    with pytest.raises(CruddurError, match="stack dev has no output 'appSecretArn'; has `pulumi up -s dev` completed"):
        app_env(old_stack, "dev")


def test_dotenv_format_is_the_default(stack_cli, fake_pulumi):
    result = stack_cli("stack", "env", "-s", "dev")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [ln.split("=", 1)[0] for ln in lines] == list(EXPECTED)
    assert lines[1] == "AWS_COGNITO_USER_POOL_ID=eu-west-1_AbCdEfGhI"
    assert lines[0] == f"CONNECTION_URL={EXPECTED['CONNECTION_URL']}"


def test_shell_format_round_trips_through_a_shell(stack_cli, fake_pulumi):
    result = stack_cli("stack", "env", "-s", "dev", "--format", "shell")
    assert result.exit_code == 0
    assert result.stdout.startswith("export CONNECTION_URL='postgresql://")
    script = result.stdout + 'printf "%s\\n" "$CONNECTION_URL" "$REACT_APP_CLIENT_ID"\n'
    shell = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert shell.stdout.splitlines() == [EXPECTED["CONNECTION_URL"], EXPECTED["REACT_APP_CLIENT_ID"]]


def test_shell_quoting_survives_hostile_values():
    env = {"CONNECTION_URL": "postgresql://u:p'a$s`w\"o;rd $(touch /tmp/pwned)@h/db", "X": "a b\nc"}
    text = render(env, "shell")
    script = text + 'printf "%s|" "$CONNECTION_URL" "$X"'
    shell = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert shell.stdout == f"{env['CONNECTION_URL']}|{env['X']}|"
    dotenv = render(env, "dotenv")
    assert dotenv.splitlines()[0].startswith('CONNECTION_URL="') and "\\$" in dotenv


def test_warns_when_stdout_is_a_terminal(stack_cli, fake_pulumi, monkeypatch):
    monkeypatch.setattr(stack_cmd, "stdout_is_tty", lambda: True)
    result = stack_cli("stack", "env", "-s", "dev")
    assert result.exit_code == 0
    assert "warning: CONNECTION_URL contains a password; redirect stdout into a file" in result.stderr
    assert FAKE_STACK_PASSWORD not in result.stderr and FAKE_APP_PASSWORD not in result.stderr


def test_errors(stack_cli, fake_pulumi, monkeypatch, tmp_path):
    bad_format = stack_cli("stack", "env", "-s", "dev", "--format", "yaml")
    assert bad_format.exit_code == 2 and bad_format.stderr == "error: unknown format 'yaml'; use one of: dotenv, json, shell\n"
    unknown = stack_cli("stack", "env", "-s", "staging")
    assert unknown.exit_code == 2 and unknown.stderr.startswith("error: stack staging does not exist")
    assert unknown.stdout == ""
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    missing = stack_cli("stack", "env", "-s", "dev")
    assert missing.exit_code == 2 and "the pulumi CLI is not installed or not on PATH" in missing.stderr


def test_missing_outputs_name_the_key(aws_secrets):
    outputs = stack_outputs("dev", aws_secrets)
    partial = {k: v for k, v in outputs.items() if k != "userPoolClientId"}
    with pytest.raises(CruddurError, match="stack dev has no output 'userPoolClientId'; has `pulumi up -s dev` completed"):
        app_env(partial, "dev")
    with pytest.raises(CruddurError, match="invalid JSON"):
        parse_outputs("{not json", "dev")
    assert app_env(outputs, "dev") == EXPECTED


def test_the_default_ca_bundle_is_the_rds_bundle_shipped_in_the_repo():
    assert RDS_CA_BUNDLE.is_file()
    assert RDS_CA_BUNDLE.read_text().count("BEGIN CERTIFICATE") > 100  # AWS's global bundle: every region's CAs


# -- read replicas and the RDS Proxy --------------------------------------------------------------------------------
READER = "cruddur-dev-db-replica-1.cabcdefghijk.eu-west-1.rds.amazonaws.com"
PROXY = "cruddur-dev-proxy.proxy-cabcdefghijk.eu-west-1.rds.amazonaws.com"


def test_a_stack_with_replicas_adds_the_reader_url(stack_cli, fake_pulumi):
    document = json.loads((fake_pulumi / "dev.json").read_text())
    document |= {"readerEndpoint": READER, "readerEndpoints": [READER]}
    (fake_pulumi / "dev.json").write_text(json.dumps(document))
    result = stack_cli("stack", "env", "-s", "dev", "--format", "json")
    assert result.exit_code == 0, result.output
    env = json.loads(result.stdout)
    assert env["READER_CONNECTION_URL"] == EXPECTED["CONNECTION_URL"].replace(RECORDED["dbHost"], READER)
    assert env["READER_CONNECTION_URL"] == (f"postgresql://cruddur_app:{FAKE_APP_PASSWORD}@"
                                            f"{READER}:5432/cruddur?sslmode=verify-full")
    assert {k: v for k, v in env.items() if k != "READER_CONNECTION_URL"} == EXPECTED  # the rest unchanged


def test_the_reader_url_follows_the_app_secrets_current_user(aws_secrets):
    import boto3

    outputs = stack_outputs("dev", aws_secrets) | {"readerEndpoint": READER}
    boto3.client("secretsmanager", region_name="eu-west-1").put_secret_value(
        SecretId=outputs["appSecretArn"], SecretString=rds_secret("dev", "cruddur_app_clone", "Rotated-Passw0rd"))
    env = app_env(outputs, "dev")
    assert env["READER_CONNECTION_URL"] == (f"postgresql://cruddur_app_clone:Rotated-Passw0rd@{READER}:5432/cruddur"
                                            "?sslmode=verify-full")
    assert env["CONNECTION_URL"].startswith("postgresql://cruddur_app_clone:Rotated-Passw0rd@cruddur-dev-db.")


def test_a_stack_with_a_proxy_points_the_app_at_it(aws_secrets):
    outputs = stack_outputs("dev", aws_secrets) | {"proxyEndpoint": PROXY}
    env = app_env(outputs, "dev")
    assert env["CONNECTION_URL"] == EXPECTED["CONNECTION_URL"].replace(RECORDED["dbHost"], PROXY)
    assert "READER_CONNECTION_URL" not in env  # no replica, no reader
    assert "READER_CONNECTION_URL" not in app_env(stack_outputs("dev", aws_secrets), "dev")


def test_a_proxy_stack_gets_the_bundle_that_verifies_the_proxy(aws_secrets):
    from cryptography import x509

    from ops.stack.app_env import RDS_PROXY_CA_BUNDLE

    outputs = stack_outputs("dev", aws_secrets) | {"proxyEndpoint": PROXY}
    assert app_env(outputs, "dev")["PGSSLROOTCERT"] == str(RDS_PROXY_CA_BUNDLE)
    assert app_env(outputs, "dev", "/app/ca.pem")["PGSSLROOTCERT"] == "/app/ca.pem"  # an explicit path stays
    # the RDS bundle, whole, then the Amazon Trust Services roots the proxy's ACM certificate chains to
    proxy_bundle = RDS_PROXY_CA_BUNDLE.read_text()
    assert proxy_bundle.startswith(RDS_CA_BUNDLE.read_text())
    extra = x509.load_pem_x509_certificates(proxy_bundle[len(RDS_CA_BUNDLE.read_text()):].encode())
    assert [c.subject.rfc4514_string() for c in extra] == [f"CN=Amazon Root CA {n},O=Amazon,C=US" for n in range(1, 5)]
