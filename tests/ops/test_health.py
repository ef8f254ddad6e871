"""`ops.db.health` against a real PostgreSQL: what it reads, and the breaches that flip the exit status."""

from __future__ import annotations

import re
import time

import psycopg2
import psycopg2.extras
import pytest

from ops.db.health import Thresholds, collect, judge
from ops.paths import MIGRATIONS_DIR

AVAILABLE = sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql"))


@pytest.fixture
def conn(migrated_database_url):
    c = psycopg2.connect(migrated_database_url)
    yield c
    c.close()


def test_a_freshly_migrated_database_is_healthy(conn):
    report = collect(conn, AVAILABLE)
    assert report.applied_migrations == AVAILABLE
    assert report.pending_migrations == [] and report.unknown_migrations == []
    assert report.max_connections > report.reserved_connections >= 0
    assert 1 <= report.connections <= report.max_connections
    assert {t.name for t in report.tables} >= {"public.users", "public.activities"}
    assert 0 < report.xid_age < Thresholds().xid_age
    assert judge(report) == []


def test_an_idle_in_transaction_session_flips_the_verdict(conn, migrated_database_url):
    holder = psycopg2.connect(migrated_database_url)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT count(*) FROM users")  # opens a transaction and leaves it open
        time.sleep(1.1)
        report = collect(conn, AVAILABLE)
        assert [s.pid for s in report.idle_in_transaction] == [holder.get_backend_pid()]
        assert judge(report) == []  # under the default 60 s
        findings = judge(report, Thresholds(idle_in_transaction_seconds=1))
        assert [(f.check, f.breach) for f in findings] == [("idle-in-transaction", True)]
        assert findings[0].message.startswith(f"pid {holder.get_backend_pid()} (")
        assert "is idle in transaction for" in findings[0].message and "(>= 1 s)" in findings[0].message
    finally:
        holder.close()
    deadline = time.monotonic() + 5  # the server drops the closed session's row shortly after
    while judge(collect(conn, AVAILABLE), Thresholds(idle_in_transaction_seconds=1)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert judge(collect(conn, AVAILABLE), Thresholds(idle_in_transaction_seconds=1)) == []


def test_a_lock_wait_and_a_long_transaction_are_breaches(conn, migrated_database_url):
    holder = psycopg2.connect(migrated_database_url)
    waiter = psycopg2.connect(migrated_database_url, async_=True)
    psycopg2.extras.wait_select(waiter)
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        wcur = waiter.cursor()
        wcur.execute("SELECT count(*) FROM users")  # blocks on the holder's lock
        time.sleep(1.1)
        findings = judge(collect(conn, AVAILABLE), Thresholds(lock_wait_seconds=1, long_transaction_seconds=1,
                                                              idle_in_transaction_seconds=3600))
        checks = sorted(f.check for f in findings)
        assert checks == ["lock-wait", "long-transaction"]
        assert all(f.breach for f in findings)
    finally:
        holder.close()
        psycopg2.extras.wait_select(waiter)
        waiter.close()


def test_connections_over_the_share_is_a_breach(conn):
    report = collect(conn, AVAILABLE)
    limit = 100.0 * report.connections / report.usable_connections
    findings = judge(report, Thresholds(connections_pct=limit))
    assert [f.check for f in findings] == ["connections"]
    assert findings[0].message == (f"{report.connections} of {report.usable_connections} connections in use "
                                   f"({report.connections_pct:.0f}% >= {limit:.0f}%)")


def test_pending_migrations(empty_database_url):
    fresh = psycopg2.connect(empty_database_url)
    try:
        report = collect(fresh, AVAILABLE)
    finally:
        fresh.close()
    assert report.applied_migrations == [] and report.pending_migrations == AVAILABLE
    [finding] = judge(report)
    assert finding.message == (f"{len(AVAILABLE)} migration(s) not applied: {', '.join(AVAILABLE)} "
                               "(cruddur db migrate)")


def test_a_database_newer_than_the_checkout(conn):
    newer = judge(collect(conn, AVAILABLE[:-1]))
    assert [f.message for f in newer] == [
        f"applied migrations missing from this checkout: {AVAILABLE[-1]} (the database is newer than the code)"]


def test_dead_tuples_are_a_warning_not_a_breach(conn):
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE churn AS SELECT g AS id FROM generate_series(1, 3000) g")
        cur.execute("DELETE FROM churn WHERE id <= 2000")
    conn.commit()
    with conn.cursor() as cur:
        cur.execute("SELECT pg_stat_force_next_flush()" if conn.server_version >= 150000 else "SELECT 1")
    conn.commit()
    deadline = time.monotonic() + 5
    while True:
        report = collect(conn, AVAILABLE)
        churn = [t for t in report.tables if t.name == "public.churn"]
        if churn and churn[0].dead_tuples >= 2000 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    findings = [f for f in judge(report) if f.check == "dead-tuples"]
    assert len(findings) == 1 and findings[0].breach is False
    assert findings[0].message.startswith("public.churn is 67% dead rows (2,000); last vacuum ")


# -- `cruddur db health` ---------------------------------------------------------------------------------------------
def test_health_command_on_a_healthy_database(cli, migrated_database_url):
    result = cli("db", "health", "--url", migrated_database_url)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "postgresql://postgres:***@" in result.stdout
    assert re.search(rf"migrations +{len(AVAILABLE)} applied, 0 pending, {len(AVAILABLE)} in this checkout", result.stdout)
    assert "public.users" in result.stdout and "public.activities" in result.stdout
    assert result.stdout.rstrip().endswith("healthy: nothing over its threshold")


def test_health_command_exits_1_on_a_held_transaction(cli, migrated_database_url):
    holder = psycopg2.connect(migrated_database_url)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT count(*) FROM activities")
        time.sleep(1.1)
        calm = cli("db", "health", "--url", migrated_database_url)
        assert calm.exit_code == 0, calm.stderr
        tight = cli("db", "health", "--url", migrated_database_url, "--idle-in-transaction-seconds", "1")
        assert tight.exit_code == 1
        assert f"BREACH: pid {holder.get_backend_pid()} (postgres) is idle in transaction for" in tight.stderr
        assert "idle in transaction" in tight.stdout and "healthy" not in tight.stdout
    finally:
        holder.close()


def test_health_command_on_a_down_server_is_one_line(cli, down_database_url):
    result = cli("db", "health", "--url", down_database_url)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot connect to postgresql://")
    assert len(result.stderr.strip().splitlines()) == 1


def test_health_command_rejects_a_bad_threshold(cli, migrated_database_url):
    result = cli("db", "health", "--url", migrated_database_url, "--connections-pct", "0")
    assert result.exit_code == 2
    assert "--connections-pct" in result.stderr
