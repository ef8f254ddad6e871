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
from types import ModuleType

from ops import lambda_shared

SHARED_SOURCE = lambda_shared.source("yoyo_one_transaction")  # the one source (components/lambda_shared.py copies it)


def shared() -> ModuleType:
    """``lambda/shared/yoyo_one_transaction.py`` as a module (``ops.lambda_shared``: loaded once, by path)."""
    return lambda_shared.load("yoyo_one_transaction")


@functools.cache
def backend_class() -> type:
    """yoyo's ``PostgresqlBackend`` whose ``apply_one`` is the shared one-transaction one."""
    from yoyo.backends.core.postgresql import PostgresqlBackend

    class CliBackend(shared().OneTransactionApply, PostgresqlBackend):
        """``PostgresqlBackend`` applying each transactional migration in one transaction with its records."""

    return CliBackend
