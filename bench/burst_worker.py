"""One simulated Lambda container for the burst benchmark (started by bench/burst.py, 50 at a time).

Init: import the handler fresh (its own module-level connection, as a new container). Prints "ready", waits for
a line on stdin, then invokes the handler for each event in the JSON file given as argv[1], one after another,
and prints one JSON line: per-invocation milliseconds and the errors (type and message).
"""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import LambdaContext, load_handler

events = json.loads(Path(sys.argv[1]).read_text())
handler = load_handler("handler")
context = LambdaContext()
print("ready", flush=True)
sys.stdin.readline()

latencies, errors = [], []
for event in events:
    start = time.perf_counter_ns()
    try:
        handler.handler(event, context)
    except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
        errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    latencies.append((time.perf_counter_ns() - start) / 1e6)
handler._discard()
print(json.dumps({"pid": os.getpid(), "latencies": latencies, "errors": errors}), flush=True)
