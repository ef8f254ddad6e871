"""Shared Rich consoles and options for the CLI modules. Both consoles follow sys.stdout / sys.stderr at
print time, so tests capturing output (CliRunner, capsys) see everything."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console, ConsoleDimensions
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ops.paths import LOCAL_DIR_ENV

NON_TERMINAL_WIDTH = 200  # redirected output (files, pipes, tests): never cut values short


class _Console(Console):
    """A terminal gets its real width; anything else gets $COLUMNS or a wide default, read at print time."""

    @property
    def size(self) -> ConsoleDimensions:
        if self.is_terminal:
            return super().size
        columns = os.environ.get("COLUMNS", "")
        return ConsoleDimensions(int(columns) if columns.isdigit() else NON_TERMINAL_WIDTH, 25)

    @size.setter
    def size(self, new_size) -> None:  # pragma: no cover - kept for Rich's API
        self._width, self._height = new_size


out = _Console(highlight=False, soft_wrap=True)
err = _Console(stderr=True, highlight=False, soft_wrap=True)


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
    typer.Option("--url", envvar="MASTER_CONNECTION_URL", show_envvar=True, show_default=False,
                 help="Target database URL (default: the local database from `cruddur local up`)."),
]
StackOption = Annotated[
    str | None,
    typer.Option("--stack", "-s", show_default=False,
                 help="Target a Pulumi stack's database as the master user (the master secret's current value, read from "
                      "Secrets Manager)."),
]
TunnelOption = Annotated[
    int | None,
    typer.Option("--tunnel-port", show_default=False,
                 help="Connect through a local EC2 Instance Connect tunnel on this port (TLS still verifies the RDS host)."),
]
LocalDirOption = Annotated[
    str | None,
    typer.Option("--local-dir", envvar=LOCAL_DIR_ENV, show_envvar=True, show_default=False,
                 help="Project folder holding .local/ and .env (default: the project root)."),
]
