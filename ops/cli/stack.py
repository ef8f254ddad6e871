"""``cruddur stack env``: the app's environment variables from a stack's outputs and its app secret."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ops.cli.console import err
from ops.errors import CruddurError
from ops.stack.app_env import FORMATS, RDS_CA_BUNDLE, app_env, render
from ops.stack.outputs import fetch

app = typer.Typer(help="Read a Pulumi stack's outputs.", no_args_is_help=True)


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
