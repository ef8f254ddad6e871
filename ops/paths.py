"""Where the project's files are: the SQL next to the ``ops`` package, the local folder configurable."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS_DIR = PROJECT_ROOT / "sql" / "migrations"
SEED_DIR = PROJECT_ROOT / "sql" / "seed"

LOCAL_DIR_ENV = "CRUDDUR_LOCAL_DIR"


def project_dir(override: str | Path | None = None) -> Path:
    """The folder holding ``.local/`` (the local server) and ``.env``: ``override``, else
    ``$CRUDDUR_LOCAL_DIR``, else the project root."""
    chosen = override or os.environ.get(LOCAL_DIR_ENV) or PROJECT_ROOT
    return Path(chosen).expanduser().resolve()


def local_root(override: str | Path | None = None) -> Path:
    return project_dir(override) / ".local"


def env_file(override: str | Path | None = None) -> Path:
    return project_dir(override) / ".env"
