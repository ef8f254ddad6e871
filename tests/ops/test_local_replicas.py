"""`cruddur local up --replicas N` against real PostgreSQL: streaming replicas of the local server, caught up after a
write, serving the app's reads as cruddur_app through READER_CONNECTION_URL and refusing its writes with
PostgreSQL's own read-only error; `local status` / `down` / `destroy` and fewer replicas later.

One project for the module (`local up --replicas 2` in a fresh folder); the tests run in file order and the last
ones shrink and destroy it."""

from __future__ import annotations

import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg2
import psycopg2.errors
import pytest
from typer.testing import CliRunner

from ops import dotenv
from ops.cli import app as cruddur
from ops.local.server import LocalServer, free_port
from ops.urls import parse
from tests.conftest import server_dir
from tests.ops.test_local_env import table_row
from tests.sql import test_app_queries as backend  # the real backend's queries, reused as they are

READ_ONLY = "25006"


@dataclass
class Project:
    folder: Path
    port: int
    env: dict[str, str]

    def values(self) -> dict[str, str]:
        return dotenv.read(self.folder / ".env")

    @property
    def replica_root(self) -> Path:
        return self.folder / ".local" / "postgres"


@pytest.fixture(scope="module")
def project():
    folder = server_dir("cruddur-replicas-")
    env = {"CRUDDUR_LOCAL_DIR": str(folder), "CRUDDUR_LOCAL_PORT": str(free_port())}
    try:
        result = CliRunner().invoke(cruddur, ["local", "up", "--replicas", "2"], prog_name="cruddur", env={
            **env, "COLUMNS": "200", "CONNECTION_URL": None, "MASTER_CONNECTION_URL": None})
        assert result.exit_code == 0, result.output
        made = Project(folder, int(env["CRUDDUR_LOCAL_PORT"]), env)
        made.first_up = result
        yield made
    finally:
        LocalServer(folder / ".local").destroy()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def local_cli(cli, secrets, project):
    secrets.extend(parse(v).password for v in project.values().values() if v.startswith("postgresql://"))
    return lambda *args, env=None, **kw: cli(*args, env={**project.env, **(env or {})}, **kw)


def connect(url: str):
    conn = psycopg2.connect(url)
    conn.autocommit = True  # as the backend's pool commits each query
    return conn


def one(url: str, query: str, args=None):
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchone()
    finally:
        conn.close()


def replica_admin_url(project: Project, index: int) -> str:
    master = parse(project.values()["MASTER_CONNECTION_URL"])
    return f"postgresql://postgres:{master.password}@127.0.0.1:{project.port + index}/cruddur"


def caught_up(project: Project, index: int, timeout: float = 20) -> tuple[str, str]:
    """(the server's current WAL position, the replica's replay position) once they are equal (or at the
    timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        (primary,) = one(project.values()["MASTER_CONNECTION_URL"], "SELECT pg_current_wal_lsn()::text")
        (replayed,) = one(replica_admin_url(project, index), "SELECT pg_last_wal_replay_lsn()::text")
        if primary == replayed or time.monotonic() > deadline:
            return primary, replayed
        time.sleep(0.05)


def test_local_up_starts_replicas_and_writes_the_reader_url(project):
    up = project.first_up
    values = project.values()
    for value in values.values():
        if value.startswith("postgresql://"):
            assert parse(value).password not in up.stdout + up.stderr
    assert "cloning replica 1 (pg_basebackup, kB)" in up.stderr and "cloning replica 2" in up.stderr
    assert f"started replica 1 on 127.0.0.1:{project.port + 1}" in up.stderr
    assert f"started replica 2 on 127.0.0.1:{project.port + 2}" in up.stderr
    assert f"replica 2 caught up with the server (port {project.port + 2}, slot cruddur_replica_2)" in up.stderr
    assert (f"the app's READER_CONNECTION_URL: postgresql://cruddur_app:***@127.0.0.1:{project.port + 1}/cruddur"
            in up.stderr)

    reader, app = parse(values["READER_CONNECTION_URL"]), parse(values["CONNECTION_URL"])
    assert (reader.user, reader.password, reader.host, reader.port, reader.database) == (
        "cruddur_app", app.password, "127.0.0.1", project.port + 1, "cruddur")
    for index in (1, 2):
        data = project.replica_root / f"replica-{index}" / "data"
        assert (data / "standby.signal").exists() and (data / "PG_VERSION").exists()
        assert one(replica_admin_url(project, index), "SELECT pg_is_in_recovery(), current_setting('port')::int") == (
            True, project.port + index)
    slots = one(values["MASTER_CONNECTION_URL"],
                "SELECT array_agg(slot_name::text ORDER BY slot_name) FROM pg_replication_slots WHERE active")
    assert slots == (["cruddur_replica_1", "cruddur_replica_2"],)


def test_a_write_on_the_server_is_replayed_on_each_replica(project):
    values = project.values()
    conn = connect(values["CRUDDUR_CONFIRMATION_URL"])
    with conn.cursor() as cur:
        cur.execute("INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES "
                    "('Replica Check', 'replicacheck', 'replica@example.com', 'sub-replica-check')")
    conn.close()
    for index in (1, 2):
        primary, replayed = caught_up(project, index)
        assert replayed == primary
        assert one(replica_admin_url(project, index),
                   "SELECT handle FROM users WHERE cognito_user_id = 'sub-replica-check'") == ("replicacheck",)
    state = one(values["MASTER_CONNECTION_URL"],
                "SELECT array_agg(state || ':' || pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint "
                "ORDER BY application_name) FROM pg_stat_replication")
    assert state == (["streaming:0", "streaming:0"],)


def test_the_reader_serves_the_app_and_refuses_its_writes(project):
    conn = connect(project.values()["READER_CONNECTION_URL"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, pg_is_in_recovery(), count(*) FROM users")
            assert cur.fetchone() == ("cruddur_app", True, 4)  # the seed's 3 users and the one written above
            for statement in ("INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES "
                              "('No', 'nope', 'no@example.com', 'sub-no')",
                              "UPDATE users SET bio = 'no' WHERE handle = 'londo'",
                              "DELETE FROM activities"):
                with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction) as refused:
                    cur.execute(statement)
                verb = statement.split()[0]
                assert refused.value.pgcode == READ_ONLY
                assert refused.value.pgerror.splitlines()[0] == f"ERROR:  cannot execute {verb} in a read-only transaction"
    finally:
        conn.close()


def test_the_backend_read_queries_pass_through_the_reader_url(project):
    """The app writes through CONNECTION_URL (on the dev seed's users) and reads the same answers back through
    READER_CONNECTION_URL."""
    values = project.values()
    writer = connect(values["CONNECTION_URL"])
    with writer.cursor() as cur:
        cur.execute(backend.ACTIVITIES_CREATE, {"cognito_user_id": "mock-andrewbrown", "message": "Read me on a replica",
                                                "expires_at": None})
        (activity,) = cur.fetchone()
        cur.execute(backend.ACTIVITIES_REPLY, {"cognito_user_id": "mock-bayko", "message": "Replicated!",
                                               "reply_to_activity_uuid": str(activity)})
        cur.execute(backend.USERS_UPDATE, {"bio": "Cloud guy", "display_name": "Andrew B.",
                                           "cognito_user_id": "mock-andrewbrown"})
    assert caught_up(project, 1)[0] == caught_up(project, 1)[1]
    reads = [
        (backend.array_json(backend.ACTIVITIES_HOME), None),
        (backend.object_json(backend.ACTIVITIES_OBJECT), {"uuid": str(activity)}),
        (backend.array_json(backend.ACTIVITIES_SHOW), {"uuid": str(activity)}),
        (backend.USERS_SHOW, {"handle": "andrewbrown"}),
        (backend.object_json(backend.USERS_SHORT), {"handle": "andrewbrown"}),
        (backend.USERS_UUID_FROM_COGNITO_USER_ID, {"cognito_user_id": "mock-bayko"}),
        (backend.array_json(backend.USERS_CREATE_MESSAGE_USERS),
         {"user_sender_handle": "andrewbrown", "user_receiver_handle": "bayko"}),
    ]
    reader = connect(values["READER_CONNECTION_URL"])
    try:
        with reader.cursor() as on_reader, writer.cursor() as on_primary:
            on_reader.execute("SELECT current_user, pg_is_in_recovery()")
            assert on_reader.fetchone() == ("cruddur_app", True)
            for query, args in reads:
                on_reader.execute(query, args)
                on_primary.execute(query, args)
                assert on_reader.fetchall() == on_primary.fetchall()
            on_reader.execute(backend.array_json(backend.ACTIVITIES_HOME))
            home = on_reader.fetchone()[0]
            assert [(a["handle"], a["message"]) for a in home[:2]] == [("bayko", "Replicated!"),
                                                                       ("andrewbrown", "Read me on a replica")]
            on_reader.execute(backend.USERS_SHOW, {"handle": "andrewbrown"})
            profile, _ = on_reader.fetchone()
            assert (profile["display_name"], profile["bio"], profile["cruds_count"]) == ("Andrew B.", "Cloud guy", 2)
            for query, args in ((backend.ACTIVITIES_CREATE, {"cognito_user_id": "mock-andrewbrown", "message": "no",
                                                             "expires_at": None}),
                                (backend.USERS_UPDATE, {"bio": "no", "display_name": "no",
                                                        "cognito_user_id": "mock-andrewbrown"})):
                with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction) as refused:
                    on_reader.execute(query, args)
                assert refused.value.pgcode == READ_ONLY
    finally:
        reader.close()
        writer.close()


def test_status_shows_each_replica_with_its_state_and_lag(project, local_cli):
    caught_up(project, 2)
    status = local_cli("local", "status")
    assert status.exit_code == 0, status.output
    assert table_row(status.stdout, "reader") == ["url", f"postgresql://cruddur_app:***@127.0.0.1:{project.port + 1}/cruddur"]
    for index in (1, 2):
        row = next(line for line in status.stdout.splitlines() if line.split()[:2] == ["replica", str(index)])
        postmaster = (project.replica_root / f"replica-{index}" / "data" / "postmaster.pid").read_text().split()[0]
        assert f"port {project.port + index}, running (pid {postmaster}), " in row
        assert ", streaming, lag 0 bytes" in row
        assert str(project.replica_root / f"replica-{index}" / "data") in row


def test_down_stops_the_replicas_and_up_restarts_them_without_cloning(project, local_cli):
    down = local_cli("local", "down")
    assert down.exit_code == 0, down.output
    assert down.stdout.splitlines() == ["stopped replica 1", "stopped replica 2",
                                        f"stopped the local server ({project.replica_root / 'data'})"]
    status = local_cli("local", "status")
    replica_rows = [line.split(", ")[1:3] for line in status.stdout.splitlines() if line.split()[:1] == ["replica"]]
    assert replica_rows == [["stopped", "local server stopped"]] * 2
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(project.values()["READER_CONNECTION_URL"], connect_timeout=2)

    before = project.values()
    up = local_cli("local", "up", "--replicas", "2")
    assert up.exit_code == 0, up.output
    assert "cloning" not in up.stderr and "started replica 1" in up.stderr and "started replica 2" in up.stderr
    assert project.values() == before  # same passwords, same reader
    assert one(before["READER_CONNECTION_URL"], "SELECT current_user, pg_is_in_recovery()") == ("cruddur_app", True)


def test_fewer_replicas_later_removes_the_others_and_then_the_reader_url(project, local_cli):
    master = project.values()["MASTER_CONNECTION_URL"]
    one_left = local_cli("local", "up", "--replicas", "1")
    assert one_left.exit_code == 0, one_left.output
    assert "removed replica(s) 2 (stopped, slot dropped, data deleted)" in one_left.stderr
    assert not (project.replica_root / "replica-2").exists()
    assert one(master, "SELECT array_agg(slot_name::text) FROM pg_replication_slots") == (["cruddur_replica_1"],)
    assert parse(project.values()["READER_CONNECTION_URL"]).port == project.port + 1

    none_left = local_cli("local", "up")  # --replicas omitted: no replicas
    assert none_left.exit_code == 0, none_left.output
    assert "removed replica(s) 1" in none_left.stderr and "removed READER_CONNECTION_URL" in none_left.stderr
    assert "READER_CONNECTION_URL" not in project.values()
    assert not list(project.replica_root.glob("replica-*"))
    assert one(master, "SELECT count(*) FROM pg_replication_slots") == (0,)
    status = local_cli("local", "status")
    assert [line.split()[0] for line in status.stdout.splitlines()] == ["url", "app", "running", "pid", "port", "data"]


def test_destroy_stops_the_replicas_and_removes_the_reader_url(project, local_cli):
    assert local_cli("local", "up", "--replicas", "1").exit_code == 0
    assert one(project.values()["READER_CONNECTION_URL"], "SELECT pg_is_in_recovery()") == (True,)
    postmaster = int((project.replica_root / "replica-1" / "data" / "postmaster.pid").read_text().split()[0])
    gone = local_cli("local", "destroy", "--yes")
    assert gone.exit_code == 0, gone.output
    assert not project.replica_root.exists() and "READER_CONNECTION_URL" not in project.values()
    assert _gone(postmaster)  # the replica's server was stopped, not orphaned


def _gone(pid: int) -> bool:
    """True when no process ``pid`` runs (a zombie waiting for its parent to reap it has stopped)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("count", ["-1", "6"])
def test_a_replica_count_out_of_range_is_refused(cli, count):
    result = cli("local", "up", "--replicas", count)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (f"error: --replicas {count} is not a replica count: choose 0 to 5 (0 or no --replicas "
                             "stops and deletes the local replicas)\n")


def test_a_replica_port_taken_by_another_program_is_refused_before_any_work(cli, project_dir):
    for _ in range(20):  # two free ports in a row: the server's, and replica 1's taken by a squatter
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        break
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port + 1))
        squatter.listen()
        result = cli("local", "up", "--port", str(port), "--replicas", "1")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: port {port + 1} on 127.0.0.1 (replica 1: the local server's port + 1) is already in use by another "
        "program; free it, or move the local server with --port or CRUDDUR_LOCAL_PORT (its replicas take the ports "
        "after it)\n")
    assert not (project_dir / ".local" / "postgres").exists()
