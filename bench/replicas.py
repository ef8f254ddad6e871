"""Benchmark 9: a streaming replica and a pooler-like connection limit, the two ways past one instance.

One durable embedded server with one streaming replica made exactly as ``cruddur local up --replicas 1`` makes it
(``ops/local/replicas.py``: pg_basebackup, its own slot, hot standby on the next port). Three parts:

a. **Replica lag under the burst's write load**: benchmark 3's burst (``bench/burst.py``'s event plan, its
   ``burst_worker.py`` containers running the real handler against the server) while a thread polls the server's
   ``pg_stat_replication`` every 5 ms: WAL not yet replayed (bytes) and the server's ``replay_lag``. Then how long
   the replica takes to replay everything once the burst is over, and that it holds every row.
b. **The home feed on the replica next to the server**: the app's home feed (``bench/feed.py``'s ``home_feed``) as
   ``cruddur_app`` on both, interleaved, after generated data was loaded on the server and replayed.
c. **The sign-up burst through a pooler-like limit**: the handler's INSERT from ``callers`` threads, each sign-up a
   new user, either **direct** (each caller keeps its own connection, as each Lambda container does) or through a
   **bounded pool** of N server connections (a psycopg2 pool behind a semaphore: a caller waits for a free
   connection, as RDS Proxy queues a client until one of its database connections is free, and each autocommit
   statement may use any of them, as the proxy multiplexes at transaction boundaries). N is the confirmation
   function's share of a db.t4g.micro (``components/connection_budget.py``) and a tighter 4.
"""

from __future__ import annotations

import inspect
import json
import random
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from bench.burst import plan_events
from bench.common import (
    Timer,
    bench_server,
    confirmation_event,
    confirmation_role_url,
    fresh_database,
    load_average,
    markdown_table,
    migrated_database,
    ms,
    peak_connections,
    print_table,
    ratio,
    recorded_users,
    start_container,
    summarize,
    user_row,
    verdict,
    wait_ready,
)
from bench.feed import QUERIES, generate
from bench.feed import load as copy_load

TIGHT_POOL = 4
POLL_S = 0.005


def _connect(url: str):
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def _replica_url(url: str, replica) -> str:
    from ops.urls import build_url, parse

    info = parse(url)
    return build_url(info.user, info.password, info.host, replica.port, info.database)


@contextmanager
def _lag_sampler(admin_url: str, slot: str):
    """While the block runs: (unreplayed WAL bytes, replay_lag ms or None) from pg_stat_replication every 5 ms."""
    conn = _connect(admin_url)
    samples: list[tuple[int, float | None]] = []
    stop = threading.Event()

    def poll() -> None:
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint, "
                            "extract(epoch FROM replay_lag)::float8 * 1000 FROM pg_stat_replication "
                            "WHERE application_name = %s", (slot,))
                row = cur.fetchone()
                if row:
                    samples.append((int(row[0]), row[1]))
                time.sleep(POLL_S)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()
        conn.close()


def _catch_up_ms(admin_url: str, replica_admin_url: str, timeout: float = 120) -> float:
    """Milliseconds until the replica has replayed the server's WAL as it stands now."""
    primary, replica = _connect(admin_url), _connect(replica_admin_url)
    try:
        with primary.cursor() as cur:
            cur.execute("SELECT pg_current_wal_lsn()")
            target = cur.fetchone()[0]
        start = time.perf_counter()
        with replica.cursor() as cur:
            while True:
                cur.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))
                if cur.fetchone()[0]:
                    return (time.perf_counter() - start) * 1000
                if time.perf_counter() - start > timeout:
                    raise RuntimeError(f"the replica did not replay up to {target} within {timeout:.0f} s")
                time.sleep(0.001)
    finally:
        primary.close()
        replica.close()


def lag_under_burst(admin_url: str, replica_admin_url: str, slot: str, distinct: int, workers: int,
                    seed: int = 7) -> dict:
    queues = plan_events(distinct, workers, 0.10, random.Random(seed))
    url = confirmation_role_url(admin_url)
    with tempfile.TemporaryDirectory(prefix="cruddur-replica-burst-") as tmp:
        procs = []
        for w, queue in enumerate(queues):
            path = Path(tmp) / f"events-{w}.json"
            path.write_text(json.dumps(queue))
            procs.append(start_container("burst_worker.py", str(path), connection_url=url))
        for proc in procs:
            wait_ready(proc, "burst")
        with _lag_sampler(admin_url, slot) as samples, Timer() as burst:
            for proc in procs:
                proc.stdin.write("go\n")
                proc.stdin.flush()
            outputs = [json.loads(proc.communicate()[0].strip().splitlines()[-1]) for proc in procs]
    catch_up = _catch_up_ms(admin_url, replica_admin_url)
    rows = recorded_users(admin_url)
    replica_rows = recorded_users(replica_admin_url)
    lag_bytes = [float(b) for b, _ in samples]
    lag_ms = [m for _, m in samples if m is not None]
    return {
        "distinct": distinct, "workers": workers, "deliveries": sum(len(q) for q in queues),
        "errors": sum(len(o["errors"]) for o in outputs), "burst_wall_ms": burst.ms,
        "rows": rows[0], "replica_rows": replica_rows[0], "samples": len(samples),
        "lag_bytes": summarize(lag_bytes), "replay_lag_ms": summarize(lag_ms), "catch_up_ms": catch_up,
    }


def feed_on_replica(server, replica, users: int, activities: int, reps: int, seed: int = 42) -> dict:
    from ops.db import migrations
    from ops.db.roles import set_role_password
    from ops.db.target import DbTarget

    with tempfile.TemporaryDirectory(prefix="cruddur-replica-feed-") as tmp, \
            fresh_database(server, "bench_replica_feed") as admin_url:
        migrations.apply(DbTarget(admin_url))
        files = generate(Path(tmp), users, activities, random.Random(seed))
        loaded = copy_load(admin_url, files, "current")
        app_url = set_role_password(DbTarget(admin_url), "cruddur_app")
        catch_up = _catch_up_ms(admin_url, _replica_url(admin_url, replica))
        sql = QUERIES["home_feed"][0]
        conns = {"primary": _connect(app_url), "replica": _connect(_replica_url(app_url, replica))}
        samples: dict[str, list[float]] = {"primary": [], "replica": []}
        try:
            cursors = {name: conn.cursor() for name, conn in conns.items()}
            for cur in cursors.values():
                cur.execute("SELECT pg_is_in_recovery()")
                cur.fetchone()
                for _ in range(5):  # warm-up: caches and plans
                    cur.execute(sql)
                    cur.fetchall()
            for i in range(reps):
                for name in (("primary", "replica") if i % 2 == 0 else ("replica", "primary")):
                    start = time.perf_counter_ns()
                    cursors[name].execute(sql)
                    rows = cursors[name].fetchall()
                    samples[name].append((time.perf_counter_ns() - start) / 1e6)
                    assert len(rows) == 50
            cursors["replica"].execute("SELECT current_user, pg_is_in_recovery()")
            replica_login = cursors["replica"].fetchone()
        finally:
            for conn in conns.values():
                conn.close()
    return {"users": users, "activities": activities, "reps": reps, "load_s": loaded["activities"]["seconds"],
            "catch_up_after_load_ms": catch_up, "replica_login": list(replica_login),
            "primary": summarize(samples["primary"]), "replica": summarize(samples["replica"]),
            "replica_over_primary_p50": (summarize(samples["replica"])["p50"] /
                                         summarize(samples["primary"])["p50"])}


def signups_through_a_limit(admin_url: str, signups: int, callers: int, pool_size: int | None,
                            seed: int) -> dict:
    """``signups`` new users from ``callers`` threads; ``pool_size`` None: one connection per caller."""
    import psycopg2.pool

    from bench.common import load_handler

    insert = load_handler().INSERT_USER
    url = confirmation_role_url(admin_url)
    rng = random.Random(seed)
    events = [confirmation_event(str(__import__("uuid").UUID(int=rng.getrandbits(128), version=4)))
              for _ in range(signups)]
    queues = [events[c::callers] for c in range(callers)]
    # The pool's connections are opened up front and kept, as a proxy keeps its own connections to the database.
    pool = psycopg2.pool.ThreadedConnectionPool(pool_size, pool_size, url) if pool_size else None
    slots = threading.BoundedSemaphore(pool_size) if pool_size else None
    lock = threading.Lock()
    latencies, waits, errors = [], [], []
    go = threading.Event()

    def caller(queue: list[dict]) -> None:
        own = None
        try:
            go.wait()
            for event in queue:
                start = time.perf_counter()
                try:
                    if pool:
                        with slots:
                            waited = time.perf_counter() - start
                            conn = pool.getconn()
                            try:
                                conn.autocommit = True
                                with conn.cursor() as cur:
                                    cur.execute(insert, user_row(event))
                            finally:
                                pool.putconn(conn)
                    else:
                        waited = 0.0
                        own = own or _connect(url)  # a container connects on its first invocation
                        with own.cursor() as cur:
                            cur.execute(insert, user_row(event))
                    with lock:
                        latencies.append((time.perf_counter() - start) * 1000)
                        waits.append(waited * 1000)
                except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                    with lock:
                        errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        finally:
            if own:
                own.close()

    threads = [threading.Thread(target=caller, args=(q,)) for q in queues]
    for thread in threads:
        thread.start()
    with peak_connections(admin_url) as peak, Timer() as wall:
        go.set()
        for thread in threads:
            thread.join()
    if pool:
        pool.closeall()
    rows, distinct_rows = recorded_users(admin_url, then_truncate=True)
    return {"pool_size": pool_size, "callers": callers, "signups": signups, "errors": len(errors),
            "error_samples": errors[:3], "rows": rows, "distinct_rows": distinct_rows,
            "peak_connections_confirmation": peak["confirmation"], "wall_ms": wall.ms,
            "throughput_per_s": signups / (wall.ms / 1000), "latency": summarize(latencies),
            "wait_for_connection": summarize(waits)}


def run(distinct: int = 1000, workers: int = 50, feed_users: int = 10_000, feed_activities: int = 200_000,
        feed_reps: int = 300, signups: int = 1000, callers: int = 50) -> dict:
    from components.connection_budget import connection_budget
    from ops.local.replicas import LocalReplica

    load = [load_average()]
    pool_size = connection_budget("db.t4g.micro").confirmation
    with bench_server(durable=True) as server:
        if server.local is None:
            raise SystemExit("bench replicas needs its own embedded server (it clones a replica from it); "
                             "unset BENCH_DATABASE_URL")
        replica = LocalReplica(server.local, 1)
        with Timer() as clone:
            replica.ensure_running()
        facts = server.facts()
        with migrated_database(server, "bench_replica") as admin_url:
            replica_admin = _replica_url(admin_url, replica)
            _catch_up_ms(admin_url, replica_admin)
            lag = lag_under_burst(admin_url, replica_admin, replica.slot, distinct, workers)
            recorded_users(admin_url, then_truncate=True)
            limits = {"direct": signups_through_a_limit(admin_url, signups, callers, None, seed=21),
                      "pooled": signups_through_a_limit(admin_url, signups, callers, pool_size, seed=22),
                      "pooled_tight": signups_through_a_limit(admin_url, signups, callers, TIGHT_POOL, seed=23)}
        feed = feed_on_replica(server, replica, feed_users, feed_activities, feed_reps)
        replica.stop()
    load.append(load_average())
    met = (lag["errors"] == 0 and lag["replica_rows"] == lag["rows"] == distinct
           and all(v["errors"] == 0 and v["distinct_rows"] == signups for v in limits.values())
           and all(v["peak_connections_confirmation"] <= v["pool_size"] for k, v in limits.items() if v["pool_size"]))
    return {"server": facts, "load_average": load, "clone_ms": clone.ms, "lag": lag, "feed": feed,
            "limits": limits, "pool_budget_class": "db.t4g.micro", "met": met}


LIMIT_HEADERS = ["limit", "callers", "sign-ups", "errors", "rows", "peak conns", "p50", "p95", "max", "wait p95",
                 "wall", "per s"]


def limit_rows(r: dict) -> list[list]:
    labels = {"direct": "direct", "pooled": f"pool of {r['limits']['pooled']['pool_size']}",
              "pooled_tight": f"pool of {r['limits']['pooled_tight']['pool_size']}"}
    return [[labels[k], v["callers"], v["signups"], v["errors"], v["rows"], v["peak_connections_confirmation"],
             ms(v["latency"]["p50"]), ms(v["latency"]["p95"]), ms(v["latency"]["max"]),
             ms(v["wait_for_connection"]["p95"]), ms(v["wall_ms"]), f"{v['throughput_per_s']:.0f}"]
            for k, v in r["limits"].items()]


def lag_rows(r: dict) -> list[list]:
    lag = r["lag"]
    b, t = lag["lag_bytes"], lag["replay_lag_ms"]
    return [["unreplayed WAL (bytes)", b["n"], f"{b['p50']:,.0f}", f"{b['p95']:,.0f}", f"{b['max']:,.0f}"],
            ["replay_lag (server's measure)", t["n"], ms(t["p50"]), ms(t["p95"]), ms(t["max"])]]


def feed_rows(r: dict) -> list[list]:
    f = r["feed"]
    return [[name, f[name]["n"], ms(f[name]["p50"]), ms(f[name]["p95"]), ms(f[name]["max"])]
            for name in ("primary", "replica")]


def print_result(r: dict) -> None:
    lag = r["lag"]
    print_table(f"9a. Replica lag during the burst ({lag['distinct']} sign-ups + duplicates from {lag['workers']} "
                f"containers, {ms(lag['burst_wall_ms'])})", ["measure", "samples", "p50", "p95", "max"], lag_rows(r))
    print(f"caught up {ms(lag['catch_up_ms'])} after the burst; rows {lag['rows']} on the server, "
          f"{lag['replica_rows']} on the replica; errors {lag['errors']}")
    f = r["feed"]
    print_table(f"9b. Home feed at {f['activities']:,} activities, as cruddur_app", ["server", "n", "p50", "p95", "max"],
                feed_rows(r))
    print(f"replica / primary p50: {ratio(f['replica_over_primary_p50'])}")
    print_table("9c. Sign-ups through a pooler-like limit", LIMIT_HEADERS, limit_rows(r))


def markdown(r: dict, load_text: str) -> list[str]:
    """The RESULTS.md section (bench/report.py)."""
    lag, f, lim, m = r["lag"], r["feed"], r["limits"], r["machine"]
    direct, pooled, tight = lim["direct"], lim["pooled"], lim["pooled_tight"]
    defaults = inspect.signature(run).parameters
    used = {"distinct": lag["distinct"], "workers": lag["workers"], "feed_users": f["users"],
            "feed_activities": f["activities"], "feed_reps": f["reps"], "signups": direct["signups"],
            "callers": direct["callers"]}
    smaller = [f"{name} {value:,} of {defaults[name].default:,}" for name, value in used.items()
               if value < defaults[name].default]
    return [
        "## 9. Read replica and a pooler-like connection limit",
        "",
        "One durable embedded server and one streaming replica made as `cruddur local up --replicas 1` makes it "
        f"(`ops/local/replicas.py`: pg_basebackup with its own slot, hot standby; cloned in {ms(r['clone_ms'])}). "
        f"`bench/replicas.py`. {load_text}.",
        "",
        f"Machine: {m['cores']} cores, {m['cpu']}, {m['ram_gib']} GiB RAM, Linux {m['kernel']}, {r['machine']['date']}"
        + (f"; sizes smaller than the defaults ({', '.join(smaller)}), as a quick run on a shared machine." if smaller
           else "."),
        "",
        f"**a. Replica lag under the burst's write load**: benchmark 3's burst ({lag['distinct']:,} sign-ups plus "
        f"{lag['deliveries'] - lag['distinct']} duplicates from {lag['workers']} containers running the real handler, "
        f"{ms(lag['burst_wall_ms'])}), the server's `pg_stat_replication` polled every 5 ms:",
        "",
        markdown_table(["measure", "samples", "p50", "p95", "max"], lag_rows(r)),
        "",
        f"- The replica had replayed everything {ms(lag['catch_up_ms'])} after the burst ended, with "
        f"**{lag['replica_rows']:,} rows** ({lag['rows']:,} on the server, {lag['errors']} handler errors). "
        "`replay_lag` is the time between a commit flushed on the server and its replay confirmed by the replica; "
        "asynchronous replication never slows the sign-ups down, and a read right after a write may miss it for "
        "about that long (read your own writes from the primary).",
        "",
        f"**b. The home feed on the replica next to the server**: {f['users']:,} users and {f['activities']:,} "
        f"activities loaded with COPY on the server ({f['load_s']:.1f} s), replayed by the replica "
        f"{ms(f['catch_up_after_load_ms'])} later; `home_feed` (section 4) as `cruddur_app` on each, interleaved, "
        "after a warm-up:",
        "",
        markdown_table(["server", "n", "p50", "p95", "max"], feed_rows(r)),
        "",
        f"- Replica / server p50: **{ratio(f['replica_over_primary_p50'])}**. Both run the same plan on the same "
        "pages (the index walk of section 4), so a read costs about the same on either; a difference of this size "
        "is the shared machine's noise (see the load average). What a replica buys is the server's CPU and "
        "connections for the writes, not a faster query.",
        "",
        f"**c. The sign-up burst through a pooler-like limit**: {direct['signups']:,} new users (the handler's "
        f"`INSERT ... ON CONFLICT`) from {direct['callers']} threads at once, direct (each caller keeps its own "
        "connection, as each Lambda container does) or through a bounded pool (a psycopg2 pool behind a semaphore: "
        "a caller waits for a free connection, as RDS Proxy queues a client, and each autocommit statement may use "
        f"any of them, as the proxy multiplexes between transactions). {pooled['pool_size']} is the confirmation "
        f"function's share of a {r['pool_budget_class']} (`components/connection_budget.py`), {tight['pool_size']} "
        "a tight limit. The pool's connections are opened before the burst and kept, as a proxy keeps its own; "
        "direct callers connect on their first sign-up, as new containers do. `peak conns`: the server's client "
        "connections of `cruddur_confirmation` (`pg_stat_activity`, polled every 2 ms):",
        "",
        markdown_table(LIMIT_HEADERS, limit_rows(r)),
        "",
        f"- {verdict(r['met'])}: every variant recorded every user with no error, and a pool never opened more "
        f"server connections than its size ({pooled['peak_connections_confirmation']} and "
        f"{tight['peak_connections_confirmation']}, against {direct['peak_connections_confirmation']} direct). "
        "`wait p95` is the time a sign-up queued for a connection; latencies include it.",
        "- A pooler turns a connection storm into a short queue: the database sees at most the pool's connections "
        "however many containers Cognito starts, which is what keeps a burst from taking the app's and the "
        "operators' connections (section 7 does it with reserved concurrency instead). Not measured here: RDS "
        "Proxy's own network hop, TLS to the proxy, and IAM authentication at "
        "the proxy.",
        "",
    ]
