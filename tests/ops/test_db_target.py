"""``DbTarget``: the URL parsed once, never shown with its password, immutable."""

from __future__ import annotations

import dataclasses

import pytest

from ops.db.connections import dsn_params
from ops.db.target import DbTarget
from ops.errors import CruddurError

URL = "postgresql://master:s3cret-pw@db.abc.eu-west-1.rds.amazonaws.com:5432/cruddur?sslmode=verify-full"


def test_parsed_once_and_redacted():
    target = DbTarget(URL, tunnel_port=15432, endpoint_id="eice-123")
    assert target.info is target.info
    assert (target.info.host, target.info.port, target.database, target.info.is_rds) == (
        "db.abc.eu-west-1.rds.amazonaws.com", 5432, "cruddur", True)
    shown = "postgresql://master:***@db.abc.eu-west-1.rds.amazonaws.com:5432/cruddur?sslmode=verify-full"
    assert target.shown == str(target) == shown
    assert repr(target) == f"DbTarget({shown!r}, tunnel_port=15432, endpoint_id='eice-123')"
    assert "s3cret-pw" not in repr(target) + str(target) + repr([target])


def test_frozen_and_compared_by_value():
    target = DbTarget(URL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        target.url = "postgresql://x@y/z"  # type: ignore[misc]
    assert target == DbTarget(URL) and target != DbTarget(URL, tunnel_port=1)
    assert dataclasses.replace(target, tunnel_port=15432).info.host == target.info.host


def test_bad_urls_fail_at_construction_without_the_password():
    with pytest.raises(CruddurError) as caught:
        DbTarget("mysql://u:hunter22@h/db")
    assert caught.value.message == "not a PostgreSQL URL (expected postgresql://USER:PASSWORD@HOST:PORT/DB): mysql://u:***@h/db"
    with pytest.raises(CruddurError) as caught:
        DbTarget("postgresql://u:hunter22@h:5432").database  # noqa: B018 - the property access is what raises
    assert caught.value.message == "the connection URL names no database: postgresql://u:***@h:5432"


def test_the_tunnel_comes_from_the_target():
    params = dsn_params(DbTarget(URL, tunnel_port=15432), database="postgres")
    assert (params["host"], params["hostaddr"], params["port"], params["dbname"]) == (
        "db.abc.eu-west-1.rds.amazonaws.com", "127.0.0.1", "15432", "postgres")
