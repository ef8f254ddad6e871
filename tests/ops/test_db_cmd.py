"""`cruddur db ...` against the suite's real server (--url), a fake `pulumi` (-s STACK), and a down server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from ops.paths import MIGRATIONS_DIR
from ops.urls import build_url, parse, with_database
from tests.conftest import drop_database

MIGRATIONS = sorted(path.stem for path in MIGRATIONS_DIR.glob("*.sql"))  # every migration on disk

RDS_HOST = "cruddur-dev-db.c9akciq32xyz.eu-west-1.rds.amazonaws.com"


def scalar(url, sql, params=None):
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()[0]
    finally:
        conn.close()


def exists(pg_server, name):
    return scalar(pg_server.admin_url(), "SELECT count(*) FROM pg_database WHERE datname = %s", (name,)) == 1


@pytest.fixture
def new_db_url(pg_server):
    """URL of a database that does not exist yet (dropped afterwards if a test created it)."""
    import uuid

    url = pg_server.admin_url(f"t_new_{uuid.uuid4().hex[:12]}")
    yield url
    drop_database(url)


def test_create_then_create_again(cli, pg_server, new_db_url):
    name = parse(new_db_url).database
    first = cli("db", "create", "--url", new_db_url)
    assert first.exit_code == 0 and f"created database {name} on postgresql://postgres:***@" in first.stdout
    assert exists(pg_server, name)
    again = cli("db", "create", "--url", new_db_url)
    assert again.exit_code == 0 and f"database {name} already exists" in again.stdout


def test_master_connection_url_env_is_a_target(cli, new_db_url):
    result = cli("db", "create", env={"MASTER_CONNECTION_URL": new_db_url})
    assert result.exit_code == 0 and "created database" in result.stdout


def test_migrate_setup_seed_status(cli, pg_server, new_db_url):
    assert cli("db", "setup", "--url", new_db_url).exit_code == 0
    assert scalar(new_db_url, "SELECT count(*) FROM users") == 3
    scalar(new_db_url, "INSERT INTO users (display_name, handle, email, cognito_user_id) "
                       "VALUES ('Kept', 'kept', 'k@example.com', 'sub-kept') RETURNING 1")
    again = cli("db", "setup", "--url", new_db_url)  # existing data is kept
    assert again.exit_code == 0 and "migrations: up to date" in again.stderr and "seed: 0 new users" in again.stderr
    assert scalar(new_db_url, "SELECT count(*) FROM users") == 4
    migrate = cli("db", "migrate", "--url", new_db_url)
    assert migrate.exit_code == 0 and migrate.stdout.rstrip().endswith("is up to date")
    seed = cli("db", "seed", "--url", new_db_url)
    assert seed.exit_code == 0 and "0 new users, 0 new activities" in seed.stdout
    status = cli("db", "status", "--url", new_db_url)
    assert status.exit_code == 0
    assert "PostgreSQL 18" in status.stdout and f"{len(MIGRATIONS)} applied, 0 pending" in status.stdout
    assert "users 4, activities 4" in status.stdout


def test_migrate_applies_to_an_empty_database(cli, empty_database_url):
    result = cli("db", "migrate", "--url", empty_database_url)
    assert result.exit_code == 0
    assert f"applied {len(MIGRATIONS)} migration(s)" in result.stdout and ", ".join(MIGRATIONS) in result.stdout
    assert MIGRATIONS[:2] == ["0001_schema", "0002_roles"]
    status = cli("db", "status", "--url", empty_database_url)
    assert f"{len(MIGRATIONS)} applied, 0 pending" in status.stdout


REFUSE_RECORDING = """
CREATE FUNCTION refuse_recording() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'test: recording of % refused', NEW.migration_id;
END $$;
CREATE TRIGGER refuse_recording BEFORE INSERT ON _yoyo_migration
  FOR EACH ROW WHEN (NEW.migration_id = '0003_users_bio') EXECUTE FUNCTION refuse_recording();
"""


def test_migrate_keeps_a_migration_and_its_record_in_one_transaction(cli, empty_database_url, tmp_path):
    """`db migrate` applies each migration in ONE transaction with its _yoyo_migration/_yoyo_log rows
    (lambda/shared/yoyo_one_transaction.py): when recording 0003_users_bio fails after its SQL ran, neither its
    column nor a record of it remains, and the next run applies it exactly once."""
    from ops.db import migrations
    from ops.db.target import DbTarget

    first_two = tmp_path / "first_two"
    first_two.mkdir()
    for name in ("0001_schema.sql", "0002_roles.sql"):
        (first_two / name).write_text((MIGRATIONS_DIR / name).read_text())
    assert migrations.apply(DbTarget(empty_database_url), directory=first_two) == ["0001_schema", "0002_roles"]
    conn = psycopg2.connect(empty_database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(REFUSE_RECORDING)
    finally:
        conn.close()
    bio = "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'bio'"
    records = ("SELECT format('%s marked, %s logged', "
               "(SELECT count(*) FROM _yoyo_migration WHERE migration_id = '0003_users_bio'), "
               "(SELECT count(*) FROM _yoyo_log WHERE migration_id = '0003_users_bio'))")

    failed = cli("db", "migrate", "--url", empty_database_url)
    assert failed.exit_code == 2, failed.output
    assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr
    assert "(rolled back): test: recording of 0003_users_bio refused" in failed.stderr
    assert scalar(empty_database_url, bio) == 0  # its SQL ran, and was rolled back with the failed record
    assert scalar(empty_database_url, records) == "0 marked, 0 logged"
    assert scalar(empty_database_url, "SELECT count(*) FROM yoyo_lock") == 0
    assert "2 applied, " in cli("db", "status", "--url", empty_database_url).stdout

    scalar(empty_database_url, "DROP TRIGGER refuse_recording ON _yoyo_migration; SELECT 1")
    again = cli("db", "migrate", "--url", empty_database_url)
    assert again.exit_code == 0, again.output
    assert ", ".join(MIGRATIONS[2:]) in again.stdout and MIGRATIONS[2] == "0003_users_bio"
    assert scalar(empty_database_url, bio) == 1
    assert scalar(empty_database_url, records) == "1 marked, 1 logged"  # applied once
    assert f"{len(MIGRATIONS)} applied, 0 pending" in cli("db", "status", "--url", empty_database_url).stdout


def test_status_of_missing_database(cli, new_db_url):
    result = cli("db", "status", "--url", new_db_url)
    assert result.exit_code == 0 and "(missing: cruddur db setup)" in result.stdout


def test_seed_load_data_with_progress(cli, migrated_database_url):
    result = cli("db", "seed", "--url", migrated_database_url, "--users", "50", "--activities", "12000")
    assert result.exit_code == 0, result.output
    assert "loaded 50 users and 12000 activities" in result.stdout
    assert "12000/12000" in result.stderr and "50/50" in result.stderr  # the progress bar, on stderr
    assert scalar(migrated_database_url, "SELECT count(*) FROM activities") == 12000
    assert scalar(migrated_database_url, "SELECT count(DISTINCT user_uuid) FROM activities") == 50


def test_drop_asks_and_respects_no(cli, pg_server, empty_database_url):
    name = parse(empty_database_url).database
    no = cli("db", "drop", "--url", empty_database_url, input="n\n")
    assert no.exit_code == 2 and "not confirmed; nothing was done" in no.stderr
    assert exists(pg_server, name)
    yes = cli("db", "drop", "--url", empty_database_url, input="y\n")
    assert yes.exit_code == 0 and f"dropped database {name}" in yes.stdout
    assert not exists(pg_server, name)
    gone = cli("db", "drop", "--url", empty_database_url, "--yes")
    assert gone.exit_code == 0 and "does not exist" in gone.stdout


def test_drop_disconnects_open_sessions(cli, pg_server, empty_database_url):
    holder = psycopg2.connect(empty_database_url)
    try:
        result = cli("db", "drop", "--url", empty_database_url, "--yes")
        assert result.exit_code == 0
        assert not exists(pg_server, parse(empty_database_url).database)
    finally:
        holder.close()


def test_reset_destroys_only_after_confirmation(cli, migrated_database_url):
    scalar(migrated_database_url, "INSERT INTO users (display_name, handle, email, cognito_user_id) "
                                  "VALUES ('Gone', 'gone', 'g@example.com', 'sub-gone') RETURNING 1")
    refused = cli("db", "reset", "--url", migrated_database_url, input="\n")
    assert refused.exit_code == 2 and "nothing was done" in refused.stderr
    assert scalar(migrated_database_url, "SELECT count(*) FROM users WHERE handle = 'gone'") == 1
    done = cli("db", "reset", "--url", migrated_database_url, "--yes")
    assert done.exit_code == 0, done.output
    assert scalar(migrated_database_url, "SELECT count(*) FROM users WHERE handle = 'gone'") == 0
    assert scalar(migrated_database_url, "SELECT count(*) FROM users") == 3  # seeded again


def test_sessions_and_kill_sessions(cli, migrated_database_url):
    other = psycopg2.connect(migrated_database_url, application_name="someone-else")
    try:
        with other.cursor() as cur:
            cur.execute("SELECT 1")
        listed = cli("db", "sessions", "--url", migrated_database_url)
        assert listed.exit_code == 0
        assert "someone-else" in listed.stdout and "1 other session(s)" in listed.stdout
        killed = cli("db", "kill-sessions", "--url", migrated_database_url, "--yes")
        assert killed.exit_code == 0 and "terminated 1 session(s)" in killed.stdout
        with pytest.raises(psycopg2.OperationalError):
            with other.cursor() as cur:
                cur.execute("SELECT 1")
        assert "0 other session(s)" in cli("db", "sessions", "--url", migrated_database_url).stdout
    finally:
        other.close()


def test_sessions_redact_passwords_in_query_text(cli, migrated_database_url, secrets):
    other = psycopg2.connect(migrated_database_url, application_name="slow")
    other.autocommit = True
    try:
        with other.cursor() as cur:
            with pytest.raises(psycopg2.errors.UndefinedObject):  # pg_stat_activity keeps showing the last query
                cur.execute("ALTER ROLE no_such_role_xyz PASSWORD 'hunter22secret'")
        secrets.append("hunter22secret")
        listed = cli("db", "sessions", "--url", migrated_database_url)
        assert listed.exit_code == 0 and "slow" in listed.stdout and "***" in listed.stdout
    finally:
        other.close()


def test_connect_runs_psql_with_password_in_env_not_argv(pg_server, migrated_database_url, tmp_path):
    env = {**os.environ, "MASTER_CONNECTION_URL": migrated_database_url, "CRUDDUR_LOCAL_DIR": str(tmp_path)}
    env.pop("CONNECTION_URL", None)
    cruddur = Path(sys.executable).parent / "cruddur"
    result = subprocess.run(
        [str(cruddur), "db", "connect", "--", "-At", "-c", "SELECT current_database() || ':' || count(*) FROM pg_roles "
         "WHERE rolname LIKE 'cruddur_%'"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{parse(migrated_database_url).database}:3"  # app, app_clone, confirmation
    assert pg_server.password not in result.stdout + result.stderr


def test_role_password_for_local_use(cli, own_server, project_dir, secrets):
    """Sets a password (as a SCRAM verifier) and writes the role URL to .env; never prints it."""
    from ops.db import migrations
    from ops.db.target import DbTarget

    admin = own_server.admin_url("postgres")
    migrations.apply(DbTarget(admin))
    secrets.append(own_server.password)
    result = cli("db", "role-password", "cruddur_confirmation", "--url", admin)
    assert result.exit_code == 0, result.output
    assert "CRUDDUR_CONFIRMATION_URL written to" in result.stdout
    line = next(ln for ln in (project_dir / ".env").read_text().splitlines() if ln.startswith("CRUDDUR_CONFIRMATION_URL="))
    role_url = line.split("=", 1)[1]
    assert parse(role_url).password not in result.stdout
    assert scalar(role_url, "SELECT current_user") == "cruddur_confirmation"
    stored = scalar(admin, "SELECT rolpassword FROM pg_authid WHERE rolname = 'cruddur_confirmation'")
    assert stored.startswith("SCRAM-SHA-256$")
    bad = cli("db", "role-password", "postgres", "--url", admin)
    assert bad.exit_code == 2 and "unknown role 'postgres'" in bad.stderr
    rds = cli("db", "role-password", "cruddur_app", "--url", f"postgresql://m:pw123@{RDS_HOST}:5432/cruddur")
    assert rds.exit_code == 2 and "IAM auth tokens" in rds.stderr


# ------------------------------------------------------------------ refusals on protected targets
def test_prod_stack_destructive_commands_refuse_without_force(cli, fake_pulumi):
    for command in ("drop", "reset", "kill-sessions"):
        result = cli("db", command, "-s", "prod", "--yes")
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: refusing to ") and "on stack prod: pass --force" in result.stderr
        assert result.stderr.count("\n") == 1


def test_prod_stack_with_force_needs_the_name_typed_back(cli, fake_pulumi):
    wrong = cli("db", "drop", "-s", "prod", "--force", input="cruddur_prod\n")
    assert wrong.exit_code == 2 and "does not match cruddur" in wrong.stderr
    wrong_flag = cli("db", "reset", "-s", "prod", "--force", "--confirm", "nope")
    assert wrong_flag.exit_code == 2 and "does not match cruddur" in wrong_flag.stderr
    # The right name passes the guard; then the (unreachable) RDS host fails with the tunnel hint.
    right = cli("db", "drop", "-s", "prod", "--force", "--confirm", "cruddur")
    assert right.exit_code == 2
    assert "cannot connect to postgresql://cruddur_admin:***@cruddur-prod-db" in right.stderr
    assert "--instance-connect-endpoint-id eice-0123456789abcdef0" in right.stderr
    typed = cli("db", "kill-sessions", "-s", "prod", "--force", input="cruddur\n")
    assert typed.exit_code == 2 and "cannot connect" in typed.stderr


def test_any_rds_host_is_protected(cli):
    url = f"postgresql://master:Rds-pass-123@{RDS_HOST}:5432/cruddur"
    for command in ("drop", "reset", "kill-sessions"):
        result = cli("db", command, "--url", url, "--yes")
        assert result.exit_code == 2 and f"on RDS host {RDS_HOST}: pass --force" in result.stderr
    seed = cli("db", "seed", "--url", url)
    assert seed.exit_code == 2 and "refusing to load dev/load data" in seed.stderr


def test_private_rds_connection_failure_explains_the_tunnel(cli, fake_pulumi):
    result = cli("db", "status", "-s", "dev")
    assert result.exit_code == 2
    line = result.stderr
    assert line.count("\n") == 1 and line.startswith("error: cannot connect to postgresql://cruddur_admin:***@")
    assert (f"aws ec2-instance-connect open-tunnel --instance-connect-endpoint-id eice-0123456789abcdef0 "
            f"--private-ip-address $(dig +short {RDS_HOST} | tail -n1) --remote-port 5432 --local-port 5432") in line
    assert "--tunnel-port 5432" in line


def test_tunnel_port_connects_through_localhost_keeping_the_rds_name(cli, pg_server, migrated_database_url):
    info = parse(migrated_database_url)
    # The RDS name does not resolve here: only hostaddr=127.0.0.1 (the tunnel) can make this work.
    # (Our test server has no TLS, so this test opts out of verify-full explicitly.)
    url = build_url(info.user, info.password, RDS_HOST, 5432, info.database, sslmode="disable")
    result = cli("db", "status", "--url", url, "--tunnel-port", str(pg_server.port))
    assert result.exit_code == 0, result.output
    assert f"via tunnel 127.0.0.1:{pg_server.port}" in result.stdout and f"{len(MIGRATIONS)} applied, 0 pending" in result.stdout
    closed = cli("db", "status", "--url", url, "--tunnel-port", "1")
    assert closed.exit_code == 2 and "Is the tunnel open on 127.0.0.1:1?" in closed.stderr


# ------------------------------------------------------------------ errors: one line, exit 2
@pytest.mark.parametrize("command", ["create", "drop", "migrate", "seed", "setup", "reset", "status", "sessions",
                                     "kill-sessions", "connect"])
def test_down_server_gives_one_line_and_exit_2(cli, down_database_url, command):
    result = cli("db", command, "--url", down_database_url, "--yes") if command in ("drop", "reset", "kill-sessions") else \
        cli("db", command, "--url", down_database_url)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "error: cannot connect to postgresql://postgres:***@127.0.0.1:" in result.stderr
    assert "connection refused: is the server running?" in result.stderr


def test_wrong_password_and_bad_urls(cli, pg_server, migrated_database_url):
    wrong = with_database(pg_server.admin_url(), parse(migrated_database_url).database).replace(
        pg_server.password, "definitely-wrong-pw")
    result = cli("db", "status", "--url", wrong)
    assert result.exit_code == 2 and "authentication failed (wrong user or password)" in result.stderr
    assert "definitely-wrong-pw" not in result.stderr
    for bad in ("mysql://u:secretpw1@h/db", "postgresql://u:secretpw1@h:port/db"):
        out = cli("db", "status", "--url", bad)
        assert out.exit_code == 2 and "secretpw1" not in out.stderr and out.stderr.startswith("error: not a")
    both = cli("db", "status", "--url", migrated_database_url, "-s", "dev")
    assert both.exit_code == 2 and "not both" in both.stderr


def test_unknown_stack_and_missing_pulumi(cli, fake_pulumi, monkeypatch, tmp_path):
    unknown = cli("db", "status", "-s", "nope")
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("error: stack nope does not exist") and "no stack named 'nope' found" in unknown.stderr
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    missing = cli("db", "status", "-s", "dev")
    assert missing.exit_code == 2 and "the pulumi CLI is not installed or not on PATH" in missing.stderr


def test_console_script_turns_errors_into_one_line(down_database_url, tmp_path):
    """The installed `cruddur` entry point (main()), not only the in-process app."""
    cruddur = Path(sys.executable).parent / "cruddur"
    env = {**os.environ, "CRUDDUR_LOCAL_DIR": str(tmp_path)}
    env.pop("CONNECTION_URL", None)
    result = subprocess.run([str(cruddur), "db", "migrate", "--url", down_database_url], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: cannot connect to postgresql://postgres:***@")
    assert "not-the-password-xyz" not in result.stderr
