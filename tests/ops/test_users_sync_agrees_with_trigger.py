"""`cruddur users sync` and the post-confirmation trigger write the SAME row for the same Cognito user: one mapping
(attribute -> column) and one handle normalisation, kept in lambda/post_confirmation/handler.py.

The sync module is found through the CLI (``ops.cli.users.run_sync``), so these tests follow it wherever it lives.
"""

from __future__ import annotations

import copy
import sys

import psycopg2
import pytest

from ops.cli.users import run_sync
from tests.db_support import query
from tests.lambda_support import HANDLER_PATH, confirmation_event, load_handler_module
from tests.ops.conftest import COGNITO_REGION as REGION

sync_module = sys.modules[run_sync.__module__]

# (name, preferred_username, email): look-alikes, hostile text, and values that are refused.
CASES = {
    "plain": ("Andrew Brown", "andrewbrown", "andrew@example.com"),
    "NFD handle": ("Jos\u00e9 Example", "jose\u0301", "jose@example.com"),
    "spaces around handle": ("Spacey", "  spacey  ", "spacey@example.com"),
    "full-width handle": ("Wide", "\uff37\uff49\uff44\uff45", "wide@example.com"),
    "ligature handle": ("Fiona", "\ufb01ona", "fiona@example.com"),
    "hostile name": ("Robert'); DROP TABLE users; --", "bobby", "bobby@example.com"),
    "Cyrillic a": ("Impostor", "\u0430ndrew", "impostor@example.com"),
    "zero-width": ("Hidden", "and\u200brew", "hidden@example.com"),
    "NUL in name": ("Nul\x00l", "nully", "nul@example.com"),
}


def test_the_sync_uses_the_triggers_mapping_object():
    rules = sync_module.confirmation_rules()
    assert rules.ATTRIBUTES == (("name", "display_name"), ("preferred_username", "handle"), ("email", "email"),
                                ("sub", "cognito_user_id"))
    assert rules.__file__ == str(HANDLER_PATH)  # the very file deployed as the Lambda, not a copy
    assert rules.INSERT_USER == load_handler_module().INSERT_USER


@pytest.mark.parametrize("label", list(CASES))
def test_sync_and_trigger_turn_the_same_attributes_into_the_same_row_or_the_same_error(label):
    name, handle, email = CASES[label]
    event = confirmation_event(name=name, handle=handle, email=email)
    attributes = copy.deepcopy(event["request"]["userAttributes"])
    handler = load_handler_module()
    rules = sync_module.confirmation_rules()
    try:
        expected = handler.user_from_event(event).row()
    except handler.ConfirmationError as exc:
        with pytest.raises(rules.ConfirmationError) as caught:
            rules.user_from_attributes(attributes)
        assert (type(caught.value).__name__, str(caught.value)) == (type(exc).__name__, str(exc))
    else:
        assert rules.user_from_attributes(attributes).row() == expected


@pytest.fixture
def pool(cognito):
    client, pool_id = cognito
    subs = {}
    for label, (name, handle, email) in CASES.items():
        if "\x00" in name:
            continue  # Cognito itself does not store a NUL
        client.admin_create_user(UserPoolId=pool_id, Username=email, MessageAction="SUPPRESS", UserAttributes=[
            {"Name": "email", "Value": email}, {"Name": "name", "Value": name},
            {"Name": "preferred_username", "Value": handle}])
        client.admin_set_user_password(UserPoolId=pool_id, Username=email, Password="Str0ng!Passw0rd",
                                       Permanent=True)
        user = client.admin_get_user(UserPoolId=pool_id, Username=email)
        subs[label] = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
    return pool_id, subs


def _rows(url: str) -> dict[str, tuple]:
    return {row[3]: row for row in query(url, "SELECT display_name, handle, email, cognito_user_id FROM users")}


def test_sync_writes_exactly_the_rows_the_trigger_would_and_refuses_what_it_refuses(
        cli, pool, migrated_database_url):
    pool_id, subs = pool
    result = cli("users", "sync", "--url", migrated_database_url, "--user-pool-id", pool_id, "--region", REGION)
    assert result.exit_code == 0, result.output
    rows = _rows(migrated_database_url)
    handler = load_handler_module()
    for label, sub in subs.items():
        name, handle, email = CASES[label]
        try:
            expected = handler.user_from_event(confirmation_event(sub=sub, name=name, handle=handle, email=email))
        except handler.InvalidAttributeError as exc:
            assert sub not in rows
            assert f"failed: {sub}: preferred_username {exc.reason}" in result.stdout
        else:
            assert rows[sub] == expected.row()
    assert rows[subs["NFD handle"]][1] == "jos\u00e9"
    assert rows[subs["full-width handle"]][1] == "Wide"
    assert rows[subs["ligature handle"]][1] == "fiona"
    assert rows[subs["spaces around handle"]][1] == "spacey"
    assert ("failed: " + subs["Cyrillic a"] + ": preferred_username mixes letters from the scripts CYRILLIC, LATIN; "
            "a handle uses one script (Latin may be combined with Han, Hiragana/Katakana, Bopomofo or Hangul)"
            ) in result.stdout
    assert len(rows) == len(subs) - 2
    assert "impostor@example.com" not in result.stdout and "hidden@example.com" not in result.stdout


def test_a_look_alike_synced_beside_a_triggered_user_is_reported_as_the_same_handle(cli, pool,
                                                                                   migrated_database_url):
    pool_id, subs = pool
    conn = psycopg2.connect(migrated_database_url)
    with conn, conn.cursor() as cur:  # the trigger already recorded someone as "jos\u00e9" (NFC)
        cur.execute("INSERT INTO users (display_name, handle, email, cognito_user_id) "
                    "VALUES ('Earlier', 'jos\u00e9', 'earlier@example.com', 'earlier-sub')")
    conn.close()
    result = cli("users", "sync", "--url", migrated_database_url, "--user-pool-id", pool_id, "--region", REGION)
    assert result.exit_code == 0, result.output
    assert f"failed: {subs['NFD handle']}: handle already taken by another user" in result.stdout
