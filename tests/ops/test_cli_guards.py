"""The runbook CLI: the guards and the redaction hold against an attacker's inputs, on a REAL PostgreSQL.

Protected-stack names (the one rule in components/stack_names.py), guards on the parameters libpq will actually
use (query host/hostaddr/port/dbname, host lists, China-region RDS names, PGHOST, service files), masking of
passwords that cannot be parsed, and `db setup --seed` on RDS.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from ops.urls import build_url, parse
from tests.ops.test_db_cmd import MIGRATIONS, RDS_HOST, exists, scalar

PERCENT_ENCODE_HINT = ("percent-encode special characters in the user name and password "
                       "(# as %23, ? as %3F, / as %2F, @ as %40, : as %3A, space as %20)")
CN_RDS_HOST = "cruddur-dev-db.c9akciq32xyz.rds.cn-north-1.amazonaws.com.cn"
CN_RDS_HOST_SHORT = "cruddur-dev-db.c9akciq32xyz.rds.amazonaws.com.cn"


@pytest.fixture
def any_stack_pulumi(tmp_path: Path, monkeypatch, aws_secrets, empty_database_url) -> None:
    """A fake `pulumi` whose every stack's masterSecretArn names a secret (in moto) holding the credentials of a
    real database of the suite (``empty_database_url``). No connection-URL output at all: the CLI needs none."""
    import boto3

    info = parse(empty_database_url)
    client = boto3.client("secretsmanager", region_name="eu-west-1")
    arn = client.create_secret(Name="cruddur/any/rds/master", SecretString=json.dumps({
        "engine": "postgres", "host": info.host, "port": info.port, "username": info.user,
        "password": info.password, "dbname": info.database}))["ARN"]
    bindir = tmp_path / "anybin"
    bindir.mkdir()
    script = bindir / "pulumi"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, sys
        args = sys.argv[1:]
        assert args[:4] == ["stack", "output", "--json", "--show-secrets"], args
        print(json.dumps({{"region": "eu-west-1", "masterSecretArn": {arn!r}}}))
        """))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")


# ------------------------------------------------------------------ production-looking stack names
@pytest.mark.parametrize("stack", ["Prod", "PROD", "production", "eu-prod", "prd", "live", "euprod", "prd01", "live2"])
def test_production_looking_stacks_are_protected(cli, any_stack_pulumi, pg_server, empty_database_url, stack):
    name = parse(empty_database_url).database
    result = cli("db", "drop", "-s", stack, "--yes")
    assert result.exit_code == 2, result.output
    assert result.stderr == (f"error: refusing to drop database {name} on stack {stack}: pass --force and type the "
                             f"database name back (or --confirm {name})\n")
    assert exists(pg_server, name)
    seed = cli("db", "seed", "-s", stack)
    assert seed.exit_code == 2
    assert seed.stderr == (f"error: refusing to load dev/load data into stack {stack}; pass --force if you really "
                           "mean it\n")


def test_dev_stack_names_stay_unprotected(cli, any_stack_pulumi, pg_server, empty_database_url):
    """No refusal: the drop goes on to connect, with the secret's credentials and TLS verify-full (which the suite's
    plain-TCP server cannot offer, so the connection fails there and the database stays)."""
    info = parse(empty_database_url)
    result = cli("db", "drop", "-s", "alice-dev", "--yes")
    assert result.exit_code == 2 and "refusing" not in result.stderr
    assert result.stderr.startswith(f"error: cannot connect to postgresql://{info.user}:***@{info.host}:{info.port}/"
                                    f"{info.database}?sslmode=verify-full")
    assert "SSL" in result.stderr and result.stderr.count("\n") == 1
    assert exists(pg_server, info.database)


# ------------------------------------------------------------------ the effective target
def _refusal(name: str, host: str) -> str:
    return f"error: refusing to drop database {name} on RDS host {host}: pass --force and type the database name " \
           f"back (or --confirm {name})\n"


def test_query_host_and_hostaddr_cannot_hide_an_rds_host(cli, pg_server, empty_database_url):
    """libpq takes host/hostaddr/port from the query over the authority part: the guard must too. Each URL here
    really reaches the suite's server (hostaddr), so a missed guard drops the database."""
    info = parse(empty_database_url)
    name = info.database
    pw = info.password
    urls = [
        f"postgresql://postgres:{pw}@/{name}?host={RDS_HOST}&hostaddr=127.0.0.1&port={pg_server.port}&sslmode=disable",
        f"postgresql://postgres:{pw}@127.0.0.1:{pg_server.port}/{name}?host={RDS_HOST}&hostaddr=127.0.0.1"
        "&sslmode=disable",
        f"postgresql://postgres:{pw}@127.0.0.1:{pg_server.port}/{name}?host=127.0.0.1,{RDS_HOST}"
        "&hostaddr=127.0.0.1,127.0.0.1&sslmode=disable",
    ]
    for url in urls:
        result = cli("db", "drop", "--url", url, "--yes")
        assert result.exit_code == 2, (url.replace(pw, "***"), result.output)
        assert result.stderr == _refusal(name, RDS_HOST)
        assert exists(pg_server, name)


@pytest.mark.parametrize("host", [CN_RDS_HOST, CN_RDS_HOST_SHORT, CN_RDS_HOST.upper() + "."])
def test_china_region_rds_hosts_are_rds(cli, host):
    url = f"postgresql://master:Rds-pass-123@{host}:5432/cruddur"
    for command in ("drop", "reset"):
        result = cli("db", command, "--url", url, "--yes")
        assert result.exit_code == 2
        assert result.stderr == _refusal("cruddur", parse(url).rds_host).replace("to drop", f"to {command}")


def test_pghost_and_service_file_are_the_target_when_the_url_has_no_host(cli, tmp_path):
    url = "postgresql://master:Rds-pass-123@/cruddur"
    via_env = cli("db", "drop", "--url", url, "--yes", env={"PGHOST": RDS_HOST})
    assert via_env.exit_code == 2 and via_env.stderr == _refusal("cruddur", RDS_HOST)
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[cruddur-rds]\nhost={RDS_HOST}\nport=5432\n")
    via_service = cli("db", "drop", "--url", url + "?service=cruddur-rds", "--yes",
                      env={"PGSERVICEFILE": str(services)})
    assert via_service.exit_code == 2 and via_service.stderr == _refusal("cruddur", RDS_HOST)
    via_pgservice = cli("db", "drop", "--url", url, "--yes",
                        env={"PGSERVICEFILE": str(services), "PGSERVICE": "cruddur-rds"})
    assert via_pgservice.exit_code == 2 and via_pgservice.stderr == _refusal("cruddur", RDS_HOST)
    # An explicit host in the URL wins over the environment, as in libpq.
    assert not parse("postgresql://u:p@127.0.0.1/db", {"PGHOST": RDS_HOST}).is_rds


def test_query_dbname_is_the_database_acted_on(cli, pg_server, empty_database_url):
    """libpq connects to the query's dbname, so that is the database the guard names and `drop` drops."""
    info = parse(empty_database_url)
    url = build_url(info.user, info.password, info.host, info.port, "some_other_db", dbname=info.database)
    result = cli("db", "drop", "--url", url, "--yes")
    assert result.exit_code == 0, result.output
    assert f"dropped database {info.database} on" in result.stdout
    assert not exists(pg_server, info.database)


def test_setup_with_seed_on_rds_refuses_like_seed(cli, pg_server):
    """`db setup --seed` used to load the dev seed into RDS without --force while `db seed` refused."""
    import uuid

    name = f"t_new_{uuid.uuid4().hex[:12]}"
    url = build_url("postgres", pg_server.password, RDS_HOST, pg_server.port, name, hostaddr="127.0.0.1",
                    sslmode="disable")  # reaches the suite's server: a missed guard creates and seeds it
    result = cli("db", "setup", "--seed", "--url", url)
    assert result.exit_code == 2, result.output
    assert result.stderr == (f"error: refusing to load the dev seed into RDS host {RDS_HOST}; run `cruddur db setup "
                             "--no-seed`, then `cruddur db seed --force` if you really mean it\n")
    assert not exists(pg_server, name)


# ------------------------------------------------------------------ redaction of unparsable URLs
MASKED = "postgresql://app:***@db.internal:5432/cruddur"
UNPARSABLE = [  # (password, URL, reason) - each password has a raw character a URL cannot hold
    ("Kx9vQ#m2WzLp", "postgresql://app:Kx9vQ#m2WzLp@db.internal:5432/cruddur", "it contains '#'"),
    ("Kx9vQ?m2WzLp", "postgresql://app:Kx9vQ?m2WzLp@db.internal:5432/cruddur", "an '@' after the host part"),
    ("Kx9vQ/m2WzLp", "postgresql://app:Kx9vQ/m2WzLp@db.internal:5432/cruddur", "an '@' after the host part"),
    ("8317/m2WzLpKx", "postgresql://app:8317/m2WzLpKx@db.internal:5432/cruddur", "an '@' after the host part"),
    ("Kx9vQ m2WzLp", "postgresql://app:Kx9vQ m2WzLp@db.internal:5432/cruddur",
     "it contains whitespace or a control character"),
    ("Kx9vQ\tm2WzLp", "postgresql://app:Kx9vQ\tm2WzLp@db.internal:5432/cruddur",
     "it contains whitespace or a control character"),
    ("Kx9vQ\nm2WzLp", "postgresql://app:Kx9vQ\nm2WzLp@db.internal:5432/cruddur",
     "it contains whitespace or a control character"),
    ("Kx9vQ@m2/Wz#Lp", "postgresql://app:Kx9vQ@m2/Wz#Lp@db.internal:5432/cruddur", "it contains '#'"),
]


@pytest.mark.parametrize("password,url,reason", UNPARSABLE, ids=[f"case{i}" for i in range(len(UNPARSABLE))])
def test_raw_special_characters_in_a_password_never_leak(cli, secrets, password, url, reason):
    result = cli("db", "status", "--url", url)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: not a valid connection URL ({reason}; {PERCENT_ENCODE_HINT}): {MASKED}\n"
    pieces = {password[i:i + n] for n in range(4, len(password) + 1) for i in range(len(password) - n + 1)}
    for piece in pieces | {password}:
        assert piece not in result.stderr, piece


def test_password_parameters_are_masked_when_unparsable(cli):
    query = cli("db", "status", "--url", "postgresql://app@db.internal:5432/cruddur?password=Kx9vQ#m2 WzLp")
    assert query.exit_code == 2
    assert query.stderr == (f"error: not a valid connection URL (it contains whitespace or a control character; "
                            f"{PERCENT_ENCODE_HINT}): postgresql://app@db.internal:5432/cruddur?password=***\n")
    kv = cli("db", "status", "--url", "host=db.internal password=Kx9vQ m2WzLp dbname=cruddur")
    assert kv.exit_code == 2
    assert kv.stderr == ("error: not a PostgreSQL URL (expected postgresql://USER:***@HOST:PORT/DB): "
                         "host=db.internal password=*** dbname=cruddur\n")
    for text in (query.stderr, kv.stderr):
        assert "Kx9v" not in text and "WzLp" not in text and "m2" not in text


# ------------------------------------------------------------------ read-only status names its target
def test_status_works_read_only_and_errors_name_the_target(cli, pg_server, migrated_database_url, role_url):
    from tests.conftest import drop_database, make_database

    readonly = {"options": "-c default_transaction_read_only=on"}
    empty_database_url = make_database(pg_server.admin_url())
    try:
        _check_read_only_status(cli, migrated_database_url, empty_database_url, readonly)
    finally:
        drop_database(empty_database_url)
    app_url = role_url(migrated_database_url, "cruddur_app")
    info = parse(app_url)
    denied = cli("db", "status", "--url", app_url)
    assert denied.exit_code == 2
    assert denied.stderr == (f"error: database error on postgresql://cruddur_app:***@127.0.0.1:{info.port}/"
                             f"{info.database}: permission denied for table _yoyo_migration\n")


def _check_read_only_status(cli, migrated_database_url, empty_database_url, readonly):
    n = len(MIGRATIONS)
    cases = ((migrated_database_url, f"{n} applied, 0 pending"), (empty_database_url, f"0 applied, {n} pending"))
    for url, expected in cases:
        info = parse(url)
        ro = build_url(info.user, info.password, info.host, info.port, info.database, **readonly)
        result = cli("db", "status", "--url", ro)
        assert result.exit_code == 0, result.output
        assert expected in result.stdout
    assert scalar(empty_database_url, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '%yoyo%'") == 0


def test_effective_parameters_are_what_libpq_uses():
    info = parse(f"postgresql://u:p%40ss@127.0.0.1:5432/a?host={RDS_HOST}&port=6543&dbname=b&hostaddr=10.0.0.1")
    assert (info.hosts, info.rds_host, info.database) == ([RDS_HOST], RDS_HOST, "b")
    assert info.libpq == {"user": "u", "password": "p@ss", "host": RDS_HOST, "port": "6543", "dbname": "b",
                          "hostaddr": "10.0.0.1"}
    assert not parse("postgresql://u:p@localhost/db?sslmode=disable", {}).is_rds
    # a password in the query is fine
    assert parse("postgresql://u@localhost/db?password=p%23w", {}).libpq["password"] == "p#w"
    assert json.dumps(parse("postgresql://u:p@/db", {"PGHOST": f"localhost,{CN_RDS_HOST}"}).hosts) == \
        json.dumps(["localhost", CN_RDS_HOST])


# ------------------------------------------------------------------ service files, read as libpq reads them
@pytest.mark.parametrize("content", [
    f"[cruddur-rds]\nhost={RDS_HOST}\n[cruddur-rds]\nhost=127.0.0.1\n",       # the first section is libpq's
    f"[cruddur-rds]\nhost={RDS_HOST}\nhost=127.0.0.1\n",                       # the first value is libpq's
    f"[cruddur-rds]\ndbname=cruddur\n    host={RDS_HOST}\n",                   # indentation is no continuation
    f"# local\n[other]\nhost=127.0.0.1\n\n  [cruddur-rds] \n\thost={RDS_HOST}\n[cruddur-rds-2]\nhost=127.0.0.1\n",
])
def test_a_service_file_is_read_the_way_libpq_reads_it(cli, tmp_path, content):
    services = tmp_path / "pg_service.conf"
    services.write_text(content)
    result = cli("db", "drop", "--url", "postgresql://master:Rds-pass-123@/cruddur?service=cruddur-rds", "--yes",
                 env={"PGSERVICEFILE": str(services)})
    assert result.exit_code == 2 and result.stderr == _refusal("cruddur", RDS_HOST)


@pytest.mark.parametrize("line,why", [
    (f"HOST={RDS_HOST}", ": 'HOST' is not a libpq keyword (libpq takes key=value with no spaces around the '=' and "
                         "lower-case keywords); fix the line"),
    (f"host = {RDS_HOST}", ": 'host ' is not a libpq keyword (libpq takes key=value with no spaces around the '=' and "
                           "lower-case keywords); fix the line"),
    (f"host: {RDS_HOST}", " has no key=value; libpq refuses it: fix the line"),
    ("service=other", " names another service; libpq refuses nested services"),
])
def test_a_service_libpq_would_refuse_is_refused_before_connecting(cli, tmp_path, line, why):
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[cruddur-rds]\ndbname=cruddur\n{line}\n")
    result = cli("db", "status", "--url", "postgresql://master:Rds-pass-123@/cruddur?service=cruddur-rds",
                 env={"PGSERVICEFILE": str(services)})
    assert result.exit_code == 2
    assert result.stderr == f"error: the service file {services}, line 3 (service 'cruddur-rds'){why}\n"


def test_a_service_that_cannot_be_read_is_refused(cli, tmp_path):
    services = tmp_path / "pg_service.conf"
    services.write_bytes(b"[cruddur-rds]\nhost=caf\xe9\n")
    url = "postgresql://master:Rds-pass-123@/cruddur?service=cruddur-rds"
    broken = cli("db", "status", "--url", url, env={"PGSERVICEFILE": str(services)})
    assert broken.stderr == (f"error: cannot read the service file {services} for service 'cruddur-rds': it is not "
                             "UTF-8 text\n")
    missing = cli("db", "status", "--url", url, env={"PGSERVICEFILE": str(tmp_path / "none.conf")})
    assert missing.stderr == (f"error: service 'cruddur-rds' is not defined in {tmp_path / 'none.conf'} (libpq would "
                              "refuse to connect)\n")
    assert broken.exit_code == missing.exit_code == 2


# ------------------------------------------------------------------ kill-sessions asks first, like drop and reset
def test_kill_sessions_asks_first_and_a_no_ends_nothing(cli, migrated_database_url):
    import psycopg2

    other = psycopg2.connect(migrated_database_url, application_name="someone-else")
    try:
        refused = cli("db", "kill-sessions", "--url", migrated_database_url, input="n\n")
        assert refused.exit_code == 2
        name = parse(migrated_database_url).database
        assert refused.stderr.endswith(f"error: not confirmed; nothing was done (pass --yes to kill the sessions of "
                                       f"database {name} without the question)\n")
        assert f"Kill the sessions of database {name} on " in refused.stdout
        with other.cursor() as cur:
            cur.execute("SELECT 1")  # still alive
        asked = cli("db", "kill-sessions", "--url", migrated_database_url, input="y\n")
        assert asked.exit_code == 0 and "terminated 1 session(s)" in asked.stdout
    finally:
        other.close()
