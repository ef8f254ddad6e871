"""``cruddur local up|down|status|destroy``: the local PostgreSQL (embedded, no Docker, no root)."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from ops import dotenv
from ops.cli.console import LocalDirOption, err, out, step
from ops.cli.targets import LOCAL_DATABASE
from ops.db import databases, migrations, seed
from ops.db.target import DbTarget
from ops.errors import CruddurError
from ops.local import env as local_env
from ops.local.server import PORT_ENV, LocalServer
from ops.paths import env_file, local_root
from ops.urls import redact

app = typer.Typer(help="The local PostgreSQL server (data in .local/postgres, .env written).", no_args_is_help=True)

PortOption = Annotated[
    int | None,
    typer.Option("--port", envvar=PORT_ENV, show_envvar=True, show_default=False,
                 help="TCP port on 127.0.0.1 (default 54329, or the port the server was set up with)."),
]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="local")


def _server(local_dir: str | None, port: int | None = None) -> LocalServer:
    return LocalServer(local_root(local_dir), port)


@app.command()
def up(local_dir: LocalDirOption = None, port: PortOption = None) -> None:
    """Start the local server (set up on first use), create database cruddur, migrate, seed, write .env
    (CONNECTION_URL: the app role cruddur_app; MASTER_CONNECTION_URL: the superuser, for operators)."""
    started = time.monotonic()
    if port is not None and not 1 <= port <= 65535:
        raise CruddurError(f"--port {port} is not a TCP port: choose one from 1 to 65535 (or omit --port)")
    server = _server(local_dir, port)
    with server.locked():  # a racing `local up` waits here, then finds the server this one set up
        if server.waited_for_lock:
            step("another `cruddur local up` was setting up the server; waited for it")
        _up(server, local_dir, port, started)


def _up(server: LocalServer, local_dir: str | None, port: int | None, started: float) -> None:
    running = server.running_port()
    if running and port and running != port:
        raise CruddurError(f"the local server is already running on port {running}; stop it first "
                           f"(cruddur local down) or omit --port")
    if server.pid() is None:
        server.check_port_free()
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
    path = env_file(local_dir)
    update = local_env.write(path, target)
    if update.migrated:
        step(f"rewrote {path} from an older `cruddur local up`: CONNECTION_URL is now the app role cruddur_app, "
             f"the superuser's URL is {local_env.MASTER_URL}")
    if update.written or update.removed:
        changed = ", ".join(update.written) + (f"; removed {', '.join(update.removed)}" if update.removed else "")
        step(f"wrote {path} ({changed})")
    step(f"the app's CONNECTION_URL: {redact(update.app_url)}; operators: {local_env.MASTER_URL}")
    out.print(f"local database ready: {target.shown}  ({time.monotonic() - started:.1f}s)")


@app.command()
def down(local_dir: LocalDirOption = None) -> None:
    """Stop the local server (data is kept)."""
    server = _server(local_dir)
    if server.stop():
        out.print(f"stopped the local server ({server.data_dir})")
    else:
        out.print("the local server is not running")


@app.command()
def status(local_dir: LocalDirOption = None) -> None:
    """Show the local server: URL (redacted), running, pid, port, data directory."""
    server = _server(local_dir)
    st = server.status()
    table = Table(show_header=False, box=None)
    table.add_row("url", redact(server.admin_url(LOCAL_DATABASE)) if st.initialized else "(not set up: cruddur local up)")
    app_url = dotenv.read(env_file(local_dir)).get(local_env.APP_URL)
    table.add_row("app url", redact(app_url) if app_url else "(not in .env: cruddur local up)")
    table.add_row("running", "yes" if st.running else "no")
    table.add_row("pid", str(st.pid) if st.pid else "-")
    table.add_row("port", str(st.port))
    table.add_row("data", str(st.data_dir))
    out.print(table)


@app.command()
def destroy(
    local_dir: LocalDirOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Stop the local server and delete its data and password (asks first)."""
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
