"""The CLI's way to reuse a module of ``lambda/shared/`` (the one source the Lambda packages carry a copy of, see
``components/lambda_shared.py``): loaded by path, once, under a prefixed module name (``lambda`` is a keyword, and
the Lambda tests import the bare names from ``sys.path``), never copied into ``ops/``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from ops.paths import PROJECT_ROOT

SHARED_DIR = PROJECT_ROOT / "lambda" / "shared"


def source(name: str) -> Path:
    """``lambda/shared/<name>.py``."""
    return SHARED_DIR / f"{name}.py"


def load(name: str) -> ModuleType:
    """``lambda/shared/<name>.py`` as the module ``cruddur_shared_<name>`` (loaded once)."""
    module_name = f"cruddur_shared_{name}"
    module = sys.modules.get(module_name)
    if module is not None:
        return module
    path = source(name)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None or not path.is_file():  # pragma: no cover - a broken checkout
        raise ImportError(f"{path} is missing: restore it from git")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:  # pragma: no cover - a broken checkout
        sys.modules.pop(module_name, None)
        raise
    return module
