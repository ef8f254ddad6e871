"""The cost estimate of another checkout's stack (a pull request's base), with THIS checkout's estimator and prices.

A pull request's cost change is base vs head under the same price files and rules, so only the program differs.
The base's program (its ``__main__.py``, ``components/``, stack files) must be evaluated with its own components,
and ``cruddur`` has already imported this checkout's ``components`` (``ops.cli.targets`` does): the evaluation runs
in a fresh interpreter that imports only ``ops.offline`` from here before ``stack_eval`` puts the other tree first
on ``sys.path``, so the tree's ``__main__.py`` imports the tree's ``components``. Offline: mocks only, no AWS call.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from ops.offline.cost import Assumptions, CostError
from ops.paths import PROJECT_ROOT

_CHILD = "import sys; sys.path.insert(0, sys.argv[1]); from ops.offline.cost_tree import child; child(sys.argv[2:])"


def estimate_tree(tree: Path, stack: str, assumptions: Assumptions, timeout: float = 300) -> dict:
    """``Estimate.to_dict()`` of ``stack`` as the checkout at ``tree`` declares it. ``CostError`` (one line) when
    the tree has no such stack, cannot be evaluated, or its region has no price file here."""
    tree = Path(tree).resolve()
    if not (tree / "Pulumi.yaml").is_file() or not (tree / "__main__.py").is_file():
        raise CostError(f"{tree} is not a checkout of the program (no Pulumi.yaml and __main__.py)")
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "estimate.json"
        done = subprocess.run(
            [sys.executable, "-P", "-c", _CHILD, str(PROJECT_ROOT), str(tree), stack, str(result),
             json.dumps(assumptions.to_dict())],
            cwd=scratch, capture_output=True, text=True, timeout=timeout,
        )
        if done.returncode != 0 or not result.exists():
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            raise CostError(f"stack '{stack}' of {tree}: {lines[-1] if lines else 'evaluation failed'}")
        return json.loads(result.read_text())


def child(argv: list[str]) -> None:  # pragma: no cover - runs in the fresh interpreter started above
    """Evaluate ``argv = [tree, stack, out_file, assumptions_json]`` and write the estimate as JSON."""
    tree, stack, out_file, assumptions_json = argv
    from decimal import Decimal

    from ops.offline.cost import estimate
    from ops.offline.stack_eval import StackFileError, evaluate

    values = json.loads(assumptions_json)
    fields = Assumptions.__dataclass_fields__
    assumptions = Assumptions(**{k: Decimal(str(v)) if fields[k].type == "Decimal" else v
                                 for k, v in values.items() if k in fields})
    try:
        evaluation = evaluate(stack, project_dir=Path(tree))
        region = evaluation.config.get("aws:region", "")
        result = estimate(evaluation.resources, evaluation.outputs, region, assumptions, stack=stack)
    except (StackFileError, CostError) as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the tree's own ConfigError (its components, not ours) and the like
        problems = getattr(exc, "problems", None)
        print("; ".join(problems) if problems else f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)
    Path(out_file).write_text(json.dumps(result.to_dict(), indent=2))
