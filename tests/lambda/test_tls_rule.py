"""TLS may be off only towards this machine: one rule in the migrator and in the rotation's database function."""

from __future__ import annotations

import pytest

from ops.paths import PROJECT_ROOT
from tests.lambda_support import fresh_module


def migrator_common():
    return fresh_module(PROJECT_ROOT / "lambda" / "migrator" / "common.py", "migrator_common")


def rotation_db_actions():
    return fresh_module(PROJECT_ROOT / "lambda" / "rotate_master" / "db_actions.py", "rotation_db_actions")


LOCAL = ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "/var/run/postgresql"]
REMOTE = ["cruddur-dev.abc123.eu-west-1.rds.amazonaws.com", "db.abc123.cn-north-1.rds.amazonaws.com.cn",
          "db.abc123.us-iso-east-1.rds.c2s.ic.gov", "db.abc123.us-isob-east-1.rds.sc2s.sgov.gov",
          "db.abc123.eusc-de-east-1.rds.amazonaws.eu", "db.abc123.us-gov-west-1.rds.amazonaws.com", "10.0.3.7",
          "::ffff:10.0.0.1", "localhost.example.com", "127.0.0.1.nip.io", "0.0.0.0", ""]  # noqa: S104 - a host name, not a bind


@pytest.mark.parametrize("host", LOCAL + REMOTE)
def test_the_migrator_and_the_rotation_agree(host):
    expected = host in LOCAL
    assert migrator_common().tls_may_be_off(host) is expected
    assert rotation_db_actions().tls_may_be_off(host) is expected


@pytest.mark.parametrize("host", REMOTE[:6])
def test_the_rotation_refuses_tls_off_for_any_rds_host(host, monkeypatch):
    db_actions = rotation_db_actions()
    monkeypatch.setenv("DB_SSLMODE", "disable")
    secret = {"host": host, "port": 5432, "username": "cruddur_admin", "password": "x", "dbname": "cruddur"}
    with pytest.raises(db_actions.ActionError) as caught:
        db_actions.handle({"action": "login", "secret": secret})
    assert str(caught.value) == (
        f"DB_SSLMODE=disable is for tests against a server on this machine (localhost, a loopback address); {host!r} "
        "is not one, and the rotation reaches any other host only with TLS verify-full: unset DB_SSLMODE")
