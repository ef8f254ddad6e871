"""Modules that more than one Lambda package carries, each from ONE source file under ``lambda/shared``.

Every function ships only its own package (no shared layer for a few lines of code, and each package is signed on
its own), so a module two functions need is copied into both zips beside their handlers, from the same file:

- ``master_login.py`` (``lambda/shared/master_login.py``): the master's login through a rotation, in two halves:
  reading the AWSCURRENT, AWSPENDING and AWSPREVIOUS candidates (outside the VPC) and logging in with the first the
  database accepts, the next only on a refused password (inside it). Packaged by ``components/migrator.py`` (both
  migrator functions) and ``components/restore_drill.py`` (the report reads, the probe logs in).
  The operator CLI loads the same file by path (``ops/stack/master_login.py``) for its ``-s STACK`` connections.
- ``yoyo_one_transaction.py`` (``lambda/shared/yoyo_one_transaction.py``): apply a transactional yoyo migration in
  ONE transaction with its ``_yoyo_log``/``_yoyo_migration`` rows. Packaged by ``components/migrator.py``; the
  operator CLI loads the same file by path (``ops/db/yoyo_one_transaction.py``) for ``cruddur db migrate``.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from components.packaging import PROJECT_DIR

SHARED_SOURCE = PROJECT_DIR / "lambda" / "shared"
MASTER_LOGIN = "master_login.py"
YOYO_ONE_TRANSACTION = "yoyo_one_transaction.py"


class SharedModuleMissing(pulumi.RunError):
    """A shared module's source file is not in the repository."""


# Why each shared module ships in a package: the end of the one-line error when its source is missing.
CARRIED_BY = {
    MASTER_LOGIN: "the functions that connect as the master (migrator, restore probe) carry it beside their handler",
    YOYO_ONE_TRANSACTION: "the migrator carries it beside its handler (each migration in one transaction with its "
                          "yoyo records)",
}


def shared_assets(filename: str, shared_dir: Path = SHARED_SOURCE) -> dict[str, pulumi.FileAsset]:
    """``{filename: <lambda/shared/filename>}``, for a package's ``AssetArchive``."""
    source = shared_dir / filename
    if not source.is_file():
        raise SharedModuleMissing(f"{source} is missing: {CARRIED_BY[filename]}; restore it from git")
    return {filename: pulumi.FileAsset(str(source))}


def master_login_assets(shared_dir: Path = SHARED_SOURCE) -> dict[str, pulumi.FileAsset]:
    """``{"master_login.py": <lambda/shared/master_login.py>}``."""
    return shared_assets(MASTER_LOGIN, shared_dir)


def yoyo_one_transaction_assets(shared_dir: Path = SHARED_SOURCE) -> dict[str, pulumi.FileAsset]:
    """``{"yoyo_one_transaction.py": <lambda/shared/yoyo_one_transaction.py>}``."""
    return shared_assets(YOYO_ONE_TRANSACTION, shared_dir)
