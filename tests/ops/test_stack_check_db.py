"""`cruddur stack check`'s database checks against a REAL PostgreSQL (the suite's server) migrated with this
checkout's sql/migrations, the secrets in moto's Secrets Manager. The connection URL the checks build from a secret
is pointed at the test server (``DatabaseReach.url_of``), standing in for the operator tunnel to RDS."""

from __future__ import annotations

import contextlib

import pytest

from ops.paths import MIGRATIONS_DIR
from ops.stack.check import credentials, schema
from ops.stack.check.context import Context, DatabaseReach
from ops.urls import build_url, parse
from tests.conftest import drop_database, make_database
from tests.db_support import admin_execute
from tests.ops.stack_check_support import STACK as DEV
from tests.ops.stack_check_support import client, judge, rds_secret, settings

REGION = "eu-west-1"
WRONG = "Not-The-Passw0rd~anyone"


@pytest.fixture
def database(moto_aws, migrated_database_url, role_url, secrets):
    """(context factory, admin URL): a migrated database whose master and app secrets (moto) log in to it."""
    info = parse(migrated_database_url)
    app = parse(role_url(migrated_database_url, "cruddur_app"))
    secrets += [info.password, app.password, WRONG]
    manager = client("secretsmanager", REGION)
    arns = {kind: manager.create_secret(Name=f"cruddur/dev/rds/{kind}", SecretString=rds_secret(
        user, password, dbname=info.database))["ARN"]
        for kind, user, password in (("master", info.user, info.password), ("app", "cruddur_app", app.password))}
    outputs = {"region": REGION, "masterSecretArn": arns["master"], "appSecretArn": arns["app"],
               "migrationsSha256": schema.migrations_sha256(), "migratorFunctionName": "cruddur-dev-migrator",
               "operatorEndpointId": "eice-0123456789abcdef0"}
    reach = DatabaseReach(None, url_of=lambda creds: build_url(creds.username, creds.password, info.host, info.port,
                                                               creds.dbname))

    def context(*, tunnel: bool = True, **changed) -> Context:
        return Context(DEV, {**outputs, **changed}, settings=settings(), reach=reach if tunnel else None)

    context.arns = arns
    context.user = info.user
    return context, migrated_database_url


def wrong_password(arn: str, username: str, dbname: str) -> None:
    client("secretsmanager", REGION).put_secret_value(SecretId=arn, SecretString=rds_secret(username, WRONG,
                                                                                            dbname=dbname))


@contextlib.contextmanager
def altered(url: str, do: str, undo: str):
    """A cluster-wide change to a role, undone whatever happens (the roles are shared by every test database)."""
    admin_execute(url, do)
    try:
        yield
    finally:
        admin_execute(url, undo)


# -- credentials: the current versions log in ----------------------------------------------------------------------
def test_both_current_versions_log_in(database):
    context, _ = database
    master, app = (judge(context(), credentials.master_login), judge(context(), credentials.app_login))
    assert (master.status, master.detail) == ("ok", f"logged in as {context.user} (AWSCURRENT)")
    assert (app.status, app.detail) == ("ok", "logged in as cruddur_app (AWSCURRENT)")


@pytest.mark.parametrize(("check", "kind"), [(credentials.master_login, "master"), (credentials.app_login, "app")])
def test_a_current_version_the_database_refuses_fails(database, check, kind):
    context, url = database
    arn = context.arns[kind]
    wrong_password(arn, context.user if kind == "master" else "cruddur_app", parse(url).database)
    result = judge(context(), check)
    assert (result.status, result.detail) == ("FAIL", (
        f"the database refuses the AWSCURRENT password of {arn}: the secret and the database disagree; follow "
        "runbooks/rotate-master-password.md (rotate again, or set the password from the secret)"))


def test_without_a_tunnel_the_database_checks_are_not_checked(database):
    context, _ = database
    for check in (*credentials.CHECKS[2:], *schema.CHECKS):
        result = judge(context(tunnel=False), check)
        assert result.status == "not checked"
        assert result.detail == ("no tunnel to the database: open the operator tunnel (docs/stack-check.md) and re-run "
                                 "with --tunnel-port 5432")


# -- schema: the migrations are the deployed package ----------------------------------------------------------------
def test_the_migrations_match_the_deployed_package(database):
    context, _ = database
    result = judge(context(), schema.migrations)
    assert (result.status, result.detail) == ("ok", f"{len(list(MIGRATIONS_DIR.glob('*.sql')))} migrations applied, "
                                                    f"{schema.migrations_sha256()[:12]}")


def test_a_migration_not_applied_fails(database):
    context, url = database
    admin_execute(url, "DELETE FROM _yoyo_migration WHERE migration_id = '0006_app_clone_role'")
    result = judge(context(), schema.migrations)
    assert (result.status, result.detail) == ("FAIL", (
        "not applied: 0006_app_clone_role: the migrator's Invocation did not apply them; read the log of "
        "cruddur-dev-migrator and run `pulumi up -s dev` again (runbooks/migrate-prod.md)"))


def test_a_database_never_migrated_fails(database, pg_server):
    context, _ = database
    empty = make_database(pg_server.admin_url())
    try:
        info = parse(empty)
        client("secretsmanager", REGION).put_secret_value(SecretId=context.arns["master"], SecretString=rds_secret(
            info.user, info.password, dbname=info.database))
        result = judge(context(), schema.migrations)
    finally:
        drop_database(empty)
    assert (result.status, result.detail) == ("FAIL", (
        "no migration was ever applied (no _yoyo_migration table): the migrator's Invocation did not run; read the "
        "log of cruddur-dev-migrator and run `pulumi up -s dev` again"))


def test_another_commits_migrations_are_not_checked(database):
    context, _ = database
    result = judge(context(migrationsSha256="0" * 64), schema.migrations)
    assert result.status == "not checked"
    assert result.detail == (f"this checkout's sql/migrations ({schema.migrations_sha256()[:12]}) is not the set the "
                             "stack deployed (000000000000): run the check from the commit `pulumi up -s dev` deployed")


# -- schema: the app's roles have exactly their grants --------------------------------------------------------------
def test_the_roles_have_exactly_their_grants(database):
    context, _ = database
    results = {check: judge(context(), check) for check in schema.CHECKS[1:]}
    assert [(r.status, r.detail) for r in results.values()] == [
        ("ok", "cruddur_app, cruddur_app_clone, cruddur_confirmation: plain login roles"),
        ("ok", "only the owner"),
        ("ok", "cruddur_app: 2 tables; cruddur_app_clone: 2 tables; cruddur_confirmation: 1 tables"),
    ]


def test_a_role_with_a_power_fails(database):
    context, url = database
    with altered(url, "ALTER ROLE cruddur_confirmation CREATEDB", "ALTER ROLE cruddur_confirmation NOCREATEDB"):
        result = judge(context(), schema.role_powers)
    assert (result.status, result.detail) == ("FAIL", (
        "cruddur_confirmation has rolcreatedb: as the master user, `ALTER ROLE cruddur_confirmation NOCREATEDB` (and "
        "the like for the others)"))


def test_a_role_that_reads_all_data_fails(database):
    context, url = database
    with altered(url, "GRANT pg_read_all_data TO cruddur_confirmation",
                 "REVOKE pg_read_all_data FROM cruddur_confirmation"):
        result = judge(context(), schema.role_powers)
    assert (result.status, result.detail) == ("FAIL", (
        "cruddur_confirmation is a member of pg_read_all_data: as the master user, `REVOKE pg_read_all_data FROM "
        "cruddur_confirmation` (and the like for the others)"))


def test_create_on_public_fails(database):
    context, url = database
    admin_execute(url, "GRANT CREATE ON SCHEMA public TO cruddur_confirmation")
    result = judge(context(), schema.no_create_on_public)
    assert (result.status, result.detail) == ("FAIL", (
        "CREATE on schema public is granted to cruddur_confirmation: as the master user, `REVOKE CREATE ON SCHEMA "
        "public FROM cruddur_confirmation` (sql/migrations/0002_roles.sql)"))


def test_an_app_role_that_reads_the_migration_history_fails(database):
    context, url = database
    admin_execute(url, "GRANT SELECT ON _yoyo_migration TO cruddur_app")
    result = judge(context(), schema.table_grants)
    assert (result.status, result.detail) == ("FAIL", (
        "more than its grants: cruddur_app SELECT on public._yoyo_migration; cruddur_app_clone SELECT on "
        "public._yoyo_migration: as the master user, `REVOKE SELECT ON public._yoyo_migration FROM cruddur_app` (and "
        "PUBLIC if granted there)"))


def test_a_missing_grant_fails(database):
    context, url = database
    admin_execute(url, "REVOKE DELETE ON activities FROM cruddur_app")
    result = judge(context(), schema.table_grants)
    assert (result.status, result.detail) == ("FAIL", (
        "missing grants: cruddur_app DELETE on public.activities; cruddur_app_clone DELETE on public.activities: run "
        "`pulumi up -s dev` (the migrations grant them)"))
