"""Shared Rich consoles and options for the CLI modules. Both consoles follow sys.stdout / sys.stderr at
print time, so tests capturing output (CliRunner, capsys) see everything."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def progress() -> Progress:
    """A progress display on stderr (plain lines when stderr is not a terminal)."""
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=False,
    )


def step(message: str) -> None:
    err.print(f"[dim]•[/dim] {message}")


# ------------------------------------------------------------ common options (reuse in every command module)
UrlOption = Annotated[
    str | None,
    typer.Option("--url", envvar="CONNECTION_URL", show_envvar=True, show_default=False,
                 help="Target database URL (default: the local database from `cruddur local up`)."),
]
StackOption = Annotated[
    str | None,
    typer.Option("--stack", "-s", show_default=False, help="Target a Pulumi stack's database (its connectionUrl output)."),
]
TunnelOption = Annotated[
    int | None,
    typer.Option("--tunnel-port", show_default=False,
                 help="Connect through a local EC2 Instance Connect tunnel on this port (TLS still verifies the RDS host)."),
]
LocalDirOption = Annotated[
    str | None,
    typer.Option("--local-dir", envvar="CRUDDUR_LOCAL_DIR", show_envvar=True, show_default=False,
                 help="Project folder holding .local/ and .env (default: the project root)."),
]
