"""One simulated Lambda container for the connection-budget benchmark (started by bench/budget.py).

Init: import the handler fresh (its own module-level connection, as a new container), print "ready". Then, for every
line on stdin (one Cognito event as JSON), invoke the handler and print one JSON line: {"ok": bool, "ms": float,
"error": "Type: message" or null}. Stops at EOF.
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import LambdaContext, load_handler

handler = load_handler("handler")
context = LambdaContext()
print("ready", flush=True)
for line in sys.stdin:
    event = json.loads(line)
    start = time.perf_counter_ns()
    error = None
    try:
        handler.handler(event, context)
    except Exception as exc:  # noqa: BLE001 - every failure is reported
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    print(json.dumps({"ok": error is None, "ms": (time.perf_counter_ns() - start) / 1e6, "error": error}),
          flush=True)
handler._discard()
