"""``cruddur stack env``: the app's environment variables from a stack's outputs and its app secret.
``cruddur stack wake``: start a stack's stopped database and wait until it is available."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ops.cli.console import err, out, step
from ops.errors import CruddurError
from ops.stack import wake as waking
from ops.stack.app_env import FORMATS, RDS_CA_BUNDLE, app_env, render
from ops.stack.outputs import fetch

app = typer.Typer(help="A deployed stack: the app's variables from its outputs; wake its stopped database.",
                  no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="stack")


def stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


@app.command()
def env(
    stack: Annotated[str, typer.Option("--stack", "-s", help="The Pulumi stack, e.g. dev.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}.")] = "dotenv",
    ca_bundle: Annotated[str, typer.Option(
        "--ca-bundle", show_default=False,
        help="PGSSLROOTCERT: the RDS CA bundle's path where the app runs (e.g. in its container); "
             "default: lambda/post_confirmation/global-bundle.pem in this checkout.")] = str(RDS_CA_BUNDLE),
) -> None:
    """Print the app's variables (CONNECTION_URL from the app secret's current value, never the master's;
    PGSSLROOTCERT; Cognito ids; region) for a stack: the names `cruddur local up` writes to .env
    (docs/environment.md). Contains a secret: redirect into a file, e.g. `cruddur stack env -s dev > .env.dev`."""
    if fmt not in FORMATS:
        raise CruddurError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    values = app_env(fetch(stack), stack, ca_bundle)
    if stdout_is_tty():
        err.print("[yellow]warning:[/yellow] CONNECTION_URL contains a password; redirect stdout into a file "
                  "instead of showing it on screen")
    sys.stdout.write(render(values, fmt))


@app.command()
def wake(
    stack: Annotated[str, typer.Option("--stack", "-s", help="The Pulumi stack, e.g. dev.")],
    timeout: Annotated[int, typer.Option(
        "--timeout", min=1, help="Minutes to wait for `available` before giving up (RDS goes on starting it).",
    )] = waking.DEFAULT_TIMEOUT_MINUTES,
) -> None:
    """Start the stack's database if it is stopped (a dev stack's dbRunSchedule stops it outside its hours) and wait
    until it is available, showing each status change; one already available is left alone. A start takes a few
    minutes (runbooks/dev-schedule.md)."""
    db = waking.instance(fetch(stack), stack)
    # The spinner and the running time show on a terminal only; each status change is also a line of its own.
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                  transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(f"{db.identifier}: reading its status", total=None)

        header = [f"stack {stack}: database {db.identifier} in {db.region}"]  # shown with the first status

        def show(status: str, elapsed: float) -> None:
            if header:
                step(header.pop())
            bar.console.print(f"[dim]{waking.duration(elapsed)}[/dim] {db.identifier}: {status}")
            bar.update(task, description=f"{db.identifier}: {status}")

        def started(elapsed: float) -> None:
            bar.console.print(f"[dim]{waking.duration(elapsed)}[/dim] {db.identifier}: start requested")

        woken = waking.wake(waking.client(db.region), db, timeout=timeout * 60, on_status=show, on_start=started)
    if woken.found in waking.READY:
        out.print(f"stack {stack}'s database {db.identifier} is already {woken.status}: nothing to start")
    else:
        out.print(f"stack {stack}'s database {db.identifier} is {woken.status} after "
                  f"{waking.duration(woken.elapsed)} (it was {woken.found})")
