"""One simulated Lambda container for the burst benchmark (started by bench/burst.py, 50 at a time).

``bench.common.serve_container``: after "ready", waits for a line on stdin, then invokes the handler for each event
in the JSON file given as argv[1], one after another, and prints one JSON line: per-invocation milliseconds and the
errors (type and message).
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import serve_container

latencies, errors = [], []


def record(ms: float, error: str | None) -> None:
    latencies.append(ms)
    if error:
        errors.append(error)


serve_container(json.loads(Path(sys.argv[1]).read_text()), record, start_on_go=True)
print(json.dumps({"pid": os.getpid(), "latencies": latencies, "errors": errors}), flush=True)
