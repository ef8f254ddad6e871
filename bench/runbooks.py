"""Benchmark 5: wall time of the runbook commands, each a fresh `cruddur` process (as a developer runs them).

- ``cruddur local up`` on a fresh folder (initdb, start, create, migrate, seed, role passwords, .env);
- ``cruddur local up`` on a warm folder, server running (everything is already there: checks only);
- ``cruddur local up`` on a warm folder, server stopped (start, then checks);
- ``cruddur db setup`` on the existing database (create-if-missing, migrate, seed: all no-ops);
- ``cruddur --help``: the CLI's own start-up (Python + imports), the floor of every command.

The folder is chosen with CRUDDUR_LOCAL_DIR (a temp dir), the port with --port; CONNECTION_URL is removed from
the environment so the commands act on that folder's server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import Timer, load_average, ms, print_table, summarize

CLI = str(Path(sys.executable).parent / "cruddur")


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CONNECTION_URL", "CRUDDUR_LOCAL_PORT")}
    env["CRUDDUR_LOCAL_DIR"] = str(folder)
    return env


def _timed(args: list[str], env: dict[str, str]) -> float:
    with Timer() as t:
        done = subprocess.run([CLI, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"cruddur {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return t.ms


def run(fresh_reps: int = 3, warm_reps: int = 10, restart_reps: int = 3, setup_reps: int = 10) -> dict:
    from ops.local.server import free_port

    load = [load_average()]
    samples: dict[str, list[float]] = {"fresh": [], "warm": [], "restart": [], "setup": [], "help": []}
    for _ in range(5):
        samples["help"].append(_timed(["--help"], _env(Path(tempfile.gettempdir()))))
    for _ in range(fresh_reps):
        with tempfile.TemporaryDirectory(prefix="cruddur-runbook-") as tmp:
            env = _env(Path(tmp))
            try:
                samples["fresh"].append(_timed(["local", "up", "--port", str(free_port())], env))
            finally:
                subprocess.run([CLI, "local", "destroy", "--yes"], env=env, capture_output=True)
    with tempfile.TemporaryDirectory(prefix="cruddur-runbook-") as tmp:
        env = _env(Path(tmp))
        try:
            _timed(["local", "up", "--port", str(free_port())], env)
            for _ in range(warm_reps):
                samples["warm"].append(_timed(["local", "up"], env))
            for _ in range(setup_reps):
                samples["setup"].append(_timed(["db", "setup"], env))
            for _ in range(restart_reps):
                _timed(["local", "down"], env)
                samples["restart"].append(_timed(["local", "up"], env))
        finally:
            subprocess.run([CLI, "local", "destroy", "--yes"], env=env, capture_output=True)
    load.append(load_average())
    stats = {name: summarize(values) for name, values in samples.items()}
    return {"load_average": load, "stats": stats, "met": stats["warm"]["p95"] < 3000}


LABELS = {
    "fresh": "cruddur local up (fresh folder)",
    "warm": "cruddur local up (warm, running)",
    "restart": "cruddur local up (warm, stopped)",
    "setup": "cruddur db setup (existing database)",
    "help": "cruddur --help (CLI start-up)",
}


def print_result(r: dict) -> None:
    rows = [[LABELS[k], s["n"], ms(s["p50"]), ms(s["p95"]), ms(s["max"])] for k, s in r["stats"].items()]
    print_table("5. Runbooks (wall time of a fresh process)", ["command", "n", "p50", "p95", "max"], rows)
