"""Benchmark 4: the home feed and per-user timelines at 10,000 users and 1,000,000 activities.

The same generated data (fixed random seed) is loaded with COPY into two databases on one server:

- ``current``: this project's schema (sql/migrations: checks, foreign keys, the feed and timeline indexes);
- ``seed``: the bootcamp's week-4 schema (bench/seed_schema.sql: primary keys only).

Then VACUUM ANALYZE both, and time the app's queries from a client over TCP (execute + fetch all rows), p50/p95
over many runs after a warm-up, with one EXPLAIN (ANALYZE, BUFFERS) plan per query and schema.
"""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import (
    BENCH_DIR,
    Timer,
    bench_server,
    fresh_database,
    load_average,
    ms,
    print_table,
    ratio,
    summarize,
)

COLUMNS = ("activities.uuid, users.display_name, users.handle, activities.message, activities.replies_count, "
           "activities.reposts_count, activities.likes_count, activities.reply_to_activity_uuid, "
           "activities.expires_at, activities.created_at")
QUERIES = {
    # The app's home feed (backend-flask/services/home_activities.py, db/sql/activities/home.sql), LIMIT 50.
    "home_feed": (f"SELECT {COLUMNS} FROM activities LEFT JOIN users ON users.uuid = activities.user_uuid "
                  "ORDER BY activities.created_at DESC LIMIT 50", None),
    # A user's page once the user is known (the app's user_activities by uuid).
    "timeline_by_uuid": (f"SELECT {COLUMNS} FROM activities LEFT JOIN users ON users.uuid = activities.user_uuid "
                         "WHERE activities.user_uuid = %s ORDER BY activities.created_at DESC LIMIT 50", "uuid"),
    # The same page looked up by handle, as the bootcamp's users/show.sql writes it (users.handle = %s).
    "timeline_by_handle": (f"SELECT {COLUMNS} FROM activities JOIN users ON users.uuid = activities.user_uuid "
                           "WHERE users.handle = %s ORDER BY activities.created_at DESC LIMIT 50", "handle"),
    # ... and case-insensitively, the form this schema's unique index users_handle_lower_key serves.
    "timeline_by_handle_lower": (f"SELECT {COLUMNS} FROM activities JOIN users ON users.uuid = activities.user_uuid "
                                 "WHERE lower(users.handle) = lower(%s) ORDER BY activities.created_at DESC LIMIT 50",
                                 "handle"),
}
JUDGED = ("home_feed", "timeline_by_uuid", "timeline_by_handle", "timeline_by_handle_lower")
WORDS = ("cruddur crud ephemeral micro blog post today coffee cloud bootcamp postgres lambda cognito flask react "
         "weekend deploy pipeline serverless latency index query feed timeline hello world again").split()


def generate(folder: Path, users: int, activities: int, rng: random.Random) -> dict:
    """Write users (two column sets) and activities as COPY text files; return their paths and the users."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    user_ids, handles = [], []
    current_users, seed_users = folder / "users-current.tsv", folder / "users-seed.tsv"
    with open(current_users, "w") as cur_f, open(seed_users, "w") as seed_f:
        for i in range(users):
            uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            handle = f"user{i:05d}"
            created = (now - timedelta(days=400) + timedelta(seconds=rng.randint(0, 30 * 86400))).strftime(
                "%Y-%m-%d %H:%M:%S")
            user_ids.append(uid)
            handles.append(handle)
            cur_f.write(f"{uid}\tBench User {i}\t{handle}\t{handle}@example.com\tcog-{uid}\t{created}\n")
            seed_f.write(f"{uid}\tBench User {i}\t{handle}\tcog-{uid}\t{created}\n")
    path = folder / "activities.tsv"
    year = 365 * 86400
    with open(path, "w") as out:
        lines = []
        for i in range(activities):
            aid = uuid.UUID(int=rng.getrandbits(128), version=4)
            created = now - timedelta(seconds=rng.randrange(year), microseconds=rng.randrange(1_000_000))
            expires = (created + timedelta(days=10)).isoformat(" ")[:26] if rng.random() < 0.2 else "\\N"
            message = " ".join(rng.choices(WORDS, k=rng.randint(4, 20)))
            lines.append(f"{aid}\t{user_ids[rng.randrange(users)]}\t{message} #{i}\t{rng.randint(0, 5)}\t"
                         f"{rng.randint(0, 10)}\t{rng.randint(0, 50)}\t{expires}\t{created.isoformat(' ')[:26]}\n")
            if len(lines) == 50_000:
                out.writelines(lines)
                lines = []
        out.writelines(lines)
    return {"current_users": current_users, "seed_users": seed_users, "activities": path,
            "user_ids": user_ids, "handles": handles}


def _connect(url: str):
    import psycopg2

    return psycopg2.connect(url, options="-c timezone=UTC")


def load(url: str, files: dict, schema: str) -> dict:
    """COPY users then activities; returns seconds and rows/s per table (commit included)."""
    conn = _connect(url)
    timings = {}
    try:
        for table, path, columns in (
            ("users", files["current_users"] if schema == "current" else files["seed_users"],
             "(uuid, display_name, handle, email, cognito_user_id, created_at)" if schema == "current"
             else "(uuid, display_name, handle, cognito_user_id, created_at)"),
            ("activities", files["activities"], "(uuid, user_uuid, message, replies_count, reposts_count, "
                                                "likes_count, expires_at, created_at)"),
        ):
            with Timer() as t, open(path) as handle, conn.cursor() as cur:
                cur.copy_expert(f"COPY {table} {columns} FROM STDIN", handle, size=1 << 20)
                rows = cur.rowcount
                conn.commit()
            timings[table] = {"rows": rows, "seconds": t.ms / 1000, "rows_per_s": rows / (t.ms / 1000)}
        conn.autocommit = True
        with Timer() as t, conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
        timings["vacuum_analyze_s"] = t.ms / 1000
        with conn.cursor() as cur:
            cur.execute("SELECT pg_total_relation_size('activities'), pg_indexes_size('activities'), "
                        "pg_total_relation_size('users')")
            total, indexes, users_size = cur.fetchone()
        timings["activities_total_mb"] = total / 2**20
        timings["activities_indexes_mb"] = indexes / 2**20
        timings["users_total_mb"] = users_size / 2**20
    finally:
        conn.close()
    return timings


def measure(url: str, files: dict, reps: int, rng: random.Random) -> dict:
    conn = _connect(url)
    conn.autocommit = True
    picks = rng.sample(range(len(files["user_ids"])), 50)
    values = {"uuid": [files["user_ids"][i] for i in picks], "handle": [files["handles"][i] for i in picks]}
    out = {}
    try:
        with conn.cursor() as cur:
            for name, (sql, param) in QUERIES.items():
                args = (lambda i: (values[param][i % len(picks)],)) if param else (lambda i: None)  # noqa: B023 - the lambda runs within this iteration
                for i in range(3):  # warm-up: caches and plans
                    cur.execute(sql, args(i))
                    cur.fetchall()
                samples, rows = [], 0
                for i in range(reps):
                    start = time.perf_counter_ns()
                    cur.execute(sql, args(i))
                    rows += len(cur.fetchall())
                    samples.append((time.perf_counter_ns() - start) / 1e6)
                cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", args(0))
                plan = "\n".join(row[0] for row in cur.fetchall())
                out[name] = {"stats": summarize(samples), "avg_rows": rows / reps, "plan": plan}
    finally:
        conn.close()
    return out


def run(users: int = 10_000, activities: int = 1_000_000, reps_current: int = 300, reps_seed: int = 20,
        seed: int = 42) -> dict:
    from ops.db import migrations
    from ops.db.target import DbTarget

    load_avg = [load_average()]
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="cruddur-feed-") as tmp, bench_server(durable=True) as server:
        with Timer() as gen:
            files = generate(Path(tmp), users, activities, rng)
        facts = server.facts()
        results = {}
        with fresh_database(server, "bench_feed_current") as current_url, \
                fresh_database(server, "bench_feed_seed") as seed_url:
            migrations.apply(DbTarget(current_url))
            conn = _connect(seed_url)
            with conn.cursor() as cur:
                cur.execute((BENCH_DIR / "seed_schema.sql").read_text())
            conn.commit()
            conn.close()
            for schema, url in (("current", current_url), ("seed", seed_url)):
                results[schema] = {"load": load(url, files, schema)}
            for schema, url, reps in (("current", current_url, reps_current), ("seed", seed_url, reps_seed)):
                results[schema]["queries"] = measure(url, files, reps, random.Random(seed + 1))
    load_avg.append(load_average())
    speedups = {name: results["seed"]["queries"][name]["stats"]["p50"] / results["current"]["queries"][name]["stats"]["p50"]
                for name in QUERIES}
    return {
        "server": facts, "load_average": load_avg, "users": users, "activities": activities,
        "generate_s": gen.ms / 1000, "schemas": results, "speedup_p50": speedups,
        "met": all(speedups[name] >= 20 for name in JUDGED),
        "queries_sql": {name: sql for name, (sql, _) in QUERIES.items()},
    }


def load_rows(r: dict) -> list[list[str]]:
    """COPY throughput per schema and table (schema, table, rows, time, rows/s); console and RESULTS.md share it."""
    rows = []
    for schema in ("current", "seed"):
        load_ = r["schemas"][schema]["load"]
        for table in ("users", "activities"):
            rows.append([schema, table, f"{load_[table]['rows']:,}", f"{load_[table]['seconds']:.1f} s",
                         f"{load_[table]['rows_per_s']:,.0f}"])
    return rows


def print_result(r: dict) -> None:
    rows = load_rows(r)
    print_table(f"4a. COPY load (data generated in {r['generate_s']:.1f} s)",
                ["schema", "table", "rows", "time", "rows/s"], rows)
    rows = []
    for name in QUERIES:
        cur, seed = r["schemas"]["current"]["queries"][name]["stats"], r["schemas"]["seed"]["queries"][name]["stats"]
        rows.append([name, ms(cur["p50"]), ms(cur["p95"]), ms(seed["p50"]), ms(seed["p95"]),
                     ratio(r["speedup_p50"][name])])
    print_table(f"4b. Feed queries at {r['activities']:,} activities",
                ["query", "this schema p50", "p95", "seed schema p50", "p95", "speed-up (p50)"], rows)
