"""Run the benchmarks: ``.venv/bin/python -m bench.run [all|trigger|cold|burst|feed|runbooks|plan|budget|cost|replicas|report]``.

Each benchmark prints its table and saves bench/results/<name>.json; ``all`` (the default) runs every one, then
writes bench/RESULTS.md from the saved results (``report`` rewrites it from them without running anything).
``--quick`` shrinks repetitions and data (a smoke run; its numbers are not for RESULTS.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import budget, burst, cost, feed, plan, replicas, runbooks, trigger
from bench.common import machine, save_result

BENCHMARKS = {
    "trigger": (lambda q: trigger.warm(steps=200, warmup=10) if q else trigger.warm(), trigger.print_warm),
    "cold": (lambda q: trigger.cold(repetitions=5 if q else 40), trigger.print_cold),
    "burst": (lambda q: burst.run(distinct=200, workers=10) if q else burst.run(), burst.print_result),
    "feed": (lambda q: feed.run(users=1000, activities=50_000, reps_current=30, reps_seed=5) if q else feed.run(),
             feed.print_result),
    "runbooks": (lambda q: runbooks.run(1, 3, 1, 2) if q else runbooks.run(), runbooks.print_result),
    "plan": (lambda q: plan.run(1, 1) if q else plan.run(), plan.print_result),
    "budget": (lambda q: budget.run(distinct=100, callers=20) if q else budget.run(), budget.print_result),
    "cost": (lambda q: cost.run(), cost.print_result),
    "replicas": (lambda q: replicas.run(distinct=200, workers=10, feed_users=1000, feed_activities=20_000,
                                        feed_reps=30, signups=200, callers=20) if q else replicas.run(),
                 replicas.print_result),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="*", help=f"all (default), report, or any of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="small smoke run (numbers not for RESULTS.md)")
    args = parser.parse_args(argv)
    args.what = args.what or ["all"]
    unknown = [w for w in args.what if w not in ("all", "report", *BENCHMARKS)]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    names = list(BENCHMARKS) if "all" in args.what else [n for n in args.what if n in BENCHMARKS]
    started = time.monotonic()
    for name in names:
        run, show = BENCHMARKS[name]
        t = time.monotonic()
        result = run(args.quick)
        result.update(machine=machine(), quick=args.quick, seconds=time.monotonic() - t)
        show(result)
        if not args.quick:
            path = save_result(name, result)
            shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
            print(f"[{name}: {result['seconds']:.0f} s, saved {shown}]\n")
        else:
            print(f"[{name}: {result['seconds']:.0f} s, quick: not saved]\n")
    if names:
        print(f"total {time.monotonic() - started:.0f} s")
    if ("all" in args.what or "report" in args.what) and not args.quick:
        from bench import report

        path = report.write()
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
