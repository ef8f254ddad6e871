"""Benchmark 7: a sign-up burst against a server with few connections, with and without the connection budget.

The server has ``max_connections`` = 40 and the app's pool is full (its share of the budget held open as
``cruddur_app``). ``components/connection_budget.connection_budget`` gives the confirmation function its reserved
concurrency for that server. 1,000 distinct confirmations plus 10% duplicate deliveries come from 50 concurrent
callers (Cognito), more than the budget allows:

- budgeted: Lambda runs at most ``reserved concurrency`` containers (a pool of that many worker processes, each a
  fresh handler with its own connection). A call that finds every container busy is throttled (Lambda's 429) and
  Cognito retries it: here with jittered exponential backoff (100 ms doubling, 1 s cap), at most
  ``THROTTLE_ATTEMPTS`` attempts; a sign-up throttled on every attempt counts as lost. (Cognito's exact retry
  policy for a throttled trigger is not documented in what we could check; this is the model.)
- unbudgeted: one container per caller (50), as without reserved concurrency. Containers that cannot get a
  connection fail after the handler's bounded retries (``DatabaseBusyError``); a failed trigger is not retried, so
  its user is lost (the row is missing until ``cruddur users sync``).

Checks (budgeted): 0 lost users, exactly 1,000 rows, peak trigger connections <= the reserved concurrency, peak
client connections <= max_connections. Reports throttles, handler errors, rows, peaks, end-to-end latency per
delivery (including throttle retries) and wall time.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time

from bench.burst import plan_events
from bench.common import (
    Timer,
    bench_server,
    confirmation_role_url,
    load_average,
    migrated_database,
    ms,
    peak_connections,
    print_table,
    recorded_users,
    start_container,
    summarize,
    wait_ready,
)

MAX_CONNECTIONS = 40
THROTTLE_ATTEMPTS = 8
THROTTLE_BASE_S = 0.1
THROTTLE_CAP_S = 1.0


class Container:
    """A worker process: one Lambda container with its own handler module and connection."""

    def __init__(self, connection_url: str):
        self.proc = start_container("budget_worker.py", connection_url=connection_url)
        wait_ready(self.proc, "budget")

    def invoke(self, event: dict) -> dict:
        self.proc.stdin.write(json.dumps(event) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _variant(admin_url: str, url: str, containers: int, queues: list[list[dict]], rng: random.Random) -> dict:
    with Timer() as init:
        pool = [Container(url) for _ in range(containers)]
    idle: queue.Queue = queue.Queue()
    for container in pool:
        idle.put(container)

    lock = threading.Lock()
    outcome = {"throttles": 0, "errors": [], "lost_deliveries": 0, "latencies": []}

    def deliver(event: dict) -> None:
        started = time.perf_counter()
        for attempt in range(1, THROTTLE_ATTEMPTS + 1):
            try:
                container = idle.get_nowait()
            except queue.Empty:  # every container busy: Lambda throttles, Cognito retries
                with lock:
                    outcome["throttles"] += 1
                if attempt < THROTTLE_ATTEMPTS:
                    time.sleep(rng.uniform(THROTTLE_BASE_S, min(THROTTLE_CAP_S, THROTTLE_BASE_S * 2 ** attempt)))
                continue
            try:
                result = container.invoke(event)
            finally:
                idle.put(container)
            with lock:
                if result["ok"]:
                    outcome["latencies"].append((time.perf_counter() - started) * 1000)
                else:  # the trigger failed: Cognito reports the error, the row is missing
                    outcome["errors"].append(result["error"])
                    outcome["lost_deliveries"] += 1
            return
        with lock:
            outcome["lost_deliveries"] += 1

    def caller(events: list[dict]) -> None:
        for event in events:
            deliver(event)

    threads = [threading.Thread(target=caller, args=(events,)) for events in queues]
    with peak_connections(admin_url) as peak, Timer() as burst:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for container in pool:
        container.close()
    rows, distinct_rows = recorded_users(admin_url, then_truncate=True)  # the next variant starts empty
    wanted = {e["request"]["userAttributes"]["sub"] for events in queues for e in events}
    errors = outcome["errors"]
    return {
        "containers": containers, "callers": len(queues), "init_wall_ms": init.ms, "burst_wall_ms": burst.ms,
        "deliveries": sum(len(q) for q in queues), "throttles": outcome["throttles"], "errors": len(errors),
        "error_kinds": sorted({e.split(":", 1)[0] for e in errors}), "error_samples": errors[:3],
        "lost_deliveries": outcome["lost_deliveries"], "rows": rows, "distinct_rows": distinct_rows,
        "lost_users": len(wanted) - distinct_rows,
        "peak_connections_confirmation": peak["confirmation"], "peak_connections_all": peak["all"],
        "latency": summarize(outcome["latencies"]),
    }


def run(distinct: int = 1000, callers: int = 50, duplicate_share: float = 0.10, seed: int = 11,
        unbudgeted: bool = True) -> dict:
    import psycopg2

    from components.connection_budget import connection_budget
    from ops.db.roles import set_role_password
    from ops.db.target import DbTarget

    load = [load_average()]
    budget = connection_budget("db.t4g.micro", max_connections=MAX_CONNECTIONS)
    with bench_server(durable=True) as server:
        if server.local is None:
            raise SystemExit("bench budget needs its own server (it restarts it with max_connections = "
                             f"{MAX_CONNECTIONS}); unset BENCH_DATABASE_URL")
        admin = psycopg2.connect(server.admin_url)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
        admin.close()
        server.local.stop()
        server.local.start()
        facts = server.facts()
        with migrated_database(server, "bench_budget") as admin_url:
            url = confirmation_role_url(admin_url)
            app_pool = [psycopg2.connect(set_role_password(DbTarget(admin_url), "cruddur_app", "bench-app-pool"))
                        for _ in range(budget.app_pool)]  # the app at peak: its whole pool open
            variants = {}
            try:
                rng = random.Random(seed)
                queues = plan_events(distinct, callers, duplicate_share, rng)
                variants["budgeted"] = _variant(admin_url, url, budget.confirmation, queues, rng)
                if unbudgeted:
                    rng = random.Random(seed + 1)
                    queues = plan_events(distinct, callers, duplicate_share, rng)
                    variants["unbudgeted"] = _variant(admin_url, url, callers, queues, rng)
            finally:
                for conn in app_pool:
                    conn.close()
    load.append(load_average())
    judged = variants["budgeted"]
    result = {
        "server": facts, "load_average": load, "distinct": distinct, "callers": callers,
        "budget": {"max_connections": budget.max_connections, "superuser_reserved": budget.superuser_reserved,
                   "operators": budget.operators, "confirmation": budget.confirmation, "app_pool": budget.app_pool},
        "throttle_attempts": THROTTLE_ATTEMPTS, "variants": variants,
    }
    result["met"] = (judged["lost_users"] == 0 and judged["rows"] == distinct and judged["distinct_rows"] == distinct
                     and judged["peak_connections_confirmation"] <= budget.confirmation
                     and judged["peak_connections_all"] <= facts["max_connections"])
    return result


VARIANT_NAMES = {"budgeted": "budgeted", "unbudgeted": "unbudgeted"}


def budget_rows(r: dict) -> list[list]:
    """The variants as table rows; the console and RESULTS.md both use them."""
    rows = []
    for key, v in r["variants"].items():
        rows.append([VARIANT_NAMES[key], v["containers"], v["deliveries"], v["throttles"], v["errors"],
                     v["lost_users"], v["rows"], v["peak_connections_confirmation"], v["peak_connections_all"],
                     ms(v["latency"]["p50"]), ms(v["latency"]["p95"]), ms(v["burst_wall_ms"])])
    return rows


BUDGET_HEADERS = ["variant", "containers", "deliveries", "throttled", "errors", "lost users", "rows",
                  "peak trigger", "peak all", "p50", "p95", "wall"]


def print_result(r: dict) -> None:
    b = r["budget"]
    print_table(f"7. Connection budget: {r['distinct']} sign-ups + 10% duplicates from {r['callers']} callers, "
                f"max_connections {r['server']['max_connections']}",
                BUDGET_HEADERS, budget_rows(r))
    print(f"budget: {b['superuser_reserved']} superuser reserved + {b['operators']} operators + {b['app_pool']} app "
          f"pool (held open) + {b['confirmation']} confirmation = {b['max_connections']}; "
          f"target met: {r['met']}")
    for key, v in r["variants"].items():
        if v["error_samples"]:
            print(f"{key}: errors {v['error_kinds']}, e.g. {v['error_samples'][0]}")
