"""Benchmarks 1 and 2: the post-confirmation trigger, warm (per invocation) and cold (fresh process).

Warm compares three ways of recording one confirmed user, all over TCP to 127.0.0.1 with scram-sha-256 password
auth as the least-privilege ``cruddur_confirmation`` role, against a durable server (fsync and synchronous_commit
on, as on RDS), each row a new user:

- floor:   the handler's own parameterized INSERT ... ON CONFLICT on an already open autocommit connection;
- handler: the real ``handler(event, context)`` of lambda/post_confirmation (event parsing, Powertools JSON logs,
           the container's reused connection);
- seed:    the bootcamp's approach: connect, insert, commit, close for every event.

The three are interleaved in rounds so background load hits them alike.

Cold runs ``bench/cold_child.py`` in a fresh interpreter many times: import the handler, first invocation
(connect + insert), and separately the extra cost the IAM path adds on AWS (import boto3, sign an auth token).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.common import (
    BENCH_DIR,
    LambdaContext,
    Timer,
    bench_server,
    confirmation_event,
    confirmation_role_url,
    load_average,
    load_handler,
    migrated_database,
    ms,
    print_table,
    ratio,
    summarize,
    tls_handshake_ms,
    user_row,
)


def _floor_insert(conn, insert_sql: str, event: dict) -> None:
    with conn.cursor() as cur:
        cur.execute(insert_sql, user_row(event))


def _seed_insert(url: str, insert_sql: str, event: dict) -> None:
    import psycopg2

    conn = psycopg2.connect(url)  # what the bootcamp's Lambda does for every event
    try:
        with conn.cursor() as cur:
            cur.execute(insert_sql, user_row(event))
        conn.commit()
    finally:
        conn.close()


def _measure(admin_url: str, url_params: dict[str, str], steps: int, seed_every: int, warmup: int) -> dict:
    """Interleave floor / handler (alternating who goes first) and, every ``seed_every`` steps, the seed's way."""
    import psycopg2

    from ops.urls import with_params

    url = with_params(confirmation_role_url(admin_url), **url_params)
    os.environ["CONNECTION_URL"] = url
    try:
        handler_module = load_handler()
        insert_sql = handler_module.INSERT_USER
        context = LambdaContext()
        floor_conn = psycopg2.connect(url)
        floor_conn.autocommit = True
        methods = {
            "floor": lambda event: _floor_insert(floor_conn, insert_sql, event),
            "handler": lambda event: handler_module.handler(event, context),
            "seed": lambda event: _seed_insert(url, insert_sql, event),
        }
        for fn in methods.values():  # connections open, code paths and plans warm
            for _ in range(warmup):
                fn(confirmation_event())
        samples: dict[str, list[float]] = {name: [] for name in methods}
        for step in range(steps):
            names = ["floor", "handler"] if step % 2 else ["handler", "floor"]
            if step % seed_every == seed_every // 2:
                names.insert(step % 3, "seed")
            for name in names:
                event = confirmation_event()
                start = time.perf_counter_ns()
                methods[name](event)
                samples[name].append((time.perf_counter_ns() - start) / 1e6)
        with floor_conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM users")
            rows = cur.fetchone()[0]
            cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            tls = cur.fetchone()[0]
        floor_conn.close()
        handler_module._discard()
    finally:
        os.environ.pop("CONNECTION_URL", None)
    stats = {name: summarize(values) for name, values in samples.items()}
    return {
        "stats": stats, "tls": tls, "rows_inserted": rows,
        "rows_expected": sum(len(v) for v in samples.values()) + warmup * len(methods),
        "handler_over_floor_p50": stats["handler"]["p50"] / stats["floor"]["p50"],
        "seed_over_handler_p50": stats["seed"]["p50"] / stats["handler"]["p50"],
        "handler_overhead_us_p50": (stats["handler"]["p50"] - stats["floor"]["p50"]) * 1000,
    }


def warm(steps: int = 1000, seed_every: int = 5, warmup: int = 50) -> dict:
    """Two servers: durable + plain TCP (the judged one: commits wait for the disk, as on RDS) and fsync off + plain
    TCP (no disk: what the code itself costs). Plus a TLS handshake alone, which every new connection to RDS pays
    (the embedded build has no SSL support)."""
    load = [load_average()]
    configs = {}
    with bench_server(durable=True) as server:
        facts = server.facts()
        with migrated_database(server, "bench_trigger") as admin_url:
            configs["durable_tcp"] = _measure(admin_url, {}, steps, seed_every, warmup)
    if server.local is not None:
        with bench_server(durable=False) as fast, migrated_database(fast, "bench_trigger") as admin_url:
            configs["nofsync_tcp"] = _measure(admin_url, {}, steps, seed_every, warmup)
    load.append(load_average())
    judged = configs["durable_tcp"]
    tls = summarize(tls_handshake_ms())
    return {
        "server": facts, "load_average": load, "steps": steps, "seed_every": seed_every, "configs": configs,
        "tls_handshake": tls,
        "seed_over_handler_p50_with_tls": (judged["stats"]["seed"]["p50"] + tls["p50"]) / judged["stats"]["handler"]["p50"],
        "met_floor": judged["handler_over_floor_p50"] <= 1.5,
        "met_seed": judged["seed_over_handler_p50"] >= 10,
    }


CONFIG_NAMES = {
    "durable_tcp": "durable, TCP (judged)",
    "nofsync_tcp": "fsync off, TCP (code only)",
}


def warm_rows(result: dict) -> list[list]:
    """The warm benchmark as table rows (server, method, n, p50, p95, p99, p50 vs floor); the console and RESULTS.md
    both use them."""
    rows = []
    for key, config in result["configs"].items():
        s = config["stats"]
        for name in ("floor", "handler", "seed"):
            rows.append([CONFIG_NAMES[key], name, s[name]["n"], ms(s[name]["p50"]), ms(s[name]["p95"]),
                         ms(s[name]["p99"]), ratio(s[name]["p50"] / s["floor"]["p50"])])
    return rows


def print_warm(result: dict) -> None:
    rows = warm_rows(result)
    print_table("1. Confirmation trigger, warm (per invocation)",
                ["server", "method", "n", "p50", "p95", "p99", "p50 vs floor"], rows)
    print(f"TLS handshake alone (loopback, RSA-2048, verify-full): p50 {ms(result['tls_handshake']['p50'])}, "
          f"p95 {ms(result['tls_handshake']['p95'])}; seed + one handshake vs handler p50: "
          f"{result['seed_over_handler_p50_with_tls']:.1f}x")
    for key, config in result["configs"].items():
        print(f"{CONFIG_NAMES[key]}: handler/floor p50 = {config['handler_over_floor_p50']:.2f}x (target <= 1.5x), "
              f"seed/handler p50 = {config['seed_over_handler_p50']:.1f}x (target >= 10x), handler overhead "
              f"{config['handler_overhead_us_p50']:.0f} µs; rows {config['rows_inserted']}/{config['rows_expected']}")


def cold(repetitions: int = 40) -> dict:
    load = [load_average()]
    with bench_server(durable=True) as server, migrated_database(server, "bench_cold") as admin_url:
        url = confirmation_role_url(admin_url)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "AWS_"))}
        env.update(CONNECTION_URL=url, POWERTOOLS_SERVICE_NAME="cruddur-post-confirmation",
                   PYTHONDONTWRITEBYTECODE="1")
        child = [sys.executable, str(BENCH_DIR / "cold_child.py")]
        # the bare interpreter, for reference (Lambda's runtime start is not in the function's Init Duration)
        bare = []
        for _ in range(10):
            with Timer() as t:
                subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
            bare.append(t.ms)
        subprocess.run(child, check=True, env=env, capture_output=True)  # page cache and .pyc warm, as on Lambda
        subprocess.run([*child, "--iam"], check=True, env=env, capture_output=True)
        walls: dict[str, list[float]] = {"local": [], "iam": []}
        parts: dict[str, list[dict]] = {"local": [], "iam": []}
        for _ in range(repetitions):  # alternate: background load hits both alike
            for variant, args in (("local", child), ("iam", [*child, "--iam"])):
                with Timer() as t:
                    done = subprocess.run(args, check=True, env=env, capture_output=True, text=True)
                walls[variant].append(t.ms)
                parts[variant].append(json.loads(done.stdout.strip().splitlines()[-1]))
        facts = server.facts()
    load.append(load_average())
    keys = ("import_ms", "first_invoke_ms", "in_process_ms")
    result = {
        "server": facts, "load_average": load, "repetitions": repetitions,
        "bare_interpreter": summarize(bare),
        "wall": summarize(walls["local"]),
        "parts": {k: summarize([p[k] for p in parts["local"]]) for k in keys},
        "iam_path": summarize([p["iam_path_ms"] for p in parts["iam"]]),
        "wall_iam": summarize(walls["iam"]),
    }
    result["met"] = result["wall"]["p95"] < 1000 and result["wall_iam"]["p95"] < 1000
    return result


def cold_rows(result: dict) -> list[list[str]]:
    """The cold-start phases as table rows (label, p50, p95, max); the console and RESULTS.md both use them."""
    parts = result["parts"]
    phases = [
        ("bare interpreter (`python -c pass`, for reference)", result["bare_interpreter"]),
        ("import the handler (psycopg2, Powertools)", parts["import_ms"]),
        ("first invocation (connect + insert)", parts["first_invoke_ms"]),
        ("import + first invocation, in process", parts["in_process_ms"]),
        ("whole fresh process, CONNECTION_URL path (wall)", result["wall"]),
        ("IAM path extra: import boto3, RDS client, sign token", result["iam_path"]),
        ("whole fresh process, with the IAM path (wall)", result["wall_iam"]),
    ]
    return [[label, ms(s["p50"]), ms(s["p95"]), ms(s["max"])] for label, s in phases]


def print_cold(result: dict) -> None:
    rows = cold_rows(result)
    print_table(f"2. Confirmation trigger, cold ({result['repetitions']} fresh processes)",
                ["phase", "p50", "p95", "max"], rows)

