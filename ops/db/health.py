"""The numbers an operator looks at first, read from one open connection, and judged against thresholds.

``collect(conn, available)`` reads (all from catalog views any login role may read; no extension needed):
connections used vs ``max_connections`` (less the reserved superuser slots), the largest tables with their
dead-tuple ratio and last (auto)vacuum, the oldest transaction-ID age of the database, long-running and
idle-in-transaction sessions, sessions waiting on a lock, and the applied vs available migrations (yoyo's
``_yoyo_migration`` table, compared with the migration ids on disk).

``judge(report, thresholds)`` turns it into findings; the command exits non-zero when any finding is a breach.
Library only: psycopg2, no Typer or Rich (the CLI prints the tables).
"""

from __future__ import annotations

from dataclasses import dataclass

# PostgreSQL stops assigning transaction ids at about 2^31 - 1 of age; autovacuum freezes from 200 million.
XID_WRAPAROUND = 2**31 - 1


@dataclass(frozen=True)
class Thresholds:
    connections_pct: float = 80.0  # of the slots a non-superuser may use
    xid_age: int = 1_000_000_000  # about half-way to wraparound: vacuum is not keeping up
    long_transaction_seconds: int = 300  # an open transaction holds back vacuum and may hold locks
    idle_in_transaction_seconds: int = 60  # a client that forgot to commit
    lock_wait_seconds: int = 30  # a session blocked on another's lock
    dead_tuple_pct: float = 20.0  # of live + dead rows, on tables with at least min_dead_tuples dead rows
    min_dead_tuples: int = 1000


@dataclass(frozen=True)
class TableStats:
    name: str
    total_bytes: int
    live_tuples: int
    dead_tuples: int
    last_vacuum: str | None  # the later of manual and auto vacuum, ISO text, None if never

    @property
    def dead_pct(self) -> float:
        total = self.live_tuples + self.dead_tuples
        return 100.0 * self.dead_tuples / total if total else 0.0


@dataclass(frozen=True)
class SlowSession:
    pid: int
    user: str | None
    state: str | None
    seconds: int  # since the transaction started (or the lock wait began)
    query: str


@dataclass(frozen=True)
class HealthReport:
    database: str
    server_version: str
    connections: int
    max_connections: int
    reserved_connections: int
    xid_age: int
    tables: list[TableStats]
    long_transactions: list[SlowSession]
    idle_in_transaction: list[SlowSession]
    lock_waits: list[SlowSession]
    applied_migrations: list[str]
    available_migrations: list[str]

    @property
    def usable_connections(self) -> int:
        return max(self.max_connections - self.reserved_connections, 1)

    @property
    def connections_pct(self) -> float:
        return 100.0 * self.connections / self.usable_connections

    @property
    def pending_migrations(self) -> list[str]:
        applied = set(self.applied_migrations)
        return [m for m in self.available_migrations if m not in applied]

    @property
    def unknown_migrations(self) -> list[str]:
        """Applied to the database but absent from this checkout: the schema is newer than the code."""
        available = set(self.available_migrations)
        return [m for m in self.applied_migrations if m not in available]


@dataclass(frozen=True)
class Finding:
    check: str
    breach: bool  # True: over its threshold (exit status 1); False: worth a look
    message: str


def collect(conn, available_migrations: list[str], *, largest: int = 10) -> HealthReport:
    """Read the report from ``conn`` (a psycopg2 connection; only reads, in one transaction, rolled back)."""
    try:
        with conn.cursor() as cur:
            cur.execute("SET LOCAL statement_timeout = '10s'")
            cur.execute(
                """
                SELECT current_database(), current_setting('server_version'),
                       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
                       current_setting('max_connections')::int,
                       current_setting('superuser_reserved_connections')::int
                         + coalesce(current_setting('reserved_connections', true)::int, 0),
                       (SELECT age(datfrozenxid) FROM pg_database WHERE datname = current_database())
                """
            )
            database, version, connections, max_conn, reserved, xid_age = cur.fetchone()
            cur.execute(
                """
                -- Sizes from pg_class (as of the last VACUUM/ANALYZE): pg_total_relation_size would wait
                -- behind an ACCESS EXCLUSIVE lock, and a health check must answer while locks pile up.
                SELECT format('%%I.%%I', s.schemaname, s.relname),
                       (c.relpages + coalesce(t.relpages, 0)
                        + coalesce((SELECT sum(i.relpages) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                                     WHERE x.indrelid = c.oid), 0))::bigint
                         * current_setting('block_size')::int,
                       s.n_live_tup, s.n_dead_tup,
                       to_char(GREATEST(s.last_vacuum, s.last_autovacuum), 'YYYY-MM-DD HH24:MI:SS')
                  FROM pg_stat_user_tables s
                  JOIN pg_class c ON c.oid = s.relid
                  LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
                 ORDER BY 2 DESC, s.relname
                 LIMIT %s
                """,
                (largest,),
            )
            tables = [TableStats(*row) for row in cur.fetchall()]
            long_tx = _sessions(cur, "xact_start", "xact_start IS NOT NULL AND state <> 'idle in transaction'")
            idle_tx = _sessions(cur, "state_change", "state = 'idle in transaction'")
            waits = _sessions(cur, "state_change", "wait_event_type = 'Lock'")
            cur.execute("SELECT to_regclass('_yoyo_migration') IS NOT NULL")
            applied: list[str] = []
            if cur.fetchone()[0]:
                cur.execute("SELECT migration_id FROM _yoyo_migration ORDER BY applied_at_utc, migration_id")
                applied = [row[0] for row in cur.fetchall()]
    finally:
        conn.rollback()
    return HealthReport(
        database=database, server_version=version, connections=connections, max_connections=max_conn,
        reserved_connections=reserved, xid_age=int(xid_age), tables=tables, long_transactions=long_tx,
        idle_in_transaction=idle_tx, lock_waits=waits, applied_migrations=applied,
        available_migrations=list(available_migrations),
    )


def _sessions(cur, since: str, where: str) -> list[SlowSession]:
    """Other client sessions of this database matching ``where`` (fixed SQL text), longest first."""
    cur.execute(
        f"""
        SELECT pid, usename, state, extract(epoch FROM clock_timestamp() - {since})::int,
               left(coalesce(query, ''), 200)
          FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()
           AND backend_type = 'client backend' AND {where}
         ORDER BY 4 DESC
        """  # noqa: S608 -- only the module's own column names and predicates are formatted in
    )
    return [SlowSession(*row) for row in cur.fetchall()]


def judge(report: HealthReport, limits: Thresholds = Thresholds()) -> list[Finding]:
    """Every check over its threshold, as one line each."""
    findings: list[Finding] = []
    if report.connections_pct >= limits.connections_pct:
        findings.append(Finding("connections", True,
                                f"{report.connections} of {report.usable_connections} connections in use "
                                f"({report.connections_pct:.0f}% >= {limits.connections_pct:.0f}%)"))
    if report.xid_age >= limits.xid_age:
        findings.append(Finding("xid-age", True,
                                f"transaction-ID age {report.xid_age:,} >= {limits.xid_age:,} "
                                f"({100 * report.xid_age / XID_WRAPAROUND:.0f}% of wraparound): vacuum is behind"))
    held = (("long-transaction", report.long_transactions, limits.long_transaction_seconds,
             "has had a transaction open for"),
            ("idle-in-transaction", report.idle_in_transaction, limits.idle_in_transaction_seconds,
             "is idle in transaction for"),
            ("lock-wait", report.lock_waits, limits.lock_wait_seconds, "waits on a lock for"))
    for check, sessions, limit, what in held:
        findings.extend(Finding(check, True, f"pid {s.pid} ({s.user}) {what} {s.seconds} s (>= {limit} s)")
                        for s in sessions if s.seconds >= limit)
    for t in report.tables:
        if t.dead_tuples >= limits.min_dead_tuples and t.dead_pct >= limits.dead_tuple_pct:
            findings.append(Finding("dead-tuples", False,
                                    f"{t.name} is {t.dead_pct:.0f}% dead rows ({t.dead_tuples:,}); "
                                    f"last vacuum {t.last_vacuum or 'never'}"))
    if report.unknown_migrations:
        findings.append(Finding("migrations", True,
                                f"applied migrations missing from this checkout: {', '.join(report.unknown_migrations)} "
                                "(the database is newer than the code)"))
    if report.pending_migrations:
        findings.append(Finding("migrations", True,
                                f"{len(report.pending_migrations)} migration(s) not applied: "
                                f"{', '.join(report.pending_migrations)} (cruddur db migrate)"))
    return findings
