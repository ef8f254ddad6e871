"""Benchmark 6: the offline plan. ``ops.offline.stack_eval.evaluate(stack)`` (the real program under the AWS mocks) timed
in a fresh Python process, first call (imports included) and repeated calls, and the whole ``cruddur plan -s
STACK`` command (evaluation + policy pack + tables) as a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.common import PROJECT_DIR, Timer, load_average, ms, print_table, summarize

CLI = str(Path(sys.executable).parent / "cruddur")
STACKS = ("dev", "prod")

CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
from ops.offline.stack_eval import evaluate
imported = (time.perf_counter() - t0) * 1000
stacks, reps = sys.argv[1].split(","), int(sys.argv[2])
out = {"import_ms": imported, "first": {}, "repeat": {s: [] for s in stacks}, "resources": {}}
for stack in stacks:
    t = time.perf_counter(); ev = evaluate(stack); out["first"][stack] = (time.perf_counter() - t) * 1000
    out["resources"][stack] = len(ev.resources)
for _ in range(reps):
    for stack in stacks:
        t = time.perf_counter(); evaluate(stack); out["repeat"][stack].append((time.perf_counter() - t) * 1000)
print(json.dumps(out))
"""


def run(reps: int = 5, command_reps: int = 3) -> dict:
    load = [load_average()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    done = subprocess.run([sys.executable, "-c", CHILD, ",".join(STACKS), str(reps)], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, check=True)
    child = json.loads(done.stdout.strip().splitlines()[-1])
    commands: dict[str, list[float]] = {s: [] for s in STACKS}
    exit_codes: dict[str, int] = {}
    for _ in range(command_reps):
        for stack in STACKS:
            with Timer() as t:
                proc = subprocess.run([CLI, "plan", "-s", stack], cwd=PROJECT_DIR, env=env, capture_output=True,
                                      text=True)
            if proc.returncode not in (0, 1):  # 1 = a mandatory policy violated: still a complete plan
                raise RuntimeError(f"cruddur plan -s {stack} failed: {proc.stderr.strip()[-500:]}")
            exit_codes[stack] = proc.returncode
            commands[stack].append(t.ms)
    load.append(load_average())
    return {
        "load_average": load, "import_ms": child["import_ms"], "resources": child["resources"],
        "evaluate_first": child["first"],
        "evaluate": {s: summarize(v) for s, v in child["repeat"].items()},
        "command": {s: summarize(v) for s, v in commands.items()}, "exit_codes": exit_codes,
    }


def print_result(r: dict) -> None:
    rows = []
    for stack in STACKS:
        e, c = r["evaluate"][stack], r["command"][stack]
        rows.append([stack, r["resources"][stack], ms(r["evaluate_first"][stack]), ms(e["p50"]), ms(e["p95"]),
                     ms(c["p50"]), ms(c["p95"])])
    print_table(f"6. Offline plan (import of ops.offline.stack_eval: {ms(r['import_ms'])})",
                ["stack", "resources", "evaluate, first", "evaluate p50", "p95", "cruddur plan p50", "p95"], rows)
