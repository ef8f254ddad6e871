"""Every `cruddur ... --help` screen is exactly the one captured before `ops/` was split into sub-packages
(tests/ops/fixtures/cli-help.json, 120 columns). A change to a command's options or help text shows up here: update
the fixture on purpose, in the same commit."""

from __future__ import annotations

import json

import pytest
import typer.main
import typer.rich_utils
from typer.testing import CliRunner

from ops.cli import app
from tests.ops.conftest import FIXTURES

HELP = json.loads((FIXTURES / "cli-help.json").read_text())
# Variables that would switch Rich/Typer to a terminal with colours or another width (CI sets some of them).
CLEAN_ENV = {"COLUMNS": "120", "LINES": None, "FORCE_COLOR": None, "PY_COLORS": None, "NO_COLOR": None,
             "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None, "GITHUB_ACTIONS": None, "TERMINAL_WIDTH": None}


def command_paths(command, prefix: tuple[str, ...] = ()):
    yield prefix
    for name in sorted(getattr(command, "commands", {})):
        yield from command_paths(command.commands[name], (*prefix, name))


def test_every_command_has_a_captured_help_screen():
    paths = {" ".join(p) for p in command_paths(typer.main.get_command(app))}
    assert paths == set(HELP)
    assert len(paths) == 31  # cruddur, 7 groups/commands at the root, 23 subcommands


@pytest.mark.parametrize("path", sorted(HELP), ids=lambda p: p or "cruddur")
def test_help_is_unchanged(path, monkeypatch):
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", None)  # TERMINAL_WIDTH as read when typer was imported
    monkeypatch.setattr(typer.rich_utils, "FORCE_TERMINAL", None)  # GITHUB_ACTIONS / FORCE_COLOR at import time
    result = CliRunner().invoke(app, [*path.split(), "--help"], env=CLEAN_ENV, prog_name="cruddur")
    assert result.exit_code == 0, result.output
    assert result.stdout == HELP[path]
