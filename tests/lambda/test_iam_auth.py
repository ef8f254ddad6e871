"""The AWS connection path: an IAM auth token signed locally (moto + botocore, no network), TLS verify-full."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from moto import mock_aws

from tests.lambda_support import HANDLER_PATH, confirmation_event

HOST = "cruddur-dev-db.cexample12345.eu-west-1.rds.amazonaws.com"


@pytest.fixture
def aws_env(handler_env):
    """What the Lambda runtime and the component give the function: role credentials, AWS_REGION, DB_*."""
    handler_env.delenv("AWS_PROFILE", raising=False)
    with mock_aws():  # no request can leave the process; the credentials below are the function role's
        handler_env.setenv("AWS_ACCESS_KEY_ID", "ASIAEXAMPLEROLEKEY00")
        handler_env.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        handler_env.setenv("AWS_SESSION_TOKEN", "session-token-example")
        handler_env.setenv("AWS_REGION", "eu-west-1")
        handler_env.setenv("DB_HOST", HOST)
        handler_env.setenv("DB_PORT", "5432")
        handler_env.setenv("DB_NAME", "cruddur")
        handler_env.setenv("DB_USER", "cruddur_confirmation")
        yield handler_env


def _token_parts(token: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(f"https://{token}")
    return parts.netloc, parse_qs(parts.query)


def test_token_is_signed_for_the_right_host_port_user_and_region_without_a_request(aws_env, load_handler):
    module = load_handler()
    sent = []
    module._rds().meta.events.register("before-send", lambda request, **_: sent.append(request.url))

    dsn, params = module.connection_params()

    assert dsn is None
    token = params["password"]
    netloc, query = _token_parts(token)
    assert netloc == f"{HOST}:5432"
    assert query["Action"] == ["connect"]
    assert query["DBUser"] == ["cruddur_confirmation"]
    credential = unquote(query["X-Amz-Credential"][0]).split("/")
    assert credential[0] == "ASIAEXAMPLEROLEKEY00"
    assert credential[2:] == ["eu-west-1", "rds-db", "aws4_request"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["900"]
    assert query["X-Amz-Security-Token"] == ["session-token-example"]
    assert sent == []  # signed locally: no API call was made


def test_aws_path_uses_tls_verify_full_with_the_shipped_rds_bundle(aws_env, load_handler):
    _, params = load_handler().connection_params()
    bundle = Path(params["sslrootcert"])
    assert params["sslmode"] == "verify-full"
    assert bundle == HANDLER_PATH.parent / "global-bundle.pem" and bundle.is_file()
    assert (params["host"], params["port"], params["dbname"], params["user"]) == (
        HOST, 5432, "cruddur", "cruddur_confirmation")
    assert params["connect_timeout"] == 2
    assert params["options"] == "-c statement_timeout=1000"
    assert params["tcp_user_timeout"] == 1000


def test_a_fresh_token_is_signed_for_every_new_connection(aws_env, load_handler):
    module = load_handler()
    signed = []
    real = module._rds().generate_db_auth_token

    def counting(**kwargs):
        signed.append(kwargs)
        return real(**kwargs)

    aws_env.setattr(module._rds(), "generate_db_auth_token", counting)
    module.connection_params()
    module.connection_params()
    assert signed == [{"DBHostname": HOST, "Port": 5432, "DBUsername": "cruddur_confirmation",
                       "Region": "eu-west-1"}] * 2


def test_connection_url_wins_over_the_iam_path(aws_env, load_handler):
    aws_env.setenv("CONNECTION_URL", "postgresql://u:p@127.0.0.1:5/x")
    dsn, params = load_handler().connection_params()
    assert dsn == "postgresql://u:p@127.0.0.1:5/x"
    assert "password" not in params and "sslmode" not in params


def test_never_falls_back_to_an_unverified_connection(aws_env, pg_server, load_handler, context):
    """The suite's server has no TLS: verify-full must refuse it rather than send the token in the clear."""
    aws_env.setenv("DB_HOST", "127.0.0.1")
    aws_env.setenv("DB_PORT", str(pg_server.port))
    module = load_handler()
    with pytest.raises(module.DatabaseUnavailableError, match="(?i)ssl"):
        module.handler(confirmation_event(), context)


@pytest.mark.parametrize("missing", ["DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "AWS_REGION"])
def test_incomplete_environment_is_a_configuration_error_naming_the_variable(aws_env, load_handler, context,
                                                                            missing):
    aws_env.delenv(missing)
    module = load_handler()
    with pytest.raises(module.ConfigurationError, match=missing):
        module.handler(confirmation_event(), context)


def test_missing_ca_bundle_is_a_configuration_error(aws_env, load_handler, tmp_path):
    aws_env.setenv("DB_SSLROOTCERT", str(tmp_path / "nope.pem"))
    module = load_handler()
    with pytest.raises(module.ConfigurationError, match="CA bundle"):
        module.connection_params()


@pytest.mark.parametrize("name,value", [("DB_PORT", "five"), ("DB_STATEMENT_TIMEOUT_MS", "0")])
def test_bad_numbers_are_configuration_errors(aws_env, load_handler, name, value):
    aws_env.setenv(name, value)
    module = load_handler()
    with pytest.raises(module.ConfigurationError, match=name):
        module.connection_params()
