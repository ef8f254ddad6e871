"""The Cruddur backend's queries, run as ``cruddur_app`` against the migrated schema.

The shapes follow the bootcamp backend's ``backend-flask/db/sql`` files (omenking/aws-bootcamp-cruddur-2023), written
out here in this project's formatting with the same tables, columns, joins, clauses and ``%(name)s`` parameters:
``activities/{home,create,object,reply,show}.sql`` and ``users/{show,short,update,uuid_from_cognito_user_id,
create_message_users}.sql``, wrapped as the backend's ``lib/db.py`` wraps them (``query_object_json``,
``query_array_json``, ``query_commit`` with ``RETURNING``). One deliberate difference: the bootcamp's
``create_message_users.sql`` ends its ``IN (...)`` list with a trailing comma, a syntax error in PostgreSQL; it is
run here without it. ``users/short.sql`` and ``activities/reply.sql`` are taken from the bootcamp's week-8 notes
(the repository snapshot searched did not hold them).

The app may read and write rows and nothing else: every DDL statement (and TRUNCATE) is refused.
"""

from __future__ import annotations

import datetime as dt
import secrets

import psycopg2
import psycopg2.errors
import pytest
from psycopg2 import sql
from psycopg2.extensions import encrypt_password

from ops.urls import build_url, parse


# lib/db.py's wrappers: one JSON object, or a JSON array of rows
def object_json(template: str) -> str:
    return f"(SELECT COALESCE(row_to_json(object_row), '{{}}'::json) FROM (\n{template}\n) object_row);"


def array_json(template: str) -> str:
    return (f"(SELECT COALESCE(array_to_json(array_agg(row_to_json(array_row))), '[]'::json) FROM (\n{template}\n)"
            " array_row);")


ACTIVITIES_HOME = """
SELECT activities.uuid, users.display_name, users.handle, activities.message, activities.replies_count,
       activities.reposts_count, activities.likes_count, activities.expires_at, activities.created_at
FROM public.activities
LEFT JOIN public.users ON users.uuid = activities.user_uuid
ORDER BY activities.created_at DESC"""

ACTIVITIES_CREATE = """
INSERT INTO public.activities (user_uuid, message, expires_at)
VALUES ((SELECT uuid FROM public.users WHERE users.cognito_user_id = %(cognito_user_id)s LIMIT 1),
        %(message)s, %(expires_at)s)
RETURNING uuid;"""

ACTIVITIES_OBJECT = """
SELECT activities.uuid, users.display_name, users.handle, activities.message, activities.created_at,
       activities.expires_at, activities.reply_to_activity_uuid
FROM public.activities
INNER JOIN public.users ON users.uuid = activities.user_uuid
WHERE activities.uuid = %(uuid)s"""

ACTIVITIES_REPLY = """
INSERT INTO public.activities (user_uuid, message, reply_to_activity_uuid)
VALUES ((SELECT uuid FROM public.users WHERE users.cognito_user_id = %(cognito_user_id)s LIMIT 1),
        %(message)s, %(reply_to_activity_uuid)s)
RETURNING uuid;"""

ACTIVITIES_SHOW = """
SELECT activities.uuid, users.display_name, users.handle, activities.message, activities.replies_count,
       activities.reposts_count, activities.likes_count, activities.expires_at, activities.created_at,
       (SELECT COALESCE(array_to_json(array_agg(row_to_json(array_row))), '[]'::json) FROM (
          SELECT replies.uuid, reply_users.display_name, reply_users.handle, replies.message, replies.replies_count,
                 replies.reposts_count, replies.likes_count, replies.reply_to_activity_uuid, replies.created_at
          FROM public.activities replies
          LEFT JOIN public.users reply_users ON reply_users.uuid = replies.user_uuid
          WHERE replies.reply_to_activity_uuid = activities.uuid
          ORDER BY activities.created_at ASC
        ) array_row) AS replies
FROM public.activities
LEFT JOIN public.users ON users.uuid = activities.user_uuid
WHERE activities.uuid = %(uuid)s
ORDER BY activities.created_at DESC"""

USERS_SHOW = """
SELECT
  (SELECT COALESCE(row_to_json(object_row), '{}'::json) FROM (
     SELECT users.uuid, users.handle, users.display_name, users.bio,
            (SELECT count(true) FROM public.activities WHERE activities.user_uuid = users.uuid) AS cruds_count
   ) object_row) AS profile,
  (SELECT COALESCE(array_to_json(array_agg(row_to_json(array_row))), '[]'::json) FROM (
     SELECT activities.uuid, users.display_name, users.handle, activities.message, activities.created_at,
            activities.expires_at
     FROM public.activities
     WHERE activities.user_uuid = users.uuid
     ORDER BY activities.created_at DESC
     LIMIT 40
   ) array_row) AS activities
FROM public.users
WHERE users.handle = %(handle)s"""

USERS_SHORT = """
SELECT users.uuid, users.handle, users.display_name
FROM public.users
WHERE users.handle = %(handle)s"""

USERS_UPDATE = """
UPDATE public.users
SET bio = %(bio)s, display_name = %(display_name)s
WHERE users.cognito_user_id = %(cognito_user_id)s
RETURNING handle;"""

USERS_UUID_FROM_COGNITO_USER_ID = """
SELECT users.uuid
FROM public.users
WHERE users.cognito_user_id = %(cognito_user_id)s
LIMIT 1"""

USERS_CREATE_MESSAGE_USERS = """
SELECT users.uuid, users.display_name, users.handle
FROM users
WHERE users.handle IN (%(user_sender_handle)s, %(user_receiver_handle)s)"""


def clone_url(database_url: str) -> str:
    """cruddur_app_clone with a fresh password (set as the rotation sets it: a SCRAM verifier, by the admin)."""
    password = secrets.token_urlsafe(24)
    admin = psycopg2.connect(database_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        verifier = encrypt_password(password, "cruddur_app_clone", admin, "scram-sha-256")
        cur.execute(sql.SQL("ALTER ROLE cruddur_app_clone PASSWORD {}").format(sql.Literal(verifier)))
    admin.close()
    info = parse(database_url)
    return build_url("cruddur_app_clone", password, info.host, info.port, info.database, **info.params)


# The app logs in as either user of the rotation's pair (sql/migrations/0006_app_clone_role.sql): the privileges
# belong to cruddur_app, and cruddur_app_clone inherits them.
@pytest.fixture(params=["cruddur_app", "cruddur_app_clone"])
def app(request, migrated_database_url, role_url):
    """A cursor as either app user (autocommit, as the backend's pool commits each query), with two users in place
    (the confirmation trigger inserts them in production)."""
    admin = psycopg2.connect(migrated_database_url)
    with admin, admin.cursor() as cur:
        cur.execute("INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES "
                    "('Andrew Brown', 'andrewbrown', 'andrew@example.com', 'sub-andrew'), "
                    "('Andrew Bayko', 'bayko', 'bayko@example.com', 'sub-bayko')")
    admin.close()
    user = request.param
    url = role_url(migrated_database_url, user) if user == "cruddur_app" else clone_url(migrated_database_url)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone()[0] == user
        yield cur
    conn.close()


def test_the_app_creates_replies_to_and_shows_activities(app):
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=7)
    app.execute(ACTIVITIES_CREATE, {"cognito_user_id": "sub-andrew", "message": "Cloud is fun!", "expires_at": expires})
    activity = app.fetchone()[0]
    app.execute(object_json(ACTIVITIES_OBJECT), {"uuid": str(activity)})
    created = app.fetchone()[0]
    assert (created["uuid"], created["handle"], created["display_name"], created["message"]) == (
        str(activity), "andrewbrown", "Andrew Brown", "Cloud is fun!")
    assert created["reply_to_activity_uuid"] is None and created["expires_at"] is not None

    app.execute(ACTIVITIES_REPLY, {"cognito_user_id": "sub-bayko", "message": "It is!",
                                   "reply_to_activity_uuid": str(activity)})
    reply = app.fetchone()[0]
    app.execute(object_json(ACTIVITIES_OBJECT), {"uuid": str(reply)})
    assert app.fetchone()[0]["reply_to_activity_uuid"] == str(activity)

    app.execute(array_json(ACTIVITIES_HOME))
    home = app.fetchone()[0]
    assert [(a["handle"], a["message"]) for a in home] == [("bayko", "It is!"), ("andrewbrown", "Cloud is fun!")]
    assert home[1]["replies_count"] == 0 and home[1]["likes_count"] == 0

    app.execute(array_json(ACTIVITIES_SHOW), {"uuid": str(activity)})
    (shown,) = app.fetchone()[0]
    assert shown["message"] == "Cloud is fun!"
    assert [(r["handle"], r["message"], r["reply_to_activity_uuid"]) for r in shown["replies"]] == [
        ("bayko", "It is!", str(activity))]


def test_the_app_reads_and_updates_profiles(app):
    app.execute(ACTIVITIES_CREATE, {"cognito_user_id": "sub-andrew", "message": "one", "expires_at": None})
    app.execute(USERS_UPDATE, {"bio": "Cloud guy", "display_name": "Andrew B.", "cognito_user_id": "sub-andrew"})
    assert app.fetchone() == ("andrewbrown",)

    app.execute(object_json(USERS_SHORT), {"handle": "andrewbrown"})
    short = app.fetchone()[0]
    assert (short["handle"], short["display_name"]) == ("andrewbrown", "Andrew B.")

    app.execute(USERS_SHOW, {"handle": "andrewbrown"})
    profile, activities = app.fetchone()
    assert (profile["handle"], profile["display_name"], profile["bio"], profile["cruds_count"]) == (
        "andrewbrown", "Andrew B.", "Cloud guy", 1)
    assert [a["message"] for a in activities] == ["one"]

    app.execute(USERS_SHOW, {"handle": "bayko"})
    profile, activities = app.fetchone()
    assert (profile["bio"], profile["cruds_count"], activities) == (None, 0, [])


def test_the_app_looks_users_up(app):
    app.execute(USERS_UUID_FROM_COGNITO_USER_ID, {"cognito_user_id": "sub-bayko"})
    (bayko,) = app.fetchone()
    app.execute(array_json(USERS_CREATE_MESSAGE_USERS),
                {"user_sender_handle": "andrewbrown", "user_receiver_handle": "bayko"})
    users = {u["handle"]: u for u in app.fetchone()[0]}
    assert set(users) == {"andrewbrown", "bayko"} and users["bayko"]["uuid"] == str(bayko)
    assert users["andrewbrown"]["display_name"] == "Andrew Brown"
    app.execute(USERS_UUID_FROM_COGNITO_USER_ID, {"cognito_user_id": "sub-nobody"})
    assert app.fetchone() is None


@pytest.mark.parametrize("statement", [
    "CREATE TABLE sneaky (id int)",
    "CREATE INDEX sneaky_idx ON users (email)",
    "ALTER TABLE users ADD COLUMN x int",
    "ALTER TABLE users DROP COLUMN bio",
    "DROP TABLE activities",
    "TRUNCATE users",
    "TRUNCATE activities",
    "CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "ALTER ROLE cruddur_app CREATEDB",
    "ALTER ROLE cruddur_app_clone CREATEDB",
    "GRANT cruddur_app TO cruddur_confirmation",
])
def test_the_app_can_change_no_schema(app, statement):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        app.execute(statement)


def test_the_app_can_grant_nothing(app):
    # PostgreSQL answers a GRANT without the grant option with a warning, not an error: check that nothing changed
    app.execute("GRANT SELECT ON activities TO cruddur_confirmation")
    assert any("no privileges were granted" in notice for notice in app.connection.notices)
    app.execute("SELECT has_table_privilege('cruddur_confirmation', 'activities', 'SELECT')")
    assert app.fetchone() == (False,)


def test_the_clone_cannot_become_cruddur_app(migrated_database_url):
    """It inherits cruddur_app's privileges and nothing more: no SET ROLE (granted WITH SET FALSE)."""
    conn = psycopg2.connect(clone_url(migrated_database_url))
    conn.autocommit = True
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("SET ROLE cruddur_app")
    finally:
        conn.close()
