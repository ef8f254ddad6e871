"""`cruddur users sync` against moto's Cognito and a real database."""

from __future__ import annotations

import boto3
import psycopg2
import pytest

from tests.db_support import query
from tests.ops.conftest import COGNITO_REGION as REGION

CONFIRMED = 64  # more than one page of list_users (60)


def attrs(**values):
    return [{"Name": k, "Value": v} for k, v in values.items()]


@pytest.fixture
def pool(cognito):
    client, pool_id = cognito
    subs = {}
    for i in range(CONFIRMED):
        name = f"user{i:02d}@example.com"
        client.admin_create_user(UserPoolId=pool_id, Username=name, MessageAction="SUPPRESS",
                                 UserAttributes=attrs(email=name, name=f"User {i}", preferred_username=f"handle{i:02d}"))
        client.admin_set_user_password(UserPoolId=pool_id, Username=name, Password="Str0ng!Passw0rd", Permanent=True)
    # unconfirmed: created but never set a password (FORCE_CHANGE_PASSWORD)
    client.admin_create_user(UserPoolId=pool_id, Username="pending@example.com", MessageAction="SUPPRESS",
                             UserAttributes=attrs(email="pending@example.com", name="Pending", preferred_username="pending"))
    # confirmed but missing preferred_username
    client.admin_create_user(UserPoolId=pool_id, Username="nohandle@example.com", MessageAction="SUPPRESS",
                             UserAttributes=attrs(email="nohandle@example.com", name="No Handle"))
    client.admin_set_user_password(UserPoolId=pool_id, Username="nohandle@example.com", Password="Str0ng!Passw0rd",
                                   Permanent=True)
    for user in client.get_paginator("list_users").paginate(UserPoolId=pool_id).build_full_result()["Users"]:
        subs[user["Username"]] = next(a["Value"] for a in user["Attributes"] if a["Name"] == "sub")
    return pool_id, subs


def users(url):
    return query(url, "SELECT cognito_user_id, display_name, handle, email FROM users ORDER BY handle")


def row(text, label):
    line = next(ln for ln in text.splitlines() if label in ln)
    return int(line.split("│")[-2].strip())


def test_sync_inserts_missing_confirmed_users(cli, pool, migrated_database_url):
    pool_id, subs = pool
    # user03 was inserted by the trigger already; the others were lost.
    conn = psycopg2.connect(migrated_database_url)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES (%s, %s, %s, %s)",
                    ("User 3", "handle03", "user03@example.com", subs["user03@example.com"]))
    conn.close()
    args = ("users", "sync", "--url", migrated_database_url, "--user-pool-id", pool_id, "--region", REGION)

    dry = cli(*args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert row(dry.stdout, "would insert") == CONFIRMED - 1
    assert len(users(migrated_database_url)) == 1  # nothing changed

    real = cli(*args)
    assert real.exit_code == 0, real.output
    assert row(real.stdout, "listed in Cognito") == CONFIRMED + 2
    assert row(real.stdout, "unconfirmed") == 1
    assert row(real.stdout, "already in users") == 1
    assert row(real.stdout, "inserted") == CONFIRMED - 1
    assert row(real.stdout, "missing attributes") == 1
    assert f"missing attributes: {subs['nohandle@example.com']}: preferred_username" in real.stdout
    assert "nohandle@example.com" not in real.stdout  # users are reported by sub, not by email
    rows = users(migrated_database_url)
    assert len(rows) == CONFIRMED
    assert (subs["user42@example.com"], "User 42", "handle42", "user42@example.com") in rows
    assert subs["pending@example.com"] not in {r[0] for r in rows}

    again = cli(*args)
    assert row(again.stdout, "inserted") == 0 and row(again.stdout, "already in users") == CONFIRMED
    assert len(users(migrated_database_url)) == CONFIRMED


def test_sync_reports_a_handle_taken_by_someone_else(cli, pool, migrated_database_url):
    pool_id, subs = pool
    conn = psycopg2.connect(migrated_database_url)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO users (display_name, handle, email, cognito_user_id) "
                    "VALUES ('Squatter', 'HANDLE07', 'sq@example.com', 'another-sub')")
    conn.close()
    result = cli("users", "sync", "--url", migrated_database_url, "--user-pool-id", pool_id, "--region", REGION)
    assert result.exit_code == 0, result.output
    assert row(result.stdout, "failed") == 1 and row(result.stdout, "inserted") == CONFIRMED - 1
    assert f"failed: {subs['user07@example.com']}: handle already taken by another user" in result.stdout


def test_sync_with_a_stack_uses_its_pool_region_and_url(cli, fake_pulumi, pool):
    result = cli("users", "sync", "-s", "dev", "--dry-run")
    # moto has no pool with the recorded id: a clear one-line error, no traceback
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot list the users of pool eu-west-1_AbCdEfGhI: ResourceNotFoundException")
    assert result.stderr.count("\n") == 1


def test_sync_needs_a_pool_and_region(cli, migrated_database_url):
    no_pool = cli("users", "sync", "--url", migrated_database_url)
    assert no_pool.exit_code == 2 and "no user pool: pass -s STACK or --user-pool-id" in no_pool.stderr
    no_region = cli("users", "sync", "--url", migrated_database_url, "--user-pool-id", "p",
                    env={"AWS_DEFAULT_REGION": None})
    assert no_region.exit_code == 2 and "no AWS region" in no_region.stderr


def test_listing_follows_pagination(pool):
    from ops.stack.cognito_sync import list_cognito_users

    pool_id, subs = pool
    client = boto3.client("cognito-idp", region_name=REGION)
    calls = []
    client.meta.events.register("provide-client-params.cognito-idp.ListUsers", lambda params, **kw: calls.append(dict(params)))
    listed = list(list_cognito_users(client, pool_id))
    assert len(listed) == CONFIRMED + 2 == len(subs)
    assert len(calls) == 2 and calls[0]["Limit"] == 60 and "PaginationToken" in calls[1]
