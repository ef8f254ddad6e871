"""One simulated Lambda container for the connection-budget benchmark (started by bench/budget.py).

``bench.common.serve_container``: for every line on stdin (one Cognito event as JSON), invoke the handler and print
one JSON line: {"ok": bool, "ms": float, "error": "Type: message" or null}. Stops at EOF.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import serve_container


def report(ms: float, error: str | None) -> None:
    print(json.dumps({"ok": error is None, "ms": ms, "error": error}), flush=True)


serve_container((json.loads(line) for line in sys.stdin), report)
