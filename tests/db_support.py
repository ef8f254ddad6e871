"""SQL run from a test on the suite's real PostgreSQL (the servers and databases are ``tests/conftest.py``'s)."""

from __future__ import annotations

import threading
from collections.abc import Callable

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


def admin_execute(url: str, statement: str, params=None) -> None:
    """``statement`` on a new autocommit connection to ``url`` (CREATE DATABASE and friends cannot run in a
    transaction)."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
    finally:
        conn.close()


def at_once(*work: Callable[[], object], timeout: float = 120) -> tuple[list, list[Exception]]:
    """Each of ``work`` in a thread of its own, all started before any is joined (concurrent clients of one server):
    what each returned, in the order given (None where it raised), and the exceptions raised."""
    results: list = [None] * len(work)
    errors: list[Exception] = []

    def run(index: int, job: Callable[[], object]) -> None:
        try:
            results[index] = job()
        except Exception as exc:  # noqa: BLE001 - returned to the caller, which asserts there are none
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index, job)) for index, job in enumerate(work)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results, errors
