"""Run every command (happy paths and failures) and check the password appears nowhere in the output."""

from __future__ import annotations

from ops.local.server import free_port
from ops.urls import parse, with_database
from tests.ops.conftest import FAKE_APP_PASSWORD, FAKE_STACK_PASSWORD


def test_no_command_prints_a_password(cli, pg_server, empty_database_url, fake_pulumi, project_dir, secrets):
    url = empty_database_url
    missing_db = with_database(url, "t_does_not_exist_here")
    wrong_pw = url.replace(pg_server.password, "Wrong-Passw0rd-xyz")
    secrets.append("Wrong-Passw0rd-xyz")
    port_env = {"CRUDDUR_LOCAL_PORT": str(free_port())}
    commands = [
        ("local", "up"), ("local", "status"),
        ("db", "status"), ("db", "sessions"), ("db", "role-password", "cruddur_app"),
        ("db", "create", "--url", url), ("db", "setup", "--url", url), ("db", "migrate", "--url", url),
        ("db", "seed", "--url", url), ("db", "seed", "--url", url, "--users", "5", "--activities", "50"),
        ("db", "status", "--url", url), ("db", "sessions", "--url", url), ("db", "kill-sessions", "--url", url),
        ("db", "reset", "--url", url, "--yes"), ("db", "drop", "--url", url, "--yes"),
        ("db", "status", "--url", missing_db), ("db", "migrate", "--url", missing_db),
        ("db", "status", "--url", wrong_pw), ("db", "migrate", "--url", wrong_pw),
        ("db", "status", "--url", "postgresql://u:" + pg_server.password + "@127.0.0.1:notaport/x"),
        ("db", "status", "--url", url.replace("postgresql://", "mysql://")),
        ("db", "status", "-s", "dev"), ("db", "migrate", "-s", "dev"), ("db", "drop", "-s", "prod", "--yes"),
        ("db", "drop", "-s", "prod", "--force", "--confirm", "cruddur"),
        ("users", "sync", "-s", "dev", "--dry-run"),
        ("local", "down"), ("db", "status"), ("local", "destroy", "--yes"),
    ]
    results = [cli(*args, env=port_env) for args in commands[:1]]
    assert results[0].exit_code == 0, results[0].output
    local_passwords = [parse(line.split("=", 1)[1]).password
                       for line in (project_dir / ".env").read_text().splitlines() if "://" in line]
    assert len(local_passwords) == 3
    secrets.extend(local_passwords)
    results += [cli(*args, env=port_env) for args in commands[1:]]
    combined = "\n".join(r.stdout + r.stderr for r in results)
    assert secrets and all(s not in combined for s in secrets)
    assert pg_server.password not in combined and FAKE_STACK_PASSWORD not in combined
    assert FAKE_APP_PASSWORD not in combined
    assert combined.count(":***@") >= 10  # URLs were shown, redacted
    assert [r.exit_code for r in results].count(2) >= 10  # the failures failed cleanly
    assert all("Traceback" not in r.stderr for r in results)
    assert all(r.exception is None or isinstance(r.exception, SystemExit) for r in results)


def test_stack_env_keeps_the_secret_off_stderr(cli, fake_pulumi, secrets):
    secrets.remove(FAKE_APP_PASSWORD)
    result = cli("stack", "env", "-s", "dev")
    assert FAKE_APP_PASSWORD in result.stdout  # the purpose of the command: the app's own credentials
    assert FAKE_APP_PASSWORD not in result.stderr
    assert FAKE_STACK_PASSWORD not in result.stdout + result.stderr  # never the master's
