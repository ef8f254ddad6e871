"""Where the project's files are. The project folder is computed here ONCE; everything else imports it.

Two environment variables move folders:

- ``CRUDDUR_LOCAL_DIR`` (or ``--local-dir``): the folder holding ``.local/`` (the local server) and ``.env``;
- ``CRUDDUR_PROJECT_DIR``: another copy of the project for ``cruddur plan`` (its ``Pulumi.yaml``, stack files and
  ``__main__.py``); the SQL, the policies and the code always come from this checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]  # the folder holding ops/, components/, sql/, policy/
MIGRATIONS_DIR = PROJECT_ROOT / "sql" / "migrations"
SEED_DIR = PROJECT_ROOT / "sql" / "seed"
POLICY_DIR = PROJECT_ROOT / "policy"

LOCAL_DIR_ENV = "CRUDDUR_LOCAL_DIR"
PROJECT_DIR_ENV = "CRUDDUR_PROJECT_DIR"


def project_dir(override: str | Path | None = None) -> Path:
    """The folder holding ``.local/`` (the local server) and ``.env``: ``override``, else
    ``$CRUDDUR_LOCAL_DIR``, else the project root."""
    chosen = override or os.environ.get(LOCAL_DIR_ENV) or PROJECT_ROOT
    return Path(chosen).expanduser().resolve()


def local_root(override: str | Path | None = None) -> Path:
    return project_dir(override) / ".local"


def env_file(override: str | Path | None = None) -> Path:
    return project_dir(override) / ".env"


def program_dir() -> Path | None:
    """The copy of the project ``cruddur plan`` evaluates when ``$CRUDDUR_PROJECT_DIR`` is set (else None)."""
    chosen = os.environ.get(PROJECT_DIR_ENV)
    return Path(chosen).resolve() if chosen else None
