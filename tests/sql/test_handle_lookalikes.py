"""Migration 0007: handles unique under case folding and Unicode's confusables skeleton (UTS #39), for every writer;
the SQL ``handle_key`` is the generator's reference on every entry of its table."""

from __future__ import annotations

import importlib.util
import shutil

import psycopg2
import psycopg2.errors
import pytest

from ops.db import migrations
from ops.db.target import DbTarget
from ops.errors import CruddurError
from ops.paths import MIGRATIONS_DIR, PROJECT_ROOT
from tests.db_support import query

MIGRATION = "0007_handle_lookalikes"
_spec = importlib.util.spec_from_file_location("handle_lookalikes", PROJECT_ROOT / "sql" / "tools" /
                                               "handle_lookalikes.py")
generator = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generator)
TABLE = generator.table_of_migration()


def _insert(url: str, handle: str) -> None:
    query(url, "INSERT INTO users (display_name, handle, email, cognito_user_id) "
               "VALUES ('Someone', %s, 'someone@example.com', gen_random_uuid()::text)", (handle,))


def test_the_sql_key_is_the_references_on_every_entry_of_the_table(migrated_database_url):
    chars = sorted(TABLE)
    samples = [*chars, "alice", "аlісе", "АLІСЕ", "Straße", "rnodern", "jos\u00e9", "用户", "ali\u0301ce", "x" * 300]
    found = query(migrated_database_url, "SELECT c, handle_key(c) FROM unnest(%s::text[]) WITH ORDINALITY AS t(c, n) "
                                         "ORDER BY n", (samples,))
    assert [key for _, key in found] == [generator.key(s, TABLE) for s in samples]
    assert len(TABLE) > 4000 and generator.key("аlісе", TABLE) == generator.key("alice", TABLE) == "alice"


@pytest.mark.parametrize("existing,lookalike", [
    ("alice", "\u0430l\u0456\u0441\u0435"),        # all Cyrillic: а l і с е
    ("alice", "\u0410L\u0406\u0421\u0415"),        # upper-case Cyrillic and Latin L
    ("alice", "ALICE"),
    ("paypal", "\u0440\u0430\u0443\u0440\u0430l"),  # Cyrillic р а у р а and Latin l
    ("modern", "rnodern"),
    ("strasse", "stra\u00dfe"),                    # case folding: ß is ss
    ("bob0", "bobo"),
    ("\u0430l\u0456\u0441\u0435", "alice"),        # whichever came first keeps it
])
def test_a_lookalike_of_an_existing_handle_is_refused_by_the_schema(migrated_database_url, existing, lookalike):
    _insert(migrated_database_url, existing)
    with pytest.raises(psycopg2.errors.UniqueViolation) as caught:
        _insert(migrated_database_url, lookalike)
    assert caught.value.diag.constraint_name in ("users_handle_lookalike_key", "users_handle_lower_key")


def test_handles_that_only_share_letters_are_different(migrated_database_url):
    for handle in ("alice", "alicia", "al1ce_x", "用户", "ユーザー", "사용자", "Ελένη", "Олена"):
        _insert(migrated_database_url, handle)
    assert len(query(migrated_database_url, "SELECT handle FROM users")) == 8


def test_existing_lookalikes_stop_the_migration_before_it_changes_anything(empty_database_url, tmp_path):
    folder = tmp_path / "older"
    folder.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if path.stem != MIGRATION:
            shutil.copy(path, folder / path.name)
    migrations.apply(DbTarget(empty_database_url), directory=folder)
    _insert(empty_database_url, "alice")
    _insert(empty_database_url, "\u0430l\u0456\u0441\u0435")
    with pytest.raises(CruddurError) as caught:
        migrations.apply(DbTarget(empty_database_url))
    assert ("1 handle(s) look alike (the same once case-folded and reduced to their confusables skeleton); rename all "
            "but one user of each, then migrate again") in str(caught.value)
    assert migrations.pending(DbTarget(empty_database_url)) == [MIGRATION]
    assert query(empty_database_url, "SELECT to_regproc('handle_key')") == [(None,)]
