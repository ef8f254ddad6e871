"""Run every command (happy paths and failures) and check the password appears nowhere in the output."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2
import pytest

from ops.local.server import free_port
from ops.urls import parse, redact, with_database
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
        ("db", "status", "--url", url), ("db", "sessions", "--url", url), ("db", "kill-sessions", "--url", url, "--yes"),
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


# -- a password in an unexpected place or spelling ------------------------------------------------------------------
LEAKY = "Sekr3t-Passw0rd-xyz"


@pytest.mark.parametrize("args", [
    ("db", "status", f"postgresql://u:{LEAKY}@127.0.0.1:5999/x"),              # where no argument is expected
    ("db", "sessions", f"u:{LEAKY}@127.0.0.1"),                                 # the same, without a scheme
    ("db", "status", "-s", f"postgresql://u:{LEAKY}@127.0.0.1:5999/x"),        # where a stack name is expected
    ("plan", f"postgresql://u:{LEAKY}@h/x"),
    ("plan", "-s", f"postgresql://u:{LEAKY}@h/x"),
    ("cost", "estimate", f"postgresql://u:{LEAKY}@h/x"),
    ("users", "sync", "-s", f"postgresql://u:{LEAKY}@h/x", "--dry-run"),
    ("postgresql://u:" + LEAKY + "@h/x",),
    ("db", "status", "--url", f"postgresql://h:5999/x?pass%77ord={LEAKY}"),    # a percent-encoded key
    ("db", "status", "--url", f"postgresql://h:5999/x?%70assword={LEAKY}"),
    ("db", "status", "--url", f"postgresql://h:5999/x?password%3D{LEAKY}"),
    ("db", "status", "--url", f"postgresql://h:5999/x?PassWord={LEAKY}"),
    ("db", "status", "--url", f"postgresql://u:{LEAKY}%FF@h:5999/x"),          # percent-encoded bytes, not UTF-8
    ("db", "status", "--url", f"postgresql://u:{LEAKY}\udcff@h:5999/x"),       # argument bytes, not UTF-8
    ("db", "status", "--url", f"postgresql://u:{LEAKY}@h/x?port=5432x"),       # a malformed port in the query
    ("db", "status", "--url", f"postgresql://u@h/x?port=&password={LEAKY}"),
    ("db", "status", "--url", f"postgresql://u@h/x?port=99999&password={LEAKY}"),
    ("db", "status", "--url", f"host=h password={LEAKY} port=abc"),
])
def test_a_password_given_anywhere_is_never_shown(cli, secrets, args):
    secrets.append(LEAKY)  # the cli fixture asserts it is on neither stream
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr and (result.exception is None or isinstance(result.exception, SystemExit))


def test_the_console_script_takes_argument_bytes_that_are_not_utf8(tmp_path):
    cruddur = Path(sys.executable).with_name("cruddur")
    result = subprocess.run([cruddur, "db", "status", "--url", b"postgresql://u:" + LEAKY.encode() + b"\xff@h:5999/x"],
                            capture_output=True, timeout=60, env={**os.environ, "CRUDDUR_LOCAL_DIR": str(tmp_path)},
                            check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and LEAKY.encode() not in output and b"Traceback" not in output
    assert result.stderr.startswith(b"error: not a valid connection URL (it holds bytes that are not UTF-8 text")


# -- other sessions' statements that set a password, whatever the literal's quoting -----------------------------------
@pytest.mark.parametrize("statement", [
    "ALTER ROLE {role} PASSWORD $${pw}$$",
    "ALTER ROLE {role} WITH PASSWORD $secret${pw}$secret$ VALID UNTIL 'infinity'",
    "ALTER ROLE {role} PASSWORD E'{pw}\\\\x'",
    "ALTER ROLE {role} PASSWORD U&'{pw}'",
    "ALTER ROLE {role} ENCRYPTED PASSWORD /* why not */\n'{pw}'",
    "alter role {role} password '{pw}'",
])
def test_other_sessions_setting_a_password_are_shown_without_it(cli, secrets, pg_server, migrated_database_url,
                                                                  statement):
    role = f"leak_{uuid.uuid4().hex[:8]}"
    secrets.append(LEAKY)
    admin = psycopg2.connect(pg_server.admin_url())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE ROLE {role}")
    other = psycopg2.connect(migrated_database_url, application_name="sets-a-password")
    try:
        with other.cursor() as cur:  # left idle in its transaction: pg_stat_activity keeps showing the statement
            cur.execute(statement.format(role=role, pw=LEAKY))
        time.sleep(1.1)
        listed = cli("db", "sessions", "--url", migrated_database_url)
        assert listed.exit_code == 0 and "sets-a-password" in listed.stdout and "PASSWORD" in listed.stdout.upper()
        health = cli("db", "health", "--url", migrated_database_url, "--idle-in-transaction-seconds", "1")
        assert health.exit_code == 1 and "idle in transaction" in health.stdout
    finally:
        other.close()
        with admin.cursor() as cur:
            cur.execute(f"DROP ROLE {role}")
        admin.close()


@pytest.mark.parametrize("statement,shown", [
    (f"ALTER ROLE x PASSWORD'{LEAKY}'", "ALTER ROLE x PASSWORD'***'"),
    (f"ALTER ROLE x PASSWORD $$it's {LEAKY}$$ VALID UNTIL 'infinity'", "ALTER ROLE x PASSWORD '***' VALID UNTIL 'infinity'"),
    (f"ALTER ROLE x PASSWORD $a${LEAKY}$b$ still$a$;", "ALTER ROLE x PASSWORD '***';"),
    (f"ALTER ROLE x PASSWORD E'{LEAKY}\\' or ''x'''", "ALTER ROLE x PASSWORD '***'"),
    (f"ALTER ROLE x PASSWORD u&'{LEAKY}\\0041' UESCAPE '!'", "ALTER ROLE x PASSWORD '***' UESCAPE '!'"),
    (f"ALTER ROLE x PASSWORD '{LEAKY}", "ALTER ROLE x PASSWORD '***'"),  # cut short by pg_stat_activity
    (f"ALTER ROLE x PASSWORD -- the new one\n'{LEAKY}'", "ALTER ROLE x PASSWORD -- the new one\n'***'"),
    ("SET password_encryption = 'scram-sha-256'", "SET password_encryption = 'scram-sha-256'"),
    ("ALTER ROLE x PASSWORD NULL", "ALTER ROLE x PASSWORD NULL"),
])
def test_the_literal_of_any_password_clause_is_masked_whatever_its_quoting(statement, shown):
    assert redact(statement) == shown
