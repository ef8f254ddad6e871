"""Migrations against a real server: empty database, no-op re-run, existing rows kept, concurrency, roles."""

from __future__ import annotations

import subprocess
import sys

import psycopg2
import psycopg2.errors
import pytest

from ops.db import migrations, seed
from ops.db.target import DbTarget
from ops.paths import MIGRATIONS_DIR
from tests.db_support import admin_execute, at_once, query

EXPECTED = [p.stem for p in sorted(MIGRATIONS_DIR.glob("*.sql"))]


def test_expected_migration_files():
    assert EXPECTED[:2] == ["0001_schema", "0002_roles"]


def test_apply_on_empty_database_creates_the_schema(empty_database_url):
    assert migrations.pending(DbTarget(empty_database_url)) == EXPECTED
    assert migrations.apply(DbTarget(empty_database_url)) == EXPECTED
    tables = {r[0] for r in query(empty_database_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"users", "activities"} <= tables
    columns = query(
        empty_database_url,
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name IN ('users', 'activities') ORDER BY table_name, ordinal_position",
    )
    assert [(t, c) for t, c, _, _ in columns if t == "users"] == [
        ("users", "uuid"), ("users", "display_name"), ("users", "handle"), ("users", "email"),
        ("users", "cognito_user_id"), ("users", "created_at"), ("users", "bio"),
    ]
    user = {c: (d, n) for t, c, d, n in columns if t == "users"}
    assert user["bio"] == ("text", "YES")  # 0003_users_bio
    activity = {c: (d, n) for t, c, d, n in columns if t == "activities"}
    assert list(activity) == [
        "uuid", "user_uuid", "message", "replies_count", "reposts_count", "likes_count",
        "reply_to_activity_uuid", "expires_at", "created_at",
    ]
    assert activity["reply_to_activity_uuid"] == ("uuid", "YES")
    assert activity["likes_count"] == ("integer", "NO")
    assert activity["created_at"] == ("timestamp with time zone", "NO")
    assert migrations.pending(DbTarget(empty_database_url)) == []


def test_second_apply_is_a_no_op(migrated_database_url):
    before = query(migrated_database_url, "SELECT migration_id, applied_at_utc FROM _yoyo_migration ORDER BY 1")
    assert migrations.apply(DbTarget(migrated_database_url)) == []
    after = query(migrated_database_url, "SELECT migration_id, applied_at_utc FROM _yoyo_migration ORDER BY 1")
    assert before == after and [r[0] for r in after] == EXPECTED


def test_existing_rows_are_kept_when_new_migrations_arrive(migrated_database_url, tmp_path):
    seed.seed(DbTarget(migrated_database_url))
    rows_before = query(migrated_database_url, "SELECT uuid, handle FROM users ORDER BY handle")
    # A later migration arrives: copy the real ones and add one that alters a table holding data.
    folder = tmp_path / "migrations"
    folder.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        (folder / path.name).write_text(path.read_text())
    (folder / "9999_location.sql").write_text("ALTER TABLE users ADD COLUMN location text;\n")
    assert migrations.apply(DbTarget(migrated_database_url), directory=folder) == ["9999_location"]
    assert query(migrated_database_url, "SELECT uuid, handle FROM users ORDER BY handle") == rows_before
    assert query(migrated_database_url, "SELECT count(*) FROM activities")[0][0] == 4


def test_failed_migration_rolls_back_entirely(migrated_database_url, tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        (folder / path.name).write_text(path.read_text())
    (folder / "9999_broken.sql").write_text("CREATE TABLE half_done (id int);\nSELECT no_such_function();\n")
    from ops.errors import CruddurError

    with pytest.raises(CruddurError, match="migration failed .*rolled back"):
        migrations.apply(DbTarget(migrated_database_url), directory=folder)
    assert query(migrated_database_url, "SELECT to_regclass('public.half_done')")[0][0] is None
    assert migrations.pending(DbTarget(migrated_database_url), directory=folder) == ["9999_broken"]


def test_a_non_transactional_migration_keeps_yoyos_path(migrated_database_url, tmp_path):
    """``-- transactional: false`` (CREATE INDEX CONCURRENTLY cannot run in a transaction) is applied and recorded."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        (folder / path.name).write_text(path.read_text())
    (folder / "9999_bio_index.sql").write_text(
        "-- transactional: false\nCREATE INDEX CONCURRENTLY users_bio_idx ON users (bio);\n")
    assert migrations.apply(DbTarget(migrated_database_url), directory=folder) == ["9999_bio_index"]
    assert query(migrated_database_url, "SELECT indisvalid FROM pg_index "
                                        "WHERE indexrelid = to_regclass('public.users_bio_idx')") == [(True,)]
    assert query(migrated_database_url, "SELECT count(*) FROM _yoyo_migration "
                                        "WHERE migration_id = '9999_bio_index'") == [(1,)]
    assert migrations.apply(DbTarget(migrated_database_url), directory=folder) == []


def test_db_migrate_and_the_migrator_run_the_same_apply_one():
    """ONE implementation: the CLI's backend and the Lambda's both take apply_one from lambda/shared."""
    from ops.db.yoyo_one_transaction import SHARED_SOURCE, backend_class
    from tests.migrator_support import load_migrator_module

    shared = str(SHARED_SOURCE)
    assert SHARED_SOURCE == MIGRATIONS_DIR.parent.parent / "lambda" / "shared" / "yoyo_one_transaction.py"
    assert backend_class().apply_one.__code__.co_filename == shared
    assert load_migrator_module().db._backend_class().apply_one.__code__.co_filename == shared


def test_concurrent_migrate_processes_end_with_one_applied_set(empty_database_url):
    code = ("import sys; from ops.db import migrations; from ops.db.target import DbTarget; "
            "print(migrations.apply(DbTarget(sys.argv[1])))")
    procs = [
        subprocess.Popen([sys.executable, "-c", code, empty_database_url], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outputs]
    applied_lists = sorted(out.strip() for out, _ in outputs)
    assert applied_lists == sorted(["[]", "[]", str(EXPECTED)])
    rows = query(empty_database_url, "SELECT migration_id FROM _yoyo_migration ORDER BY 1")
    assert [r[0] for r in rows] == EXPECTED
    assert query(empty_database_url, "SELECT count(*) FROM yoyo_lock")[0][0] == 0


def test_concurrent_migrate_threads(empty_database_url):
    results, errors = at_once(*[lambda: migrations.apply(DbTarget(empty_database_url))] * 2)
    assert errors == []
    assert sorted(results) == [[], EXPECTED]


def test_migrating_many_databases_on_one_server_at_once(pg_server):
    """Roles are cluster-wide: the role migration must not fail when run concurrently in several databases."""
    from tests.conftest import drop_database, make_database

    urls = [make_database(pg_server.admin_url()) for _ in range(3)]
    try:
        _, errors = at_once(*[lambda u=u: migrations.apply(DbTarget(u)) for u in urls])
        assert errors == []
        for u in urls:
            assert migrations.pending(DbTarget(u)) == []
    finally:
        for u in urls:
            drop_database(u)


def test_roles_have_exactly_their_privileges(migrated_database_url):
    grants = query(
        migrated_database_url,
        "SELECT grantee, table_name, string_agg(privilege_type, ',' ORDER BY privilege_type) "
        "FROM information_schema.role_table_grants WHERE grantee IN ('cruddur_app', 'cruddur_confirmation') "
        "GROUP BY 1, 2 ORDER BY 1, 2",
    )
    assert grants == [
        ("cruddur_app", "activities", "DELETE,INSERT,SELECT,UPDATE"),
        ("cruddur_app", "users", "DELETE,INSERT,SELECT,UPDATE"),
        ("cruddur_confirmation", "users", "INSERT,SELECT,UPDATE"),
    ]
    attrs = query(
        migrated_database_url,
        "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles "
        "WHERE rolname LIKE 'cruddur_%' ORDER BY 1",
    )
    assert attrs == [("cruddur_app", True, False, False, False, False),
                     ("cruddur_app_clone", True, False, False, False, False),
                     ("cruddur_confirmation", True, False, False, False, False)]
    # the clone holds no grant of its own: it inherits cruddur_app's (0006_app_clone_role), and nothing else
    memberships = query(
        migrated_database_url,
        "SELECT r.rolname, m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid "
        "JOIN pg_roles m ON m.oid = a.member WHERE m.rolname LIKE 'cruddur_%' ORDER BY 1, 2",
    )
    assert memberships == [("cruddur_app", "cruddur_app_clone")]


def test_rds_iam_is_granted_only_where_it_exists(own_server, tmp_path):
    admin = own_server.admin_url("postgres")
    query(admin, "SELECT 1")
    for database in ("plain", "on_rds"):
        admin_execute(admin, f"CREATE DATABASE {database}")
    migrations.apply(DbTarget(own_server.admin_url("plain")))
    member = "SELECT pg_has_role(%s, 'rds_iam', 'MEMBER')"
    # locally there is no rds_iam and the migrations still ran
    assert query(admin, "SELECT count(*) FROM pg_roles WHERE rolname = 'rds_iam'")[0][0] == 0
    admin_execute(admin, "CREATE ROLE rds_iam")  # what RDS provides
    # 0002_roles grants rds_iam to both roles ...
    up_to_roles = tmp_path / "up_to_roles"
    up_to_roles.mkdir()
    for name in ("0001_schema.sql", "0002_roles.sql"):
        (up_to_roles / name).write_text((MIGRATIONS_DIR / name).read_text())
    migrations.apply(DbTarget(own_server.admin_url("on_rds")), directory=up_to_roles)
    for role in ("cruddur_app", "cruddur_confirmation"):
        assert query(own_server.admin_url("on_rds"), member, (role,)) == [(True,)]
    # ... and 0004_app_password_login takes it back from the app, which logs in with its password
    assert "0004_app_password_login" in migrations.apply(DbTarget(own_server.admin_url("on_rds")))
    assert query(own_server.admin_url("on_rds"), member, ("cruddur_app",)) == [(False,)]
    assert query(own_server.admin_url("on_rds"), member, ("cruddur_confirmation",)) == [(True,)]
    # ... and the rotation's alternate user (0006_app_clone_role) logs in with its password too
    assert query(own_server.admin_url("on_rds"), member, ("cruddur_app_clone",)) == [(False,)]


def test_app_password_login_refuses_an_rds_iam_membership_it_cannot_revoke(own_server, tmp_path):
    """rds_iam held through another role survives REVOKE rds_iam FROM cruddur_app: the migration stops, says how
    to fix it, and leaves nothing applied."""
    admin = own_server.admin_url("postgres")
    query(admin, "SELECT 1")
    for statement in ("CREATE DATABASE on_rds", "CREATE ROLE rds_iam", "CREATE ROLE iam_users",
                      "GRANT rds_iam TO iam_users"):
        admin_execute(admin, statement)
    url = own_server.admin_url("on_rds")
    up_to_roles = tmp_path / "up_to_roles"
    up_to_roles.mkdir()
    for name in ("0001_schema.sql", "0002_roles.sql"):
        (up_to_roles / name).write_text((MIGRATIONS_DIR / name).read_text())
    migrations.apply(DbTarget(url), directory=up_to_roles)
    admin_execute(admin, "GRANT iam_users TO cruddur_app")
    from ops.errors import CruddurError

    with pytest.raises(CruddurError, match="cruddur_app is still a member of rds_iam after REVOKE rds_iam FROM "
                                           "cruddur_app, so it cannot log in with its password"):
        migrations.apply(DbTarget(url))
    assert "0004_app_password_login" in migrations.pending(DbTarget(url))
    assert query(url, "SELECT pg_has_role('cruddur_app', 'rds_iam', 'MEMBER')") == [(True,)]


def test_users_bio_is_bounded_and_optional(migrated_database_url):
    insert = ("INSERT INTO users (display_name, handle, email, cognito_user_id, bio) VALUES (%s, %s, %s, %s, %s) "
              "RETURNING bio")
    assert query(migrated_database_url, insert, ("A", "a", "a@x", "sub-a", None)) == [(None,)]
    assert query(migrated_database_url, insert, ("B", "b", "b@x", "sub-b", "")) == [("",)]
    assert query(migrated_database_url, insert, ("C", "c", "c@x", "sub-c", "é" * 1000)) == [("é" * 1000,)]
    with pytest.raises(psycopg2.errors.CheckViolation, match="users_bio_length"):
        query(migrated_database_url, insert, ("D", "d", "d@x", "sub-d", "x" * 1001))


def test_migrations_do_not_need_uuid_ossp(migrated_database_url):
    assert query(migrated_database_url, "SELECT extname FROM pg_extension ORDER BY 1") == [("plpgsql",)]
    assert query(migrated_database_url, "SELECT column_default FROM information_schema.columns "
                 "WHERE table_name = 'users' AND column_name = 'uuid'") == [("gen_random_uuid()",)]


def test_a_table_granted_to_cruddur_app_later_is_the_clones_too(migrated_database_url):
    """Grants go to cruddur_app only; the rotation's other login user sees them through its membership, for tables a
    later migration adds as well (there are no default privileges to keep in step)."""
    conn = psycopg2.connect(migrated_database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE later_feature (id int PRIMARY KEY)")
        cur.execute("GRANT SELECT, INSERT ON later_feature TO cruddur_app")
        cur.execute("SELECT has_table_privilege('cruddur_app_clone', 'later_feature', 'INSERT'), "
                    "has_table_privilege('cruddur_app_clone', 'later_feature', 'DELETE'), "
                    "has_table_privilege('cruddur_app_clone', 'users', 'UPDATE'), "
                    "pg_has_role('cruddur_app_clone', 'cruddur_app', 'SET')")
        assert cur.fetchone() == (True, False, True, False)
    conn.close()
