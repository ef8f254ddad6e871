"""The names the settings refuse because PostgreSQL or the migrations own them, held to a real server."""

from __future__ import annotations

import re

import psycopg2
import psycopg2.errors
import pytest
from psycopg2 import sql

from components.settings import MIGRATION_ROLES, PG_RESERVED_ROLE_NAMES, PG_RESERVED_WORDS
from ops.paths import PROJECT_ROOT


def test_embedded_reserved_words_match_the_servers_pg_get_keywords(pg_server):
    with psycopg2.connect(pg_server.admin_url()) as conn, conn.cursor() as cur:
        cur.execute("SELECT word FROM pg_get_keywords() WHERE catcode = 'R'")
        server = {word for (word,) in cur.fetchall()}
        cur.execute("SHOW server_version_num")
        (version,) = cur.fetchone()
    conn.close()
    assert int(version) >= 160000  # system_user became reserved in 16, the oldest major the settings allow
    assert server == set(PG_RESERVED_WORDS)


def test_reserved_role_names_are_the_ones_the_server_refuses(pg_server):
    """CREATE ROLE refuses each of them, on a real server; a new one the settings forgot would be created."""
    with psycopg2.connect(pg_server.admin_url()) as conn, conn.cursor() as cur:
        for name in PG_RESERVED_ROLE_NAMES:
            cur.execute("SAVEPOINT try_role")
            with pytest.raises(psycopg2.errors.ReservedName):
                cur.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(name)))
            cur.execute("ROLLBACK TO SAVEPOINT try_role")
        conn.rollback()
    conn.close()


def test_migration_roles_are_every_role_the_migrations_create(migrated_database_url):
    """Every cruddur_* role named in sql/migrations that exists once they ran is in MIGRATION_ROLES, and no other."""
    named = set(re.findall(r"\bcruddur_[a-z_]+\b", "".join(
        p.read_text() for p in (PROJECT_ROOT / "sql" / "migrations").glob("*.sql"))))
    with psycopg2.connect(migrated_database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (sorted(named),))
        created = {name for (name,) in cur.fetchall()}
    conn.close()
    assert created == set(MIGRATION_ROLES)
