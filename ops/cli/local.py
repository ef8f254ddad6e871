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
from ops.db.roles import set_role_password
from ops.db.target import DbTarget
from ops.errors import CruddurError
from ops.local.server import PORT_ENV, LocalServer
from ops.paths import env_file, local_root
from ops.urls import redact

app = typer.Typer(help="The local PostgreSQL server (data in .local/postgres, .env written).", no_args_is_help=True)

ROLE_ENV_VARS = {"cruddur_app": "CRUDDUR_APP_URL", "cruddur_confirmation": "CRUDDUR_CONFIRMATION_URL"}
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
    """Start the local server (set up on first use), create database cruddur, migrate, seed, write .env."""
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
    existing = dotenv.read_raw(path)
    values = {"CONNECTION_URL": url}
    for role, var in ROLE_ENV_VARS.items():
        # A role password is set once (roles are cluster-wide); a warm `up` keeps the existing one.
        if f":{server.port}/" not in existing.get(var, ""):
            values[var] = set_role_password(target, role)
    if existing.get("CONNECTION_URL") != url or len(values) > 1:
        dotenv.merge(path, values)
        step(f"wrote {path} (CONNECTION_URL, {', '.join(ROLE_ENV_VARS.values())})")
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
        dotenv.merge(path, {}, remove=("CONNECTION_URL", *ROLE_ENV_VARS.values()))
    err.print(f"deleted {server.base}")
    out.print("local database destroyed")
