"""The shape of ``ops/``: Typer and Rich only under ``ops/cli/``, the project folder computed only in ``ops/paths.py``."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

from ops.paths import PROJECT_ROOT

OPS = PROJECT_ROOT / "ops"
CLI_ONLY = {"typer", "rich", "click"}


def _modules(folder):
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _imported_roots(path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_typer_and_rich_are_imported_only_under_ops_cli():
    library = [p for p in _modules(OPS) if (OPS / "cli") not in p.parents]
    assert {p.relative_to(OPS).as_posix() for p in library} >= {
        "paths.py", "dotenv.py", "errors.py", "urls.py", "db/connections.py", "db/target.py", "local/server.py",
        "stack/outputs.py", "offline/verdicts.py"}
    offenders = {p.relative_to(PROJECT_ROOT).as_posix(): sorted(_imported_roots(p) & CLI_ONLY) for p in library}
    assert {path: found for path, found in offenders.items() if found} == {}
    # ...and the CLI really uses them (the check above would pass vacuously on a wrong folder).
    assert {"typer", "rich"} <= set().union(*(_imported_roots(p) for p in _modules(OPS / "cli")))


def test_the_libraries_load_without_typer_or_rich():
    modules = [".".join(p.relative_to(PROJECT_ROOT).with_suffix("").parts) for p in _modules(OPS)
               if (OPS / "cli") not in p.parents and p.name != "__init__.py"]
    code = ("import importlib, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'rich', 'click'}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert "ops.db.migrations" in modules and "ops.offline.stack_eval" in modules


def test_the_project_folder_is_computed_only_in_ops_paths():
    computing = sorted(p.relative_to(OPS).as_posix() for p in _modules(OPS)
                       if "__file__" in p.read_text() or re.search(r"\.parents\[", p.read_text()))
    assert computing == ["paths.py"]
