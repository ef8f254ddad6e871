"""The schema rejects what it should, cascades, serves the app's queries from indexes; roles are least privilege."""

from __future__ import annotations

import uuid

import psycopg2
import psycopg2.errors as pgerr
import pytest

from ops.db import seed
from ops.db.target import DbTarget


@pytest.fixture
def db(migrated_database_url):
    conn = psycopg2.connect(migrated_database_url)
    conn.autocommit = True
    yield conn
    conn.close()


def add_user(cur, handle="alice", cognito="sub-alice", email="alice@example.com", name="Alice"):
    cur.execute(
        "INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES (%s, %s, %s, %s) RETURNING uuid",
        (name, handle, email, cognito),
    )
    return cur.fetchone()[0]


def add_activity(cur, user_uuid, message="hello", **cols):
    names = ["user_uuid", "message", *cols]
    cur.execute(
        f"INSERT INTO activities ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))}) RETURNING uuid",
        (user_uuid, message, *cols.values()),
    )
    return cur.fetchone()[0]


def test_defaults(db):
    with db.cursor() as cur:
        uid = add_user(cur)
        aid = add_activity(cur, uid)
        cur.execute("SELECT replies_count, reposts_count, likes_count, reply_to_activity_uuid, expires_at, "
                    "created_at IS NOT NULL FROM activities WHERE uuid = %s", (aid,))
        assert cur.fetchone() == (0, 0, 0, None, None, True)
        assert uuid.UUID(str(uid)).version == 4


def test_rejects_duplicate_cognito_user_id(db):
    with db.cursor() as cur:
        add_user(cur, handle="one", cognito="same-sub")
        with pytest.raises(pgerr.UniqueViolation, match="users_cognito_user_id_key"):
            add_user(cur, handle="two", cognito="same-sub")


def test_rejects_duplicate_handle_differing_only_in_case(db):
    with db.cursor() as cur:
        add_user(cur, handle="AndrewBrown", cognito="a")
        with pytest.raises(pgerr.UniqueViolation, match="users_handle_lower_key"):
            add_user(cur, handle="andrewbrown", cognito="b")
        with pytest.raises(pgerr.UniqueViolation, match="users_handle_lower_key"):
            add_user(cur, handle="ANDREWBROWN", cognito="c")


@pytest.mark.parametrize("column", ["display_name", "handle", "email", "cognito_user_id"])
def test_users_require_every_column(db, column):
    values = {"display_name": "N", "handle": "h", "email": "e@example.com", "cognito_user_id": "s"}
    with db.cursor() as cur:
        values[column] = None
        with pytest.raises(pgerr.NotNullViolation):
            cur.execute("INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES "
                        "(%(display_name)s, %(handle)s, %(email)s, %(cognito_user_id)s)", values)
        values[column] = ""
        with pytest.raises(pgerr.CheckViolation):
            cur.execute("INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES "
                        "(%(display_name)s, %(handle)s, %(email)s, %(cognito_user_id)s)", values)


@pytest.mark.parametrize("message", ["", "   ", "\n\t"])
def test_rejects_empty_message(db, message):
    with db.cursor() as cur:
        uid = add_user(cur)
        with pytest.raises(pgerr.CheckViolation, match="activities_message_not_empty"):
            add_activity(cur, uid, message)
        with pytest.raises(pgerr.NotNullViolation):
            add_activity(cur, uid, None)


@pytest.mark.parametrize("column", ["replies_count", "reposts_count", "likes_count"])
def test_rejects_negative_counts(db, column):
    with db.cursor() as cur:
        uid = add_user(cur)
        with pytest.raises(pgerr.CheckViolation, match=f"activities_{column}_non_negative"):
            add_activity(cur, uid, **{column: -1})
        aid = add_activity(cur, uid)
        with pytest.raises(pgerr.CheckViolation):
            cur.execute(f"UPDATE activities SET {column} = {column} - 1 WHERE uuid = %s", (aid,))


def test_rejects_dangling_reply_and_unknown_user(db):
    with db.cursor() as cur:
        uid = add_user(cur)
        with pytest.raises(pgerr.ForeignKeyViolation):
            add_activity(cur, uid, reply_to_activity_uuid=str(uuid.uuid4()))
        with pytest.raises(pgerr.ForeignKeyViolation):
            add_activity(cur, str(uuid.uuid4()))
        parent = add_activity(cur, uid)
        reply = add_activity(cur, uid, "a reply", reply_to_activity_uuid=parent)
        cur.execute("SELECT reply_to_activity_uuid FROM activities WHERE uuid = %s", (reply,))
        assert cur.fetchone()[0] == parent


def test_rejects_expiry_before_creation(db):
    with db.cursor() as cur:
        uid = add_user(cur)
        with pytest.raises(pgerr.CheckViolation, match="activities_expires_after_created"):
            cur.execute("INSERT INTO activities (user_uuid, message, expires_at) VALUES (%s, 'x', now() - interval '1 day')",
                        (uid,))


def test_deleting_a_user_cascades_to_activities_and_replies(db):
    with db.cursor() as cur:
        alice = add_user(cur)
        bob = add_user(cur, handle="bob", cognito="sub-bob", email="bob@example.com")
        post = add_activity(cur, alice, "alice's post")
        add_activity(cur, bob, "bob replies", reply_to_activity_uuid=post)
        bobs_own = add_activity(cur, bob, "bob's own post")
        cur.execute("DELETE FROM users WHERE uuid = %s", (alice,))
        cur.execute("SELECT uuid FROM activities")
        assert [r[0] for r in cur.fetchall()] == [bobs_own]


def _plan(cur, sql, params):
    cur.execute("EXPLAIN " + sql, params)
    return "\n".join(r[0] for r in cur.fetchall())


def test_feed_timeline_and_replies_use_indexes(migrated_database_url):
    seed.load(DbTarget(migrated_database_url), users=20, activities=20_000)  # ~1000 activities per user
    conn = psycopg2.connect(migrated_database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT user_uuid FROM activities LIMIT 1")
            user = cur.fetchone()[0]
        seed.load(DbTarget(migrated_database_url), users=3_000, activities=0)  # enough users for the handle index to pay
        with conn.cursor() as cur:
            cur.execute("SELECT uuid FROM activities LIMIT 1")
            activity = cur.fetchone()[0]
            home = _plan(cur, "SELECT uuid, message FROM activities ORDER BY created_at DESC LIMIT 20", ())
            assert "activities_created_at_idx" in home and "Sort" not in home
            timeline = _plan(cur, "SELECT uuid, message FROM activities WHERE user_uuid = %s "
                                  "ORDER BY created_at DESC LIMIT 20", (user,))
            assert "activities_user_uuid_created_at_idx" in timeline and "Sort" not in timeline
            replies = _plan(cur, "SELECT uuid FROM activities WHERE reply_to_activity_uuid = %s ORDER BY created_at",
                            (activity,))
            assert "activities_reply_to_created_at_idx" in replies
            by_handle = _plan(cur, "SELECT uuid FROM users WHERE lower(handle) = lower(%s)", ("Bayko",))
            assert "users_handle_lower_key" in by_handle
    finally:
        conn.close()


def test_confirmation_role_can_upsert_users_and_nothing_else(migrated_database_url, role_url):
    conn = psycopg2.connect(role_url(migrated_database_url, "cruddur_confirmation"))
    conn.autocommit = True
    upsert = ("INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES (%s, %s, %s, %s) "
              "ON CONFLICT (cognito_user_id) DO UPDATE SET email = EXCLUDED.email RETURNING uuid")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone()[0] == "cruddur_confirmation"
            cur.execute(upsert, ("Ann", "ann", "ann@example.com", "sub-ann"))
            first = cur.fetchone()[0]
            cur.execute(upsert, ("Ann", "ann", "ann2@example.com", "sub-ann"))
            assert cur.fetchone()[0] == first
            cur.execute("INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES ('A','ann','a@x','sub-ann') "
                        "ON CONFLICT (cognito_user_id) DO NOTHING")
            assert cur.rowcount == 0
            for forbidden in (
                "DELETE FROM users",
                "TRUNCATE users",
                "SELECT count(*) FROM activities",
                "INSERT INTO activities (user_uuid, message) SELECT uuid, 'x' FROM users",
                "CREATE TABLE sneaky (id int)",
                "ALTER TABLE users ADD COLUMN x int",
                "SELECT count(*) FROM _yoyo_migration",
            ):
                with pytest.raises(pgerr.InsufficientPrivilege):
                    cur.execute(forbidden)
    finally:
        conn.close()


def test_app_role_reads_and_writes_rows_but_no_ddl(migrated_database_url, role_url):
    conn = psycopg2.connect(role_url(migrated_database_url, "cruddur_app"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            uid = add_user(cur, handle="appuser", cognito="sub-app")
            aid = add_activity(cur, uid, "from the app")
            cur.execute("UPDATE activities SET likes_count = likes_count + 1 WHERE uuid = %s", (aid,))
            cur.execute("DELETE FROM activities WHERE uuid = %s", (aid,))
            assert cur.rowcount == 1
            for forbidden in ("TRUNCATE activities", "CREATE TABLE sneaky (id int)", "DROP TABLE users",
                              "ALTER TABLE users ADD COLUMN x int", "DELETE FROM _yoyo_migration"):
                with pytest.raises((pgerr.InsufficientPrivilege, pgerr.UndefinedTable)):
                    cur.execute(forbidden)
    finally:
        conn.close()


def test_seed_is_idempotent_and_has_the_bootcamp_examples(migrated_database_url):
    first = seed.seed(DbTarget(migrated_database_url))
    assert (first.users, first.activities) == (3, 4)
    again = seed.seed(DbTarget(migrated_database_url))
    assert (again.users, again.activities) == (0, 0)
    conn = psycopg2.connect(migrated_database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT display_name, handle, email FROM users ORDER BY handle")
            rows = cur.fetchall()
            assert ("Andrew Brown", "andrewbrown", "andrew@example.com") in rows
            assert ("Andrew Bayko", "bayko", "bayko@example.com") in rows
            cur.execute("SELECT u.handle, a.expires_at > now() FROM activities a JOIN users u ON u.uuid = a.user_uuid "
                        "WHERE a.message = 'This was imported as seed data!'")
            assert cur.fetchall() == [("andrewbrown", True)]
            cur.execute("SELECT replies_count FROM activities WHERE message = 'This was imported as seed data!'")
            assert cur.fetchone()[0] == 1
    finally:
        conn.close()


def test_seed_skips_a_seed_user_someone_signed_up_as_and_that_users_activities(migrated_database_url):
    """A developer who signed up locally as andrewbrown (another uuid) keeps that account, and `local up` (which
    seeds every time) goes on: the seed's andrewbrown, their post and the reply to it are skipped, not a foreign-key
    error."""
    conn = psycopg2.connect(migrated_database_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES "
                        "('Real Andrew', 'andrewbrown', 'real@example.com', 'sub-real') RETURNING uuid")
            real = cur.fetchone()[0]
        result = seed.seed(DbTarget(migrated_database_url))
        assert (result.users, result.activities) == (2, 2)
        with conn.cursor() as cur:
            cur.execute("SELECT handle, uuid::text, email FROM users WHERE handle = 'andrewbrown'")
            assert cur.fetchall() == [("andrewbrown", str(real), "real@example.com")]
            cur.execute("SELECT u.handle, a.message FROM activities a JOIN users u ON u.uuid = a.user_uuid "
                        "ORDER BY a.message")
            assert cur.fetchall() == [("bayko", "I am the other Andrew, also from the seed."),
                                      ("londo", "Lorem ipsum dolor sit amet, consectetur adipiscing elit.")]
        again = seed.seed(DbTarget(migrated_database_url))
        assert (again.users, again.activities) == (0, 0)
    finally:
        conn.close()
