"""Who is connected: pg_stat_activity for one database, and terminating the other sessions."""

from __future__ import annotations

from dataclasses import dataclass

from ops.db.connections import cursor
from ops.db.target import DbTarget
from ops.urls import redact


@dataclass(frozen=True)
class Session:
    pid: int
    user: str | None
    application: str | None
    client: str | None
    state: str | None
    backend_start: str | None
    query: str


def list_sessions(target: DbTarget) -> list[Session]:
    """Sessions on the target's database, the caller's own excluded. Query text is redacted and shortened."""
    with cursor(target) as cur:
        cur.execute(
            """
            SELECT pid, usename, application_name, host(client_addr), state,
                   to_char(backend_start, 'YYYY-MM-DD HH24:MI:SS'), coalesce(query, '')
              FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
             ORDER BY backend_start
            """
        )
        rows = cur.fetchall()
    return [Session(r[0], r[1], r[2], r[3], r[4], r[5], _short(redact(r[6]))) for r in rows]


def kill_sessions(target: DbTarget) -> list[int]:
    """Terminate every other session on the target's database. Returns the pids terminated."""
    with cursor(target) as cur:
        cur.execute(
            """
            WITH others AS MATERIALIZED (  -- filter first: quals of one level may be evaluated in any order
                SELECT pid FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
            )
            SELECT pid FROM others WHERE pg_terminate_backend(pid)
            """
        )
        return [row[0] for row in cur.fetchall()]


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
