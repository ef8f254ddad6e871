"""SQL run from a test on the suite's real PostgreSQL (the servers and databases are ``tests/conftest.py``'s)."""

from __future__ import annotations

import psycopg2


def query(url: str, sql: str, params=()) -> list[tuple] | None:
    """``sql`` with ``params`` in one transaction on a new connection to ``url``, committed; its rows (None for a
    statement that returns none)."""
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params or None)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()
