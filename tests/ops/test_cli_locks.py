"""The runbook CLI: locks and small failures. A killed `db migrate` leaves no lock behind, a role without
DDL rights fails at once, blocked statements time out, racing `local up` calls agree, and `--port` / a full disk
give one clear line. Real PostgreSQL, real subprocesses, real SIGKILL; every test bounded to seconds."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

from ops.db import migrations
from ops.db.target import DbTarget
from ops.errors import CruddurError
from ops.local.server import LocalServer, free_port
from ops.urls import parse
from tests.ops.test_db_cmd import scalar

CRUDDUR = Path(sys.executable).parent / "cruddur"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "CRUDDUR_LOCAL_DIR": str(tmp_path)}
    env.pop("CONNECTION_URL", None)
    env.pop("MASTER_CONNECTION_URL", None)
    env.pop("CRUDDUR_LOCAL_PORT", None)
    return env


def _wait_for(predicate, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _blocked_migrators(url: str) -> int:
    return scalar(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND wait_event_type = 'Lock' AND application_name = 'cruddur-cli'")


def test_a_killed_migrate_leaves_no_lock_behind(migrated_database_url, tmp_path):
    """kill -9 of a `db migrate` that holds the lock (blocked on a table lock): the next run goes through in
    seconds, without a manual DELETE FROM yoyo_lock."""
    blocker = psycopg2.connect(migrated_database_url)
    try:
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE _yoyo_migration IN ACCESS EXCLUSIVE MODE")  # held until rollback
        victim = subprocess.Popen([str(CRUDDUR), "db", "migrate", "--url", migrated_database_url],
                                  env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(lambda: _blocked_migrators(migrated_database_url) == 1, what="the migrate run to block")
            assert scalar(migrated_database_url, "SELECT count(*) FROM yoyo_lock") == 1  # it holds yoyo's row
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            # Still blocked behind our lock, its server session notices the dead client by itself
            # (client_connection_check_interval) and ends, which releases the advisory lock.
            _wait_for(lambda: _blocked_migrators(migrated_database_url) == 0, timeout=8,
                      what="the dead client's session to end")
        finally:
            if victim.poll() is None:
                victim.kill()
            victim.communicate()
    finally:
        blocker.rollback()
        blocker.close()
    assert scalar(migrated_database_url, "SELECT count(*) FROM yoyo_lock") == 1  # the dead holder's row is still there
    started = time.monotonic()
    again = subprocess.run([str(CRUDDUR), "db", "migrate", "--url", migrated_database_url], env=_env(tmp_path),
                           capture_output=True, text=True, timeout=20)
    assert again.returncode == 0, again.stderr
    assert again.stdout.rstrip().endswith("is up to date")
    assert time.monotonic() - started < 15
    assert scalar(migrated_database_url, "SELECT count(*) FROM yoyo_lock") == 0


def test_a_live_holder_makes_the_next_run_wait_then_fail_naming_it(migrated_database_url):
    """A live `cruddur db migrate` (its row carries its backend pid) is waited for, then named; once its session
    ends, its row is stale and the next run takes over."""
    holder = psycopg2.connect(migrated_database_url, application_name="other-migrate")
    holder.autocommit = True
    try:
        with holder.cursor() as cur:
            cur.execute("INSERT INTO yoyo_lock (locked, ctime, pid) "
                        "VALUES (1, timezone('utc', now()), -pg_backend_pid()) RETURNING -pid")
            pid = cur.fetchone()[0]
        started = time.monotonic()
        with pytest.raises(CruddurError) as caught:
            migrations.apply(DbTarget(migrated_database_url), lock_timeout=1)
        assert time.monotonic() - started < 5
        shown = DbTarget(migrated_database_url).shown
        assert caught.value.message.startswith(
            f"the migration lock on {shown} is held by another `cruddur db migrate`: backend pid {pid} (user "
            "postgres, client 127.0.0.1, since ")
        assert caught.value.message.endswith(" UTC); wait for it, or stop it (cruddur db sessions / kill-sessions)")
    finally:
        holder.close()
    _wait_for(lambda: scalar(migrated_database_url, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                             (pid,)) == 0, timeout=5, what="the holder's session to end")
    assert migrations.apply(DbTarget(migrated_database_url)) == []
    assert scalar(migrated_database_url, "SELECT count(*) FROM yoyo_lock") == 0


def test_rows_of_other_tools_are_never_broken(migrated_database_url):
    """yoyo and the migrator Lambda write their OS pid: such a row is waited for and named, never deleted."""
    scalar(migrated_database_url, "INSERT INTO yoyo_lock (locked, ctime, pid) "
                                  "VALUES (1, '2026-01-02 03:04:05', 4242) RETURNING 1")
    with pytest.raises(CruddurError) as caught:
        migrations.apply(DbTarget(migrated_database_url), lock_timeout=1)
    assert caught.value.message == (
        f"the migration lock on {DbTarget(migrated_database_url).shown} is held by a migration run outside this CLI "
        "(yoyo_lock pid 4242, since 2026-01-02 03:04:05 UTC: the migrator Lambda or yoyo); wait for it; if none is "
        "running (a killed run leaves its row), clear it: DELETE FROM yoyo_lock")
    assert scalar(migrated_database_url, "SELECT pid FROM yoyo_lock") == 4242


def test_a_blocked_statement_times_out_instead_of_hanging(empty_database_url):
    blocker = psycopg2.connect(empty_database_url)
    try:
        with blocker.cursor() as cur:
            cur.execute("CREATE TABLE users (id int)")  # uncommitted: migration 0001's CREATE TABLE users waits
        started = time.monotonic()
        with pytest.raises(CruddurError) as caught:
            migrations.apply(DbTarget(empty_database_url), statement_lock_timeout="1s")
        assert time.monotonic() - started < 8
        assert caught.value.message == (
            f"migration failed on {DbTarget(empty_database_url).shown} (rolled back): waited 1s for a table lock held "
            "by another session (canceling statement due to lock timeout); find it with `cruddur db sessions` "
            "and retry")
    finally:
        blocker.rollback()
        blocker.close()


def test_ctrl_c_interrupts_a_blocked_migrate(migrated_database_url, tmp_path):
    blocker = psycopg2.connect(migrated_database_url)
    try:
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE _yoyo_migration IN ACCESS EXCLUSIVE MODE")
        run = subprocess.Popen([str(CRUDDUR), "db", "migrate", "--url", migrated_database_url],
                               env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(lambda: _blocked_migrators(migrated_database_url) == 1, what="the migrate run to block")
            run.send_signal(signal.SIGINT)
            out, err = run.communicate(timeout=10)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
        assert run.returncode == 130 and err == "error: interrupted\n" and out == ""
    finally:
        blocker.rollback()
        blocker.close()
    _wait_for(lambda: _blocked_migrators(migrated_database_url) == 0, timeout=5, what="the statement to be cancelled")


def test_a_role_without_ddl_rights_fails_at_once(migrated_database_url, role_url, tmp_path):
    app_url = role_url(migrated_database_url, "cruddur_app")
    info = parse(app_url)
    started = time.monotonic()
    result = subprocess.run([str(CRUDDUR), "db", "migrate", "--url", app_url], env=_env(tmp_path),
                            capture_output=True, text=True, timeout=30)
    assert time.monotonic() - started < 15
    assert result.returncode == 2
    assert result.stderr == (
        f"error: role cruddur_app may not run migrations on postgresql://cruddur_app:***@127.0.0.1:{info.port}/"
        f"{info.database}: it lacks CREATE on schema public; SELECT, INSERT, UPDATE, DELETE on table public.yoyo_lock; "
        "SELECT, INSERT, UPDATE, DELETE on table public._yoyo_migration; SELECT, INSERT, UPDATE, DELETE on table "
        "public._yoyo_log; SELECT, INSERT, UPDATE, DELETE on table public._yoyo_version; migrate as the database "
        "owner (the admin URL) or grant it\n")


# ------------------------------------------------------------------ local up
def test_local_up_port_out_of_range_is_one_line(cli):
    for port in ("70000", "0"):
        result = cli("local", "up", "--port", port)
        assert result.exit_code == 2, result.output
        assert result.stderr == f"error: --port {port} is not a TCP port: choose one from 1 to 65535 (or omit --port)\n"
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_racing_local_up_calls_agree_then_port_mismatch_is_named(cli, project_dir):
    port = free_port()
    env = _env(project_dir)
    runs = [subprocess.Popen([str(CRUDDUR), "local", "up", "--port", str(port)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(r.wait(timeout=240), *r.communicate()) for r in runs]
    for code, out, err in results:
        assert code == 0, err
        assert out.startswith(f"local database ready: postgresql://postgres:***@127.0.0.1:{port}/cruddur")
    assert sum("initializing a new cluster" in err for _, _, err in results) == 1
    server = LocalServer(project_dir / ".local")
    assert server.running_port() == port
    assert scalar(server.admin_url("cruddur"), "SELECT count(*) FROM users") == 3
    other = free_port()
    mismatch = cli("local", "up", "--port", str(other))
    assert mismatch.exit_code == 2
    assert mismatch.stderr == (f"error: the local server is already running on port {port}; stop it first "
                               "(cruddur local down) or omit --port\n")
    assert cli("local", "up").exit_code == 0


def test_role_password_on_a_full_disk_keeps_env_and_says_what_to_do(cli, own_server, project_dir, secrets,
                                                                    monkeypatch):
    from ops import dotenv

    admin = own_server.admin_url("postgres")
    migrations.apply(DbTarget(admin))
    secrets.append(own_server.password)
    env_path = project_dir / ".env"
    env_path.write_text("KEEP=1\nCRUDDUR_APP_URL=postgresql://cruddur_app:old@127.0.0.1:1/postgres\n")
    before = env_path.read_text()

    def disk_full(fd):  # the new .env's bytes cannot reach the disk: after the password change, mid-write
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dotenv.os, "fsync", disk_full)
    result = cli("db", "role-password", "cruddur_app", "--url", admin)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: the password of cruddur_app WAS changed on postgresql://postgres:***@127.0.0.1:{own_server.port}/"
        f"postgres, but cannot write {env_path}: No space left on device; the file is unchanged: free space (or fix "
        "the folder's permissions), then run `cruddur db role-password cruddur_app` again to set a new one and "
        "write CRUDDUR_APP_URL\n")
    assert env_path.read_text() == before
    assert sorted(p.name for p in project_dir.iterdir() if p.name.startswith(".env")) == [".env"]  # no temp file left
    assert scalar(admin, "SELECT rolpassword FROM pg_authid WHERE rolname = 'cruddur_app'").startswith("SCRAM-SHA-256$")
