"""Benchmark 3: a burst of sign-ups. 1,000 distinct confirmations plus 10% duplicate deliveries (Cognito retries)
from 50 concurrent "containers": 50 processes, each importing the handler fresh and opening its own connection on
its first invocation, as new Lambda containers do. Every duplicate goes to a different container than the
original, at the same position in its queue, so the two deliveries race.

Checks: zero errors, exactly 1,000 rows. Reports the peak number of server connections (pg_stat_activity polled
every 2 ms during the burst), the server's max_connections, per-invocation latency (first invocation of a
container = connect + insert) and the burst's wall time.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

from bench.common import (
    Timer,
    bench_server,
    confirmation_event,
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


def plan_events(distinct: int, workers: int, duplicate_share: float, rng: random.Random) -> list[list[dict]]:
    events = [confirmation_event(str(__import__("uuid").UUID(int=rng.getrandbits(128), version=4)))
              for _ in range(distinct)]
    queues = [events[w::workers] for w in range(workers)]
    for original in rng.sample(range(distinct), int(distinct * duplicate_share)):
        w, position = original % workers, original // workers
        other = (w + rng.randrange(1, workers)) % workers
        queues[other].insert(min(position, len(queues[other])), events[original])
    return queues


def run(distinct: int = 1000, workers: int = 50, duplicate_share: float = 0.10, seed: int = 7) -> dict:
    load = [load_average()]
    rng = random.Random(seed)
    queues = plan_events(distinct, workers, duplicate_share, rng)
    with bench_server(durable=True) as server, migrated_database(server, "bench_burst") as admin_url, \
            tempfile.TemporaryDirectory(prefix="cruddur-burst-") as tmp:
        url = confirmation_role_url(admin_url)
        procs = []
        with Timer() as init:
            for w, queue in enumerate(queues):
                path = Path(tmp) / f"events-{w}.json"
                path.write_text(json.dumps(queue))
                procs.append(start_container("burst_worker.py", str(path), connection_url=url))
            for proc in procs:
                wait_ready(proc, "burst")

        with peak_connections(admin_url) as peak, Timer() as burst:
            for proc in procs:
                proc.stdin.write("go\n")
                proc.stdin.flush()
            outputs = [json.loads(proc.communicate()[0].strip().splitlines()[-1]) for proc in procs]
        rows, distinct_rows = recorded_users(admin_url)
        facts = server.facts()
    load.append(load_average())
    latencies = [v for o in outputs for v in o["latencies"]]
    firsts = [o["latencies"][0] for o in outputs if o["latencies"]]
    rest = [v for o in outputs for v in o["latencies"][1:]]
    errors = [e for o in outputs for e in o["errors"]]
    deliveries = sum(len(q) for q in queues)
    result = {
        "server": facts, "load_average": load, "workers": workers, "distinct": distinct, "deliveries": deliveries,
        "duplicates": deliveries - distinct, "errors": len(errors), "error_samples": errors[:5],
        "rows": rows, "distinct_rows": distinct_rows, "peak_connections_confirmation": peak["confirmation"],
        "peak_connections_all": peak["all"], "init_wall_ms": init.ms, "burst_wall_ms": burst.ms,
        "throughput_per_s": deliveries / (burst.ms / 1000),
        "latency": summarize(latencies), "first_invocation": summarize(firsts), "later_invocations": summarize(rest),
    }
    result["met"] = result["errors"] == 0 and rows == distinct and distinct_rows == distinct
    return result


def print_result(r: dict) -> None:
    rows = [["all invocations", r["latency"]["n"], ms(r["latency"]["p50"]), ms(r["latency"]["p95"]),
             ms(r["latency"]["max"])],
            ["first per container (connect + insert)", r["first_invocation"]["n"], ms(r["first_invocation"]["p50"]),
             ms(r["first_invocation"]["p95"]), ms(r["first_invocation"]["max"])],
            ["later (reused connection)", r["later_invocations"]["n"], ms(r["later_invocations"]["p50"]),
             ms(r["later_invocations"]["p95"]), ms(r["later_invocations"]["max"])]]
    print_table(f"3. Burst: {r['distinct']} sign-ups + {r['duplicates']} duplicates from {r['workers']} containers",
                ["invocations", "n", "p50", "p95", "max"], rows)
    print(f"errors {r['errors']}, rows {r['rows']} (distinct {r['distinct_rows']}), peak connections "
          f"{r['peak_connections_confirmation']} trigger / {r['peak_connections_all']} total of max_connections "
          f"{r['server']['max_connections']}, burst {ms(r['burst_wall_ms'])} ({r['throughput_per_s']:.0f}/s)")
