"""CLI helpers for the ops tests.

``cli(*args, input=None, env=None)`` runs ``cruddur`` in-process (typer.testing.CliRunner) with a clean
environment (no CONNECTION_URL, CRUDDUR_LOCAL_DIR pointing to an empty temp project, wide terminal), and
asserts that no known password appears in its stdout or stderr. ``secrets`` lists those passwords; tests add
theirs with ``secrets.append(...)``.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ops.cli import app

FIXTURES = Path(__file__).parent / "fixtures"
RECORDED_OUTPUTS = FIXTURES / "stack-output-dev.json"
FAKE_STACK_PASSWORD = "Fake-Passw0rd_for.tests~only"  # the master password inside the recorded outputs (fake)
FAKE_APP_PASSWORD = "Fake-App-Passw0rd_for.tests~only"  # cruddur_app's password inside the recorded outputs (fake)


@pytest.fixture
def secrets(pg_server) -> list[str]:
    return [pg_server.password, FAKE_STACK_PASSWORD, FAKE_APP_PASSWORD, "not-the-password-xyz"]


@pytest.fixture
def project_dir():
    """An empty project folder (CRUDDUR_LOCAL_DIR) for `cruddur local ...`; outside tmp_path, see server_dir."""
    from tests.conftest import server_dir

    folder = server_dir("cruddur-project-")
    yield folder
    from ops.local.server import LocalServer

    LocalServer(folder / ".local").destroy()  # a test that failed half-way must not leave a server running
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def cli(secrets, project_dir, monkeypatch):
    runner = CliRunner()
    results = []
    monkeypatch.delenv("CONNECTION_URL", raising=False)
    monkeypatch.delenv("CRUDDUR_LOCAL_PORT", raising=False)
    monkeypatch.delenv("AWS_COGNITO_USER_POOL_ID", raising=False)

    def run(*args: str, input: str | None = None, env: dict | None = None):
        full_env = {"CRUDDUR_LOCAL_DIR": str(project_dir), "COLUMNS": "200", "CONNECTION_URL": None, **(env or {})}
        result = runner.invoke(app, list(args), input=input, env=full_env, prog_name="cruddur")
        for secret in secrets:
            assert secret not in result.stdout, f"password leaked on stdout of {args}"
            assert secret not in result.stderr, f"password leaked on stderr of {args}"
        results.append(result)
        return result

    run.results = results
    return run


@pytest.fixture
def fake_pulumi(tmp_path: Path, monkeypatch) -> Path:
    """Put a fake `pulumi` first on PATH: `stack output --json --show-secrets --stack dev|prod` prints the
    recorded document (prod: same outputs, prod names); other stacks fail like the real CLI."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "pulumi"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, sys
        args = sys.argv[1:]
        stack = args[args.index("--stack") + 1]
        assert args[:4] == ["stack", "output", "--json", "--show-secrets"], args
        doc = json.loads(open({str(RECORDED_OUTPUTS)!r}).read())
        if stack == "prod":
            doc = {{k: (v.replace("dev", "prod") if isinstance(v, str) else v) for k, v in doc.items()}}
        elif stack != "dev":
            sys.stderr.write(f"error: no stack named '{{stack}}' found\\n")
            sys.exit(255)
        print(json.dumps(doc, indent=2))
        """))
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return script
