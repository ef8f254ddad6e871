"""The ``cruddur`` runbook CLI: a thin root that mounts one module per command group.

Typer and Rich are used only under ``ops/cli/``; the libraries it drives (``ops.db``, ``ops.local``, ``ops.stack``,
``ops.offline``) take plain values and raise ``CruddurError``. To add commands, write a module with
``register(root: typer.Typer) -> None`` and list it in ``COMMAND_MODULES``.
Known errors (CruddurError, driver errors) become one line on stderr and exit code 2, never a traceback, and
never a password.
"""

from __future__ import annotations

import importlib
import sys

import typer
from typer.core import TyperGroup

from ops.errors import CruddurError
from ops.urls import scrub

# Each entry is a module exposing `register(root)`. Order = order in `cruddur --help`.
COMMAND_MODULES: list[str] = [
    "ops.cli.local",  # cruddur local up|down|status|destroy
    "ops.cli.db",  # cruddur db create|drop|migrate|seed|setup|reset|status|connect|sessions|kill-sessions|role-password
    "ops.cli.stack",  # cruddur stack env|wake|check
    "ops.cli.users",  # cruddur users sync
    "ops.cli.plan",  # cruddur plan STACK: the offline plan (resources, policy verdicts, monthly cost)
    "ops.cli.cost",  # cruddur cost estimate|diff: a stack's monthly cost, a pull request's change
    "ops.cli.prices",  # cruddur prices refresh: a region's price file from the AWS Price List Query API
]


def error_line(exc: BaseException) -> str:
    """The one line printed for a known error."""
    if isinstance(exc, CruddurError):
        return f"error: {scrub(exc.message)}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"error: {scrub(text)[:400]}"


def _known_errors() -> tuple[type[BaseException], ...]:
    known: list[type[BaseException]] = [CruddurError]
    try:
        import psycopg2

        known.append(psycopg2.Error)
    except ImportError:  # pragma: no cover
        pass
    try:
        from yoyo.exceptions import LockTimeout

        known.append(LockTimeout)
    except ImportError:  # pragma: no cover
        pass
    return tuple(known)


class CruddurGroup(TyperGroup):
    """Root group: turns known errors into one stderr line + exit 2 (also under typer.testing.CliRunner)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _known_errors() as exc:
            typer.echo(error_line(exc), err=True)
            raise typer.Exit(CruddurError.exit_code) from None
        except KeyboardInterrupt:  # Typer would exit 130 silently
            typer.echo("error: interrupted", err=True)
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=CruddurGroup,
    name="cruddur",
    help="Runbook CLI for Cruddur's PostgreSQL: local database, db lifecycle, stack env, user sync.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # never dump locals (they hold URLs with passwords)
    add_completion=False,
)

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    """Console-script entry point (``cruddur``)."""
    try:
        app(prog_name="cruddur")
    except _known_errors() as exc:  # raised outside a command (e.g. while parsing)
        print(error_line(exc), file=sys.stderr)
        sys.exit(CruddurError.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
