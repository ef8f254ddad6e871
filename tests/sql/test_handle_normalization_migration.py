"""Migration 0005: handles in one normal form in the schema, for every writer; existing rows survive."""

from __future__ import annotations

import shutil

import psycopg2
import psycopg2.errors
import pytest

from ops.db import migrations
from ops.db.target import DbTarget
from ops.errors import CruddurError
from ops.paths import MIGRATIONS_DIR
from tests.db_support import query

MIGRATION = "0005_handle_normalization"
# Migrations that build on 0005 (its normal form): left out with it, and applied after it.
AFTER = ["0007_handle_lookalikes"]


def _insert(url: str, handle: str, sub: str | None = None) -> None:
    query(url, "INSERT INTO users (display_name, handle, email, cognito_user_id) "
               "VALUES ('Someone', %s, 'someone@example.com', coalesce(%s, gen_random_uuid()::text))", (handle, sub))


def _rows(url: str) -> list[tuple]:
    return query(url, "SELECT cognito_user_id, uuid, handle FROM users ORDER BY cognito_user_id")


def refusal(url: str) -> str:
    """The message the migration stops with (a CruddurError: the run is rolled back)."""
    with pytest.raises(CruddurError) as caught:
        migrations.apply(DbTarget(url))
    return str(caught.value)


@pytest.fixture
def before_0005(empty_database_url, tmp_path) -> str:
    """A database migrated with every migration except 0005 and those after it that build on it (as a server that has
    run the older ones)."""
    folder = tmp_path / "older"
    folder.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if path.stem not in (MIGRATION, *AFTER):
            shutil.copy(path, folder / path.name)
    migrations.apply(DbTarget(empty_database_url), directory=folder)
    assert migrations.pending(DbTarget(empty_database_url)) == [MIGRATION, *AFTER]
    return empty_database_url


# -- every writer meets the rule ----------------------------------------------------------------------------------
@pytest.mark.parametrize("handle, constraint", [
    ("jose\u0301", "users_handle_normalized"),           # NFD
    (" jos\u00e9", "users_handle_normalized"),           # leading space
    ("jos\u00e9 ", "users_handle_normalized"),           # trailing space
    ("\uff4a\uff4f\uff53\u00e9", "users_handle_normalized"),  # full-width
    ("\ufb01ona", "users_handle_normalized"),             # ligature
    ("jo\u200bs\u00e9", "users_handle_visible"),          # zero-width space (NFKC keeps it)
    ("jo\u200ds\u00e9", "users_handle_visible"),          # zero-width joiner
    ("jo\u2060s\u00e9", "users_handle_visible"),          # word joiner
    ("\ufeffjos\u00e9", "users_handle_visible"),          # byte-order mark
    ("jo\u00ads\u00e9", "users_handle_visible"),          # soft hyphen
])
def test_the_schema_refuses_a_handle_that_is_not_in_normal_form(migrated_database_url, handle, constraint):
    with pytest.raises(psycopg2.errors.CheckViolation) as caught:
        _insert(migrated_database_url, handle)
    assert caught.value.diag.constraint_name == constraint
    assert _rows(migrated_database_url) == []


def test_normalised_handles_stay_unique_regardless_of_case(migrated_database_url):
    _insert(migrated_database_url, "jos\u00e9")
    _insert(migrated_database_url, "fiona")
    for taken in ("JOS\u00c9", "Jos\u00e9", "FIONA"):
        with pytest.raises(psycopg2.errors.UniqueViolation) as caught:
            _insert(migrated_database_url, taken)
        assert caught.value.diag.constraint_name == "users_handle_lower_key"
    assert len(_rows(migrated_database_url)) == 2


# -- existing rows --------------------------------------------------------------------------------------------------
def test_existing_rows_survive_and_their_handles_are_normalised(before_0005):
    existing = {"a": " jos\u00e9 ", "b": "\uff26\uff49\uff4f\uff4e\uff41", "c": "\ufb01ve", "d": "andrewbrown",
                "e": "\u540d\u524d"}
    for sub, handle in existing.items():
        _insert(before_0005, handle, sub)
    before = _rows(before_0005)

    assert migrations.apply(DbTarget(before_0005)) == [MIGRATION, *AFTER]

    after = _rows(before_0005)
    assert [(sub, uuid) for sub, uuid, _ in after] == [(sub, uuid) for sub, uuid, _ in before]  # same rows
    assert [handle for _, _, handle in after] == ["jos\u00e9", "Fiona", "five", "andrewbrown", "\u540d\u524d"]


@pytest.mark.parametrize("first, second", [("jos\u00e9", "jose\u0301"), ("fiona", "\ufb01ona"),
                                            ("Bob", " bob"), ("abc", "\uff21\uff22\uff23")])
def test_handles_that_would_merge_stop_the_migration_with_a_clear_message(before_0005, first, second):
    _insert(before_0005, first, "first")
    _insert(before_0005, second, "second")
    before = _rows(before_0005)

    assert refusal(before_0005).endswith(
        "(rolled back): 1 handle(s) belong to more than one user once normalised (NFKC, spaces trimmed, any case); "
        "rename all but one user of each, then migrate again")
    assert _rows(before_0005) == before  # nothing changed
    assert migrations.pending(DbTarget(before_0005)) == [MIGRATION, *AFTER]


@pytest.mark.parametrize(("handle", "problem"), [
    ("jo\u200bs\u00e9", "hold an invisible or control character; rename those users"),
    ("   ", "are only spaces; give those users a handle"),
], ids=["invisible-character", "blank"])
def test_an_existing_handle_with_no_normal_form_stops_the_migration(before_0005, handle, problem):
    _insert(before_0005, handle, "bad")
    assert refusal(before_0005).endswith(f"(rolled back): 1 handle(s) {problem}, then migrate again")
    assert [stored for _, _, stored in _rows(before_0005)] == [handle]  # the row is kept as it was
    assert migrations.pending(DbTarget(before_0005)) == [MIGRATION, *AFTER]
