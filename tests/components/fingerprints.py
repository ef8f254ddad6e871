"""What each custom resource of a stack is, as one digest: its type, its inputs and its options.

A refactoring that moves resources between components must leave every real resource as it was: same inputs, same
protection, same ignore_changes and timeouts. ``fixtures/fingerprints-<stack>.json`` holds, for each custom resource,
the URN it had when recorded and the digest of what it was; ``test_refactor_guard.py`` checks that the resource
declaring that URN (or naming it in its ``aliases``) still has that digest.

Record again after a deliberate change, and say why in the commit:
    .venv/bin/python -m tests.components.fingerprints dev prod
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pulumi

from ops.offline.stack_eval import Evaluation, evaluate
from ops.paths import PROJECT_ROOT

FIXTURES = Path(__file__).parent / "fixtures"


def _canonical(value: Any) -> Any:
    """Inputs as plain JSON: assets by their path relative to the project (zips by their content digest)."""
    if isinstance(value, pulumi.FileAsset):
        path = Path(str(value.path))
        if path.suffix == ".zip":  # a layer build: its name is the cache key, its bytes are what counts
            return {"file-sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        return {"file": str(path.resolve().relative_to(PROJECT_ROOT))}
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": {name: _canonical(asset) for name, asset in sorted(value.assets.items())}}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def fingerprint(resource) -> str:
    what = {"type": resource.type, "inputs": _canonical(resource.props), "protect": resource.protect,
            "ignore_changes": sorted(resource.ignore_changes), "timeouts": resource.custom_timeouts,
            "delete_before_replace": resource.delete_before_replace}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def fingerprints(evaluation: Evaluation) -> dict[str, str]:
    return {r.urn: fingerprint(r) for r in evaluation.resources if r.custom}


def fixture(stack: str) -> Path:
    return FIXTURES / f"fingerprints-{stack}.json"


if __name__ == "__main__":
    for name in sys.argv[1:] or ["dev", "prod"]:
        fixture(name).write_text(json.dumps(fingerprints(evaluate(name)), indent=1, sort_keys=True) + "\n")
        print(f"recorded {fixture(name)}")
