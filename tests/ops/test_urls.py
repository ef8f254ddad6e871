"""URL parsing and redaction: the password never survives redact/scrub, in any spelling."""

from __future__ import annotations

import pytest

from ops.db.connections import dsn_params, tunnel_hint
from ops.db.target import DbTarget
from ops.errors import CruddurError
from ops.urls import build_url, database_name, is_rds_host, parse, redact, scrub, with_database, with_params


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://app:s3cret@db:5432/cruddur", "postgresql://app:***@db:5432/cruddur"),
        ("postgres://u:p%40ss%2Fw@h/db?sslmode=verify-full", "postgres://u:***@h/db?sslmode=verify-full"),
        ("postgresql://u:raw@at@h/db", "postgresql://u:***@h/db"),
        ("connect failed for postgresql://a:b1c@h:1/d and postgresql://e:f2g@i/j",
         "connect failed for postgresql://a:***@h:1/d and postgresql://e:***@i/j"),
        ("host=h password=abc123 dbname=x", "host=h password=*** dbname=x"),
        ("host=h password='a b c' dbname=x", "host=h password=*** dbname=x"),
        ("postgresql://h/db?user=u&password=topsecret&sslmode=require", "postgresql://h/db?user=u&password=***&sslmode=require"),
        ("ALTER ROLE x WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:abc'", "ALTER ROLE x WITH LOGIN PASSWORD '***'"),
        ("postgresql://nopassword@h/db", "postgresql://nopassword@h/db"),
        ("", ""),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


def test_scrub_removes_every_spelling_of_the_password():
    url = build_url("master", "p@ss word/+!", "db.example", 5432, "cruddur")
    assert "p%40ss%20word%2F%2B%21" in url
    text = f"error near p@ss word/+! and p%40ss%20word%2F%2B%21 and p%40ss+word%2F%2B%21 in {url}"
    cleaned = scrub(text, url)
    assert "p@ss" not in cleaned and "p%40ss" not in cleaned
    assert cleaned.count("***") == 4


def test_parse_roundtrip_and_helpers():
    url = "postgresql://app:pw%3Ax@db.internal:6543/cruddur?sslmode=verify-full&sslrootcert=ca.pem"
    info = parse(url)
    assert (info.user, info.password, info.host, info.port, info.database) == ("app", "pw:x", "db.internal", 6543, "cruddur")
    assert info.params == {"sslmode": "verify-full", "sslrootcert": "ca.pem"}
    assert "pw" not in str(info) and "***" in repr(info)
    other = with_database(url, "postgres")
    assert parse(other).database == "postgres" and parse(other).password == "pw:x"
    params = parse(with_params(url, sslmode=None, application_name="x")).params
    assert params == {"sslrootcert": "ca.pem", "application_name": "x"}
    assert database_name(url) == "cruddur"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:secretpw@h/db", "not a PostgreSQL URL"),
        ("postgresql://u:secretpw@h:notaport/db", "not a valid connection URL"),
        ("", "no connection URL"),
    ],
)
def test_parse_errors_never_echo_the_password(url, message):
    with pytest.raises(CruddurError, match=message) as info:
        parse(url)
    assert "secretpw" not in str(info.value)


def test_database_name_required():
    with pytest.raises(CruddurError, match="names no database"):
        database_name("postgresql://u:pw@h:5432")


def test_rds_hosts_get_tls_verify_full_and_tunnel_keeps_the_host_name():
    host = "cruddur-prod-db.abc.us-east-1.rds.amazonaws.com"
    assert is_rds_host(host) and is_rds_host(host.upper() + ".") and not is_rds_host("localhost")
    url = f"postgresql://master:pw@{host}:5432/cruddur"
    direct = dsn_params(DbTarget(url))
    assert direct["sslmode"] == "verify-full" and direct["host"] == host and "hostaddr" not in direct
    tunneled = dsn_params(DbTarget(url + "?sslrootcert=global-bundle.pem", tunnel_port=15432))
    assert tunneled["host"] == host  # certificate verification still against the RDS name
    assert (tunneled["hostaddr"], tunneled["port"]) == ("127.0.0.1", "15432")
    assert tunneled["sslrootcert"] == "global-bundle.pem"
    hint = tunnel_hint(host, "eice-123")
    assert "aws ec2-instance-connect open-tunnel --instance-connect-endpoint-id eice-123" in hint
    assert "--remote-port 5432 --local-port 5432" in hint and "--tunnel-port 5432" in hint
