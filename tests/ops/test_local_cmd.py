"""`cruddur local up|status|down|destroy` end to end in a temp project folder (CRUDDUR_LOCAL_DIR)."""

from __future__ import annotations

import socket
import stat
import time

import psycopg2
import pytest

from ops.local.server import LocalServer, free_port
from ops.paths import MIGRATIONS_DIR
from ops.urls import parse

MIGRATION_IDS = sorted(path.stem for path in MIGRATIONS_DIR.glob("*.sql"))


def read_env(path):
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_local_up_warm_up_status_down_destroy(cli, project_dir, secrets):
    port = free_port()
    env = {"CRUDDUR_LOCAL_PORT": str(port)}
    try:
        cold = cli("local", "up", env=env)
        assert cold.exit_code == 0, cold.output
        assert f"local database ready: postgresql://postgres:***@127.0.0.1:{port}/cruddur" in cold.stdout
        assert f"applied migrations: {', '.join(MIGRATION_IDS)}" in cold.stderr
        assert "seeded 3 users, 4 activities" in cold.stderr

        dotenv = project_dir / ".env"
        values = read_env(dotenv)
        secrets.extend(parse(v).password for v in values.values() if v.startswith("postgresql://"))
        assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
        password_file = project_dir / ".local" / "postgres" / "password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        master, app = parse(values["MASTER_CONNECTION_URL"]), parse(values["CONNECTION_URL"])
        assert (master.user, master.password, master.port) == ("postgres", password_file.read_text().strip(), port)
        assert (app.user, app.host, app.port, app.database) == ("cruddur_app", "127.0.0.1", port, "cruddur")
        assert app.password and app.password != master.password

        conn = psycopg2.connect(values["CONNECTION_URL"])  # the app's own role reads the seed
        with conn, conn.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone() == ("cruddur_app",)
            cur.execute("SELECT handle FROM users ORDER BY handle")
            assert [r[0] for r in cur.fetchall()] == ["andrewbrown", "bayko", "londo"]
            cur.execute("SHOW password_encryption")
            assert cur.fetchone()[0] == "scram-sha-256"
        conn.close()
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            psycopg2.connect(host="127.0.0.1", port=port, user="postgres", password="wrong", dbname="cruddur")
        confirmation = psycopg2.connect(values["CRUDDUR_CONFIRMATION_URL"])
        with confirmation, confirmation.cursor() as cur:
            cur.execute("SELECT current_user, count(*) FROM users GROUP BY 1")
            assert cur.fetchone() == ("cruddur_confirmation", 3)
        confirmation.close()

        started = time.monotonic()
        warm = cli("local", "up", env=env)
        elapsed = time.monotonic() - started
        assert warm.exit_code == 0, warm.output
        assert elapsed < 3, f"warm up took {elapsed:.1f}s"
        assert "initializing" not in warm.stderr and "applied" not in warm.stderr and "seeded" not in warm.stderr
        assert read_env(dotenv) == values  # role passwords kept, nothing rewritten

        status = cli("local", "status", env=env)
        assert status.exit_code == 0
        assert f"postgresql://postgres:***@127.0.0.1:{port}/cruddur" in status.stdout
        assert f"app url  postgresql://cruddur_app:***@127.0.0.1:{port}/cruddur" in status.stdout
        assert "running  yes" in status.stdout and str(project_dir / ".local" / "postgres" / "data") in status.stdout

        db_status = cli("db", "status")  # default target: the local database
        assert db_status.exit_code == 0, db_status.output
        assert f"{len(list(MIGRATIONS_DIR.glob('*.sql')))} applied, 0 pending" in db_status.stdout
        assert "users 3, activities 4" in db_status.stdout

        down = cli("local", "down", env=env)
        assert down.exit_code == 0 and "stopped the local server" in down.stdout
        assert "running  no" in cli("local", "status", env=env).stdout
        stopped = cli("db", "status")
        assert stopped.exit_code == 2 and stopped.stderr == "error: the local server is stopped: run `cruddur local up`\n"

        again = cli("local", "up", env=env)  # restart keeps the data
        assert again.exit_code == 0 and "started PostgreSQL" in again.stderr and "seeded" not in again.stderr

        refused = cli("local", "destroy", input="n\n", env=env)
        assert refused.exit_code == 2 and "nothing was deleted" in refused.stderr
        assert password_file.exists()
    finally:
        gone = cli("local", "destroy", "--yes", env=env)
    assert gone.exit_code == 0, gone.output
    assert not (project_dir / ".local" / "postgres").exists()
    left = read_env(project_dir / ".env")
    assert not {"CONNECTION_URL", "MASTER_CONNECTION_URL", "CRUDDUR_CONFIRMATION_URL"} & set(left)
    assert not any(secret in (project_dir / ".env").read_text() for secret in secrets)
    assert cli("local", "status", env=env).stdout.count("not set up") == 1


def test_local_up_refuses_a_port_taken_by_another_program(cli, project_dir):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = cli("local", "up", "--port", str(port))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: port {port} on 127.0.0.1 is already in use by another program; choose another port with "
        "--port or CRUDDUR_LOCAL_PORT\n"
    )
    LocalServer(project_dir / ".local").destroy()


def test_local_commands_before_setup(cli):
    assert cli("local", "down").stdout == "the local server is not running\n"
    assert cli("local", "destroy", "--yes").stdout == "nothing to destroy\n"
    result = cli("db", "migrate")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no local database in ") and "run `cruddur local up`" in result.stderr
