"""The ``cruddur`` runbook CLI: a thin root that mounts one module per command group.

Typer and Rich are used only under ``ops/cli/``; the libraries it drives (``ops.db``, ``ops.local``, ``ops.stack``,
``ops.offline``) take plain values and raise ``CruddurError``. To add commands, write a module with
``register(root: typer.Typer) -> None`` and list it in ``COMMAND_MODULES``.
Known errors (CruddurError, driver errors) become one line on stderr and exit code 2, never a traceback, and
never a password.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import sys
from collections.abc import Iterator

import typer
from typer._click.exceptions import ClickException  # typer vendors click
from typer.core import TyperGroup

from ops.errors import CruddurError
from ops.urls import redact, scrub

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


class _RedactedLines(io.TextIOBase):
    """stderr as the CLI writes it: each line through ``redact`` (a URL's password, ``password=`` values, SQL
    PASSWORD literals), and characters the terminal's encoding cannot take (bytes that were not UTF-8 in the
    arguments) escaped instead of failing mid-line."""

    def __init__(self, stream):
        super().__init__()
        self._stream, self._pending = stream, ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            lines, _, self._pending = self._pending.rpartition("\n")
            self._emit(lines + "\n")
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = ""
        self._stream.flush()

    def _emit(self, text: str) -> None:
        encoding = getattr(self._stream, "encoding", None) or "utf-8"
        shown = redact(text).encode(encoding, "backslashreplace").decode(encoding)
        self._stream.write(shown)

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"


@contextlib.contextmanager
def _redacted_stderr() -> Iterator[None]:
    original = sys.stderr
    sys.stderr = wrapper = _RedactedLines(original)
    try:
        yield
    finally:
        wrapper.flush()
        sys.stderr = original


# user:password@host without a scheme, as an argument may be given: the part after the colon is masked.
_USERINFO = re.compile(r"(?P<head>[^\s:/@'\"(]+:)[^\s@]*(?=@)")


def _scrubbed(exc: ClickException) -> ClickException:
    """A usage error as Click shows it, without a password: it quotes the offending argument (a URL given where a
    stack name or nothing is expected), and Rich may wrap it over lines where no line-wise redaction finds it."""
    exc.message = _USERINFO.sub(lambda m: f"{m['head']}***", scrub(exc.message))
    return exc


class CruddurGroup(TyperGroup):
    """Root group: turns known errors into one stderr line + exit 2 (also under typer.testing.CliRunner); no
    password reaches stderr, whatever the arguments (``_RedactedLines``, ``_scrubbed``)."""

    def main(self, *args, **kwargs):
        with _redacted_stderr():
            return super().main(*args, **kwargs)

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except ClickException as exc:
            raise _scrubbed(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ClickException as exc:
            raise _scrubbed(exc) from None
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
