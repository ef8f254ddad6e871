"""One env contract locally and in the cloud: `cruddur local up` writes a `.env` whose CONNECTION_URL is the app's
own role cruddur_app (the Cruddur backend's queries pass through it, DDL is refused), whose superuser URL is
MASTER_CONNECTION_URL (what every operator command targets), with the same app variable names as `cruddur stack env`;
an older `.env` (CONNECTION_URL = the superuser) is refused by operator commands and rewritten by `local up`.

One real local server for the module (`local up` in a fresh folder), driven through the CLI as a developer would."""

from __future__ import annotations

import json
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest
import yaml
from typer.testing import CliRunner

from ops import dotenv
from ops.cli import app as cruddur
from ops.local.server import LocalServer, free_port
from ops.paths import PROJECT_ROOT
from ops.stack.app_env import RDS_CA_BUNDLE
from ops.urls import parse
from tests.conftest import server_dir
from tests.ops.conftest import FAKE_APP_PASSWORD
from tests.sql import test_app_queries as backend  # the real backend's queries, reused as they are

OPERATOR_AND_TEST_ONLY = {"MASTER_CONNECTION_URL", "CRUDDUR_CONFIRMATION_URL"}  # in .env, never read by the app
NO_LOCAL_COGNITO = ("AWS_COGNITO_USER_POOL_ID", "AWS_COGNITO_USER_POOL_CLIENT_ID", "REACT_APP_AWS_USER_POOLS_ID",
                    "REACT_APP_CLIENT_ID")
REGION_NAMES = ("AWS_DEFAULT_REGION", "REACT_APP_AWS_PROJECT_REGION", "REACT_APP_AWS_COGNITO_REGION")


@dataclass
class Project:
    folder: Path
    port: int
    env: dict[str, str]  # for the `cli` fixture: this folder, this port

    @property
    def dotenv(self) -> Path:
        return self.folder / ".env"

    def values(self) -> dict[str, str]:
        return dotenv.read(self.dotenv)

    @property
    def master_url(self) -> str:
        return LocalServer(self.folder / ".local").admin_url("cruddur")


@pytest.fixture(scope="module")
def project():
    """`cruddur local up` once, in a fresh folder on a free port; the server is destroyed afterwards."""
    folder = server_dir("cruddur-envcontract-")
    env = {"CRUDDUR_LOCAL_DIR": str(folder), "CRUDDUR_LOCAL_PORT": str(free_port())}
    try:
        result = CliRunner().invoke(cruddur, ["local", "up"], prog_name="cruddur", env={
            **env, "COLUMNS": "200", "CONNECTION_URL": None, "MASTER_CONNECTION_URL": None})
        assert result.exit_code == 0, result.output
        made = Project(folder, int(env["CRUDDUR_LOCAL_PORT"]), env)
        for value in made.values().values():
            if value.startswith("postgresql://"):
                assert parse(value).password not in result.stdout + result.stderr
        yield made
    finally:
        LocalServer(folder / ".local").destroy()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def local_cli(cli, secrets, project):
    """`cli` on the module's project, with its passwords on the must-not-print list."""
    secrets.extend(parse(v).password for v in project.values().values() if v.startswith("postgresql://"))
    return lambda *args, env=None, **kw: cli(*args, env={**project.env, **(env or {})}, **kw)


def table_row(stdout: str, key: str) -> list[str]:
    """The words after ``key`` on the line of a borderless table that starts with it."""
    return next(line.split()[1:] for line in stdout.splitlines() if line.split()[:1] == [key])


def connect(url: str, **kwargs):
    conn = psycopg2.connect(url, **kwargs)
    conn.autocommit = True  # as the backend's pool commits each query
    return conn


def test_local_up_writes_the_app_role_as_connection_url(project):
    assert stat.S_IMODE(project.dotenv.stat().st_mode) == 0o600
    values = project.values()
    app, master = parse(values["CONNECTION_URL"]), parse(values["MASTER_CONNECTION_URL"])
    assert (app.user, app.host, app.port, app.database) == ("cruddur_app", "127.0.0.1", project.port, "cruddur")
    assert values["MASTER_CONNECTION_URL"] == project.master_url and master.user == "postgres"
    assert parse(values["CRUDDUR_CONFIRMATION_URL"]).user == "cruddur_confirmation"
    assert len(app.password) >= 32 and app.password not in (master.password, parse(values["CRUDDUR_CONFIRMATION_URL"]).password)
    # The app's other variables: no Cognito locally, the dev stack's region, the RDS CA bundle as `stack env` names it.
    dev_region = yaml.safe_load((PROJECT_ROOT / "Pulumi.dev.yaml").read_text())["config"]["aws:region"]
    assert {name: values[name] for name in NO_LOCAL_COGNITO} == dict.fromkeys(NO_LOCAL_COGNITO, "")
    assert {name: values[name] for name in REGION_NAMES} == dict.fromkeys(REGION_NAMES, dev_region)
    assert values["PGSSLROOTCERT"] == str(RDS_CA_BUNDLE)

    conn = connect(values["MASTER_CONNECTION_URL"])
    with conn.cursor() as cur:  # a client-side SCRAM verifier: the plaintext never reached the server
        cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'cruddur_app'")
        assert cur.fetchone()[0].startswith("SCRAM-SHA-256$4096:")
    conn.close()


def signed_up_users(values: dict[str, str]) -> None:
    """The two users tests/sql/test_app_queries.py's queries expect, and nothing else: emptied by the operator,
    inserted as the sign-up trigger inserts them (its own role)."""
    master = connect(values["MASTER_CONNECTION_URL"])
    with master.cursor() as cur:
        cur.execute("TRUNCATE activities, users")
    master.close()
    confirmation = connect(values["CRUDDUR_CONFIRMATION_URL"])
    with confirmation.cursor() as cur:
        cur.execute("INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES "
                    "('Andrew Brown', 'andrewbrown', 'andrew@example.com', 'sub-andrew'), "
                    "('Andrew Bayko', 'bayko', 'bayko@example.com', 'sub-bayko')")
    confirmation.close()


@pytest.mark.parametrize("queries", [
    backend.test_the_app_creates_replies_to_and_shows_activities,
    backend.test_the_app_reads_and_updates_profiles,
    backend.test_the_app_looks_users_up,
    backend.test_the_app_can_grant_nothing,
], ids=lambda f: f.__name__.removeprefix("test_"))
def test_the_backend_queries_pass_through_connection_url(project, queries):
    values = project.values()
    signed_up_users(values)
    conn = connect(values["CONNECTION_URL"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, session_user")
            assert cur.fetchone() == ("cruddur_app", "cruddur_app")
            queries(cur)
    finally:
        conn.close()


@pytest.mark.parametrize(("statement", "refusal"), [
    ("CREATE TABLE public.sneaky (id int)", "permission denied for schema public"),
    ("DROP TABLE users", "must be owner of table users"),
])
def test_connection_url_cannot_change_the_schema(project, statement, refusal):
    conn = connect(project.values()["CONNECTION_URL"])
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege) as refused:
            cur.execute(statement)
    finally:
        conn.close()
    assert refused.value.pgcode == "42501" and refused.value.pgerror.splitlines()[0] == f"ERROR:  {refusal}"
    master = connect(project.values()["MASTER_CONNECTION_URL"])
    with master.cursor() as cur:
        cur.execute("SELECT to_regclass('public.sneaky') IS NULL, to_regclass('public.users') IS NOT NULL")
        assert cur.fetchone() == (True, True)
    master.close()


def test_operator_commands_reset_the_database_as_the_superuser(project, local_cli):
    reset = local_cli("db", "reset", "--yes")  # drops the database: nothing the app's role could do
    assert reset.exit_code == 0, reset.output
    assert reset.stdout == f"reset cruddur on postgresql://postgres:***@127.0.0.1:{project.port}/cruddur (local)\n"
    assert "seed: 3 users, 4 activities" in reset.stderr


def test_operator_commands_use_the_master_url(project, local_cli, migrated_database_url):
    values = project.values()
    shown_master = f"postgresql://postgres:***@127.0.0.1:{project.port}/cruddur"
    status = local_cli("db", "status")
    assert status.exit_code == 0 and table_row(status.stdout, "target") == [shown_master, "(local)"]

    backend_conn = connect(values["CONNECTION_URL"], application_name="cruddur-backend")
    try:
        listed = local_cli("db", "sessions")
        assert listed.exit_code == 0, listed.output
        row = next(line for line in listed.stdout.splitlines() if "cruddur-backend" in line)
        cells = [cell.strip() for cell in row.strip("│ ").split("│")]
        assert cells[:3] == [str(backend_conn.get_backend_pid()), "cruddur_app", "cruddur-backend"]
        killed = local_cli("db", "kill-sessions", "--yes")  # only a privileged role may end another role's session
        assert killed.stdout == f"terminated 1 session(s) on cruddur: {backend_conn.get_backend_pid()}\n"
    finally:
        backend_conn.close()

    elsewhere = parse(migrated_database_url)
    shown_elsewhere = f"postgresql://postgres:***@{elsewhere.host}:{elsewhere.port}/{elsewhere.database}"
    for env in ({"MASTER_CONNECTION_URL": migrated_database_url},  # the operator's variable names the target
                {"MASTER_CONNECTION_URL": migrated_database_url, "CONNECTION_URL": values["CONNECTION_URL"]}):
        other = local_cli("db", "status", env=env)
        assert other.exit_code == 0 and table_row(other.stdout, "target") == [shown_elsewhere]
    explicit = local_cli("db", "status", "--url", migrated_database_url, env={"CONNECTION_URL": values["CONNECTION_URL"]})
    assert explicit.exit_code == 0 and table_row(explicit.stdout, "target") == [shown_elsewhere]

    refused = local_cli("db", "migrate", env={"CONNECTION_URL": values["CONNECTION_URL"]})
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr == (
        "error: CONNECTION_URL is set, but it is the app's login and operator commands do not read it: pass --url or "
        "set MASTER_CONNECTION_URL to target a database as an operator, or unset CONNECTION_URL to use the local "
        "database\n")


def test_an_older_env_is_refused_by_operator_commands_and_rewritten_by_local_up(project, local_cli):
    before = project.values()
    project.dotenv.write_text(  # what `local up` wrote before CONNECTION_URL became the app's role
        f"KEEP=mine\nCONNECTION_URL={project.master_url}\nCRUDDUR_APP_URL={before['CONNECTION_URL']}\n"
        f"CRUDDUR_CONFIRMATION_URL={before['CRUDDUR_CONFIRMATION_URL']}\n")
    refused = local_cli("db", "migrate")
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr == (
        f"error: {project.dotenv} is from an older `cruddur local up`: its CONNECTION_URL logs in as the superuser "
        "postgres and it has no MASTER_CONNECTION_URL; run `cruddur local up` to rewrite it (CONNECTION_URL becomes "
        "the app role cruddur_app, the superuser's URL moves to MASTER_CONNECTION_URL)\n")
    assert local_cli("db", "migrate", "--url", project.master_url).exit_code == 0  # an explicit target is not guarded

    up = local_cli("local", "up")
    assert up.exit_code == 0, up.output
    assert f"rewrote {project.dotenv} from an older `cruddur local up`: CONNECTION_URL is now the app role " \
           "cruddur_app, the superuser's URL is MASTER_CONNECTION_URL" in up.stderr
    after = project.values()
    assert after == {**before, "KEEP": "mine"}  # the old cruddur_app URL still logged in: adopted, not reset
    assert "CRUDDUR_APP_URL" not in after and stat.S_IMODE(project.dotenv.stat().st_mode) == 0o600
    assert local_cli("db", "migrate").exit_code == 0

    # An older .env without a cruddur_app URL that logs in: a new password, set on the role.
    project.dotenv.write_text(f"CONNECTION_URL={project.master_url}\n")
    assert local_cli("local", "up").exit_code == 0
    rewritten = project.values()
    assert rewritten["MASTER_CONNECTION_URL"] == project.master_url
    assert parse(rewritten["CONNECTION_URL"]).password != parse(before["CONNECTION_URL"]).password
    conn = connect(rewritten["CONNECTION_URL"])
    with conn.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone() == ("cruddur_app",)
    conn.close()
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(before["CONNECTION_URL"])


def test_local_up_repairs_connection_url_after_the_password_changed(project, local_cli, secrets):
    before = project.values()
    changed = local_cli("db", "role-password", "cruddur_app")  # writes CRUDDUR_APP_URL; CONNECTION_URL goes stale
    assert changed.exit_code == 0, changed.output
    new_url = project.values()["CRUDDUR_APP_URL"]
    secrets.append(parse(new_url).password)
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(before["CONNECTION_URL"])
    assert local_cli("local", "up").exit_code == 0
    after = project.values()
    assert after["CONNECTION_URL"] == new_url and "CRUDDUR_APP_URL" not in after
    warm = local_cli("local", "up")
    assert warm.exit_code == 0 and "wrote" not in warm.stderr and project.values() == after


def test_the_app_reads_the_same_names_locally_and_from_stack_env(project, local_cli, fake_pulumi, secrets):
    secrets.remove(FAKE_APP_PASSWORD)  # stack env prints the app's URL on stdout on purpose
    result = local_cli("stack", "env", "-s", "dev", "--format", "json")
    assert result.exit_code == 0, result.output
    cloud, local = json.loads(result.stdout), project.values()
    assert set(cloud) == set(local) - OPERATOR_AND_TEST_ONLY
    assert set(local) - set(cloud) == OPERATOR_AND_TEST_ONLY
    # The same role and region on both sides; TLS only to RDS; Cognito only in the cloud.
    assert parse(cloud["CONNECTION_URL"]).user == parse(local["CONNECTION_URL"]).user == "cruddur_app"
    assert (parse(cloud["CONNECTION_URL"]).params, parse(local["CONNECTION_URL"]).params) == (
        {"sslmode": "verify-full"}, {})
    assert all(cloud[name] == local[name] for name in (*REGION_NAMES, "PGSSLROOTCERT"))
    assert all(cloud[name] and not local[name] for name in NO_LOCAL_COGNITO)


def test_stack_on_the_command_line_outranks_an_exported_master_url(project, local_cli, fake_pulumi):
    """A developer who sourced .env still reaches a stack with -s; --url and -s together stay refused."""
    exported = {"MASTER_CONNECTION_URL": project.master_url, "CONNECTION_URL": project.values()["CONNECTION_URL"]}
    result = local_cli("db", "status", "-s", "dev", env=exported)  # the RDS host is unreachable here
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot connect to postgresql://cruddur_admin:***@cruddur-dev-db.")
    both = local_cli("db", "status", "--url", project.master_url, "-s", "dev")
    assert both.stderr == "error: give either --url or -s/--stack, not both\n"
