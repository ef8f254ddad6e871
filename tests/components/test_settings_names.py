"""The PostgreSQL reserved words the settings refuse as names are exactly the real server's."""

from __future__ import annotations

import psycopg2

from components.settings import PG_RESERVED_WORDS


def test_embedded_reserved_words_match_the_servers_pg_get_keywords(pg_server):
    with psycopg2.connect(pg_server.admin_url()) as conn, conn.cursor() as cur:
        cur.execute("SELECT word FROM pg_get_keywords() WHERE catcode = 'R'")
        server = {word for (word,) in cur.fetchall()}
        cur.execute("SHOW server_version_num")
        (version,) = cur.fetchone()
    conn.close()
    assert int(version) >= 160000  # system_user became reserved in 16, the oldest major the settings allow
    assert server == set(PG_RESERVED_WORDS)
