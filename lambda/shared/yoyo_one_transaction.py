"""Apply a yoyo migration in ONE transaction together with its ``_yoyo_log`` and ``_yoyo_migration`` rows.

yoyo's own ``DatabaseBackend.apply_one`` runs a migration's steps in one transaction (on a copy of the backend, its
own connection) and only afterwards writes the ``_yoyo_log`` row (autocommit) and the ``_yoyo_migration`` row (a
second transaction). A crash, a killed connection or a failing insert between the two leaves the migration applied
but unrecorded, and the next run fails re-running it. ``OneTransactionApply.apply_one`` instead, for a
transactional migration (the default), on the backend's own connection:

1. ``BEGIN``; the migration's steps (yoyo's ``process_steps``, inside a savepoint);
2. its ``_yoyo_log`` row (operation ``apply``) and, unless ``mark=False`` (post-apply hooks), its
   ``_yoyo_migration`` row;
3. ``COMMIT``. Any failure in 1 or 2 rolls ALL of it back: neither the migration's effect nor a record remains, and
   the next run applies it once.

A ``-- transactional: false`` migration (e.g. ``CREATE INDEX CONCURRENTLY``) cannot run inside a transaction: it
keeps yoyo's own path (``super().apply_one``), where recording is a separate step by nature.

Use it as the FIRST base of a yoyo backend class, before ``PostgresqlBackend``::

    class Backend(OneTransactionApply, PostgresqlBackend): ...

ONE source file, ``lambda/shared/yoyo_one_transaction.py``: ``components/lambda_shared.py`` copies it into the
migrator's package as ``yoyo_one_transaction.py`` beside its handler (``lambda/migrator/handler.py``,
``MigratorBackend``), and the operator CLI loads the same file by path (``ops/db/yoyo_one_transaction.py``) for
``cruddur db migrate``. It imports nothing: the backend it is mixed into brings yoyo.
"""

from __future__ import annotations

from typing import Any


class OneTransactionApply:
    """Mixin for a yoyo ``DatabaseBackend``: ``apply_one`` as the module docstring describes."""

    def apply_one(self, migration: Any, force: bool = False, mark: bool = True) -> None:
        migration.load()
        if not migration.use_transactions:  # `-- transactional: false`: yoyo's own path
            return super().apply_one(migration, force=force, mark=mark)
        self.ensure_internal_schema_updated()  # may commit its own upgrade first
        with self.transaction():
            migration.process_steps(self, "apply", force=force)  # a savepoint inside this transaction
            self.log_migration(migration, "apply")
            if mark:
                self.mark_one(migration, log=False)
        return None
