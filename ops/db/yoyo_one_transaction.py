"""``cruddur db migrate``'s yoyo backend: the migrator Lambda's ``lambda/shared/yoyo_one_transaction.py``, reused.

yoyo's stock ``PostgresqlBackend.apply_one`` commits a migration, then records it (``_yoyo_log``,
``_yoyo_migration``) separately: a crash or a killed connection in between leaves it applied but unrecorded, and
the next ``migrate`` fails re-running it. ``backend_class()`` is ``PostgresqlBackend`` with the shared
``OneTransactionApply`` mixin first: a transactional migration runs in ONE transaction with its records (nothing of
it stays when any part fails), a ``-- transactional: false`` one keeps yoyo's path. The SAME source file the migrator
Lambda carries (``components/lambda_shared.py`` copies it into its package), loaded here by path, never copied.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from ops.paths import PROJECT_ROOT

SHARED_SOURCE = PROJECT_ROOT / "lambda" / "shared" / "yoyo_one_transaction.py"  # the one source
_MODULE_NAME = "cruddur_shared_yoyo_one_transaction"  # not the bare name: the Lambda tests import that from sys.path


def shared() -> ModuleType:
    """``lambda/shared/yoyo_one_transaction.py`` as a module (loaded once; ``lambda`` is a keyword, so by path)."""
    module = sys.modules.get(_MODULE_NAME)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, SHARED_SOURCE)
    if spec is None or spec.loader is None or not Path(SHARED_SOURCE).is_file():  # pragma: no cover - a broken checkout
        raise ImportError(f"{SHARED_SOURCE} is missing: restore it from git")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:  # pragma: no cover - a broken checkout
        sys.modules.pop(_MODULE_NAME, None)
        raise
    return module


@functools.cache
def backend_class() -> type:
    """yoyo's ``PostgresqlBackend`` whose ``apply_one`` is the shared one-transaction one."""
    from yoyo.backends.core.postgresql import PostgresqlBackend

    class CliBackend(shared().OneTransactionApply, PostgresqlBackend):
        """``PostgresqlBackend`` applying each transactional migration in one transaction with its records."""

    return CliBackend
