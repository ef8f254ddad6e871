"""``cruddur local up|down|status|destroy``: the local PostgreSQL (embedded, no Docker, no root)."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from ops import dotenv
from ops.cli.console import LocalDirOption, err, out, progress, step
from ops.cli.targets import LOCAL_DATABASE
from ops.db import databases, migrations, seed
from ops.db.target import DbTarget
from ops.errors import CruddurError
from ops.local import env as local_env
from ops.local import replicas as local_replicas
from ops.local.server import PORT_ENV, LocalServer
from ops.paths import env_file, local_root
from ops.urls import redact

app = typer.Typer(help="The local PostgreSQL server (data in .local/postgres, .env written).", no_args_is_help=True)

PortOption = Annotated[
    int | None,
    typer.Option("--port", envvar=PORT_ENV, show_envvar=True, show_default=False,
                 help="TCP port on 127.0.0.1 (default 54329, or the port the server was set up with)."),
]
ReplicasOption = Annotated[
    int,
    typer.Option("--replicas", metavar="N", show_default=False,
                 help=f"Streaming replicas to run next to the server (0 to {local_replicas.MAX_REPLICAS}, on the "
                      "ports after its own); .env gets READER_CONNECTION_URL (cruddur_app on replica 1). Omitted "
                      "or 0: existing replicas are stopped and deleted."),
]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="local")


def _server(local_dir: str | None, port: int | None = None) -> LocalServer:
    return LocalServer(local_root(local_dir), port)


@app.command()
def up(local_dir: LocalDirOption = None, port: PortOption = None, replicas: ReplicasOption = 0) -> None:
    """Start the local server (set up on first use), create database cruddur, migrate, seed, write .env
    (CONNECTION_URL: the app role cruddur_app; MASTER_CONNECTION_URL: the superuser, for operators); with
    --replicas N, N streaming replicas (READER_CONNECTION_URL)."""
    started = time.monotonic()
    if port is not None and not 1 <= port <= 65535:
        raise CruddurError(f"--port {port} is not a TCP port: choose one from 1 to 65535 (or omit --port)")
    local_replicas.check_count(replicas)
    server = _server(local_dir, port)
    with server.locked():  # a racing `local up` waits here, then finds the server this one set up
        if server.waited_for_lock:
            step("another `cruddur local up` was setting up the server; waited for it")
        _up(server, local_dir, port, replicas, started)


def _up(server: LocalServer, local_dir: str | None, port: int | None, replicas: int, started: float) -> None:
    running = server.running_port()
    if running and port and running != port:
        raise CruddurError(f"the local server is already running on port {running}; stop it first "
                           f"(cruddur local down) or omit --port")
    if server.pid() is None:
        server.check_port_free()
    for index in range(1, replicas + 1):  # before any work: a replica's port taken fails now, not half-way
        replica = local_replicas.LocalReplica(server, index)
        if replica.pid() is None:
            replica.check_port_free()
    if not server.initialized:
        step(f"initializing a new cluster in {server.data_dir}")
    done = server.ensure_running()
    if done["started"]:
        step(f"started PostgreSQL on 127.0.0.1:{server.port}")
    url = server.admin_url(LOCAL_DATABASE)
    target = DbTarget(url)
    if databases.create(target):
        step(f"created database {LOCAL_DATABASE}")
    applied = migrations.apply(target)
    if applied:
        step(f"applied migrations: {', '.join(applied)}")
    result = seed.seed(target)
    if result.users or result.activities:
        step(f"seeded {result.users} users, {result.activities} activities")
    running_replicas = _replicas(server, replicas)
    path = env_file(local_dir)
    update = local_env.write(path, target, running_replicas[0].port if running_replicas else None)
    if update.migrated:
        step(f"rewrote {path} from an older `cruddur local up`: CONNECTION_URL is now the app role cruddur_app, "
             f"the superuser's URL is {local_env.MASTER_URL}")
    if update.written or update.removed:
        changed = "; ".join(part for part in (", ".join(update.written),
                                              f"removed {', '.join(update.removed)}" if update.removed else "") if part)
        step(f"wrote {path} ({changed})")
    step(f"the app's CONNECTION_URL: {redact(update.app_url)}; operators: {local_env.MASTER_URL}")
    if running_replicas:  # the roles' passwords just set must have reached the replicas before anyone reads there
        local_replicas.wait_caught_up(server, running_replicas, on_caught_up=lambda r: step(
            f"replica {r.index} caught up with the server (port {r.port}, slot {r.slot})"))
        step(f"the app's {local_env.READER_URL}: "
             f"{redact(local_env.reader_url(update.app_url, running_replicas[0].port))}")
    out.print(f"local database ready: {target.shown}  ({time.monotonic() - started:.1f}s)")


def _replicas(server: LocalServer, count: int) -> list[local_replicas.LocalReplica]:
    """Replicas 1..count running (cloned with a progress bar on first use); any above count removed."""
    removed = local_replicas.remove_surplus(server, count)
    if removed:
        step(f"removed replica(s) {', '.join(map(str, removed))} (stopped, slot dropped, data deleted)")
    running = []
    for index in range(1, count + 1):
        replica = local_replicas.LocalReplica(server, index)
        if replica.initialized and replica.cloned_from_port != server.port:
            step(f"replica {index} follows port {replica.cloned_from_port}; cloning it again for port {server.port}")
        if not replica.initialized or replica.cloned_from_port != server.port:
            replica.check_port_free()  # before the copy: fail fast
            with progress() as bar:
                task = bar.add_task(f"cloning replica {index} (pg_basebackup, kB)", total=None)
                done = replica.ensure_running(lambda copied, total: bar.update(task, completed=copied, total=total))  # noqa: B023 - used within this iteration
        else:
            done = replica.ensure_running()
        if done["started"]:
            step(f"started replica {index} on 127.0.0.1:{replica.port} (data in {replica.data_dir})")
        running.append(replica)
    return running


@app.command()
def down(local_dir: LocalDirOption = None) -> None:
    """Stop the local server and its replicas (data is kept)."""
    server = _server(local_dir)
    for index in local_replicas.stop_all(server):
        out.print(f"stopped replica {index}")
    if server.stop():
        out.print(f"stopped the local server ({server.data_dir})")
    else:
        out.print("the local server is not running")


@app.command()
def status(local_dir: LocalDirOption = None) -> None:
    """Show the local server: URL (redacted), running, pid, port, data directory; each replica's state and lag."""
    server = _server(local_dir)
    st = server.status()
    table = Table(show_header=False, box=None)
    table.add_row("url", redact(server.admin_url(LOCAL_DATABASE)) if st.initialized else "(not set up: cruddur local up)")
    values = dotenv.read(env_file(local_dir))
    app_url = values.get(local_env.APP_URL)
    table.add_row("app url", redact(app_url) if app_url else "(not in .env: cruddur local up)")
    table.add_row("running", "yes" if st.running else "no")
    table.add_row("pid", str(st.pid) if st.pid else "-")
    table.add_row("port", str(st.port))
    table.add_row("data", str(st.data_dir))
    replica_states = local_replicas.statuses(server) if st.initialized else []
    if replica_states or values.get(local_env.READER_URL):
        reader = values.get(local_env.READER_URL)
        table.add_row("reader url", redact(reader) if reader else "(not in .env: cruddur local up --replicas N)")
    for r in replica_states:
        table.add_row(f"replica {r.index}", _replica_line(r))
    out.print(table)


def _replica_line(r: local_replicas.ReplicaStatus) -> str:
    running = f"running (pid {r.pid})" if r.running else "stopped"
    lag = "" if r.lag_bytes is None else f", lag {r.lag_bytes} bytes" + (
        f" ({r.replay_lag_s * 1000:.0f} ms)" if r.replay_lag_s is not None else "")
    return f"port {r.port}, {running}, {r.state}{lag}, data {r.data_dir}"


@app.command()
def destroy(
    local_dir: LocalDirOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Stop the local server and its replicas and delete their data and the password (asks first)."""
    server = _server(local_dir)
    if not server.base.exists():
        out.print("nothing to destroy")
        return
    if not yes:
        try:
            ok = typer.confirm(f"Delete the local database in {server.base} and all its data?", default=False)
        except typer.Abort:
            ok = False
        if not ok:
            raise CruddurError("not confirmed; nothing was deleted (pass --yes to skip the question)")
    server.destroy()
    path = env_file(local_dir)
    if path.exists():
        dotenv.merge(path, {}, remove=local_env.URL_VARIABLES)
    err.print(f"deleted {server.base}")
    out.print("local database destroyed")
