"""Helpers for the schema migrator's tests (``tests/lambda`` cannot be named in an import statement: ``lambda`` is a
keyword). The handler lives in ``lambda/migrator/handler.py`` and is loaded by path, as ``tests/lambda_support.py``
loads the confirmation handler (``fresh_module``): ``load_migrator_module()`` returns a FRESH module each
call, so two loads behave like two Lambda containers (used for the concurrency test).
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.lambda_support import fresh_module

PROJECT_DIR = Path(__file__).resolve().parents[1]
MIGRATOR_PATH = PROJECT_DIR / "lambda" / "migrator" / "handler.py"
# lambda/shared's modules (master_login.py): each package carries them beside its handler (components/lambda_shared.py
# copies them in); a handler loaded from the repository finds their one source directory on sys.path instead.
SHARED_DIR = PROJECT_DIR / "lambda" / "shared"
# Every variable the migrator reads: cleared for each test so the developer's shell never leaks in.
MIGRATOR_ENV = ("MASTER_SECRET_ARN", "APP_SECRET_ARN", "DB_HOST", "DB_PORT", "DB_NAME", "APP_ROLE", "DB_SSLMODE",
                "DB_SSLROOTCERT", "DB_CONNECT_TIMEOUT_S", "MIGRATION_LOCK_TIMEOUT_S", "MIGRATIONS_DIR",
                "AWS_LAMBDA_FUNCTION_NAME", "AWS_PROFILE")


def shared_modules_importable() -> None:
    """Let a handler loaded from the repository ``import master_login`` as it does in its package."""
    if str(SHARED_DIR) not in sys.path:
        sys.path.append(str(SHARED_DIR))


def load_migrator_module():
    shared_modules_importable()
    return fresh_module(MIGRATOR_PATH, "migrator_handler")
