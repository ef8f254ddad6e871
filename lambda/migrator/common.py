"""What the migrator's two functions share (``handler.py``, outside the VPC; ``db.py``, inside it): the errors, the
migration set and its fingerprint, reading the environment, the log. Imports no AWS SDK and no database driver.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import traceback
from pathlib import Path

from aws_lambda_powertools import Logger

SERVICE = "cruddur-migrator"
HERE = Path(__file__).resolve().parent
DEFAULT_MIGRATIONS_DIR = HERE / "migrations"
DEFAULT_APP_ROLE = "cruddur_app"
CLONE_SUFFIX = "_clone"  # the alternate login user of the app role (AWS's multi-user rotation naming)
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))


# -- errors: each message says what failed and what to do --------------------------------------------------------
class MigratorError(Exception):
    """Base class: every failure of the migrator raises one of these (``pulumi up`` then fails with its message)."""


class ConfigurationError(MigratorError):
    """The function's environment or package is incomplete or unsafe."""


class MalformedEvent(MigratorError, ValueError):
    """The event is not the JSON object the Invocation sends (or the payload not the one the outer function sends)."""


class PackageMismatch(MigratorError):
    """A ``migrations_sha256`` is not the hash of the migrations this function carries."""


class SecretError(MigratorError):
    """A Secrets Manager secret could not be read, or lacks a field the migrator needs."""


class DatabaseFunctionFailed(MigratorError):
    """The database function could not be invoked, or failed: the message is its own one line."""

    def __init__(self, message: str, error_type: str | None = None):
        super().__init__(message)
        self.error_type = error_type  # the database function's error class, when it raised one


class DatabaseUnavailable(MigratorError):
    """The database could not be reached, or dropped the connection."""


class MigrationLocked(MigratorError):
    """Another migration run held yoyo's lock for longer than the migrator may wait."""


class SchemaNewerThanPackage(MigratorError):
    """The database has applied migrations that this package does not have (forward-only: refused)."""


class MigrationFailed(MigratorError):
    """A migration failed; it was rolled back entirely."""


class AppPasswordFailed(MigratorError):
    """The app role's password could not be set."""


class UnexpectedFailure(MigratorError):
    """A bug, or a failure nobody foresaw: reported by its type only (its text may quote anything, a password too)."""


def unexpected(exc: BaseException, function: str) -> UnexpectedFailure:
    """Log ``exc`` by type and where it happened (file, line, function: never its text, which may quote anything)
    and return the one-line error to raise instead of it."""
    frames = [f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in traceback.extract_tb(exc.__traceback__)]
    logger.error(f"the {function} failed unexpectedly", error_type=type(exc).__name__, frames=frames)
    return UnexpectedFailure(f"the {function} failed unexpectedly ({type(exc).__name__}): its log has where; fix the "
                             "cause and run pulumi up again")


# -- the migration set --------------------------------------------------------------------------------------------
def migration_files(directory: Path) -> list[Path]:
    """The ``*.sql`` files of ``directory``, sorted by name."""
    return sorted((p for p in Path(directory).glob("*.sql") if p.is_file()), key=lambda p: p.name)


def migrations_sha256(directory: Path) -> str:
    """The migration set's fingerprint, as ``components/migrator.py`` computes it for the event: sha256 over every
    ``*.sql`` file of ``directory`` sorted by file name, each contributing ``name`` NUL ``content`` NUL (the name as
    UTF-8, the content as the bytes on disk)."""
    digest = hashlib.sha256()
    for path in migration_files(directory):
        digest.update(path.name.encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


# -- the environment ------------------------------------------------------------------------------------------------
def tls_may_be_off(host: str) -> bool:
    """Whether a connection to ``host`` may go without TLS: only to this machine (``localhost``, a loopback address,
    a socket directory), the suite's server. Every other host, an RDS endpoint in any partition (amazonaws.com,
    amazonaws.com.cn, c2s.ic.gov, sc2s.sgov.gov, amazonaws.eu...) or an address, is reached with TLS verify-full.
    lambda/rotate_master/db_actions.py applies the same rule (tests/lambda/test_tls_rule.py holds them equal)."""
    name = host.strip().lower().rstrip(".")
    if name == "localhost" or name.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def env(name: str) -> str:
    return os.environ.get(name, "").strip()


def env_int(name: str, default: int) -> int:
    raw = env(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    return value


def require_env(names: tuple[str, ...], whose: str) -> None:
    missing = [name for name in names if not env(name)]
    if missing:
        raise ConfigurationError(f"{whose} environment lacks {', '.join(missing)}: components/migrator.py sets them; "
                                 "redeploy the function")


def app_role_from_env() -> str:
    app_role = env("APP_ROLE") or DEFAULT_APP_ROLE
    if not ROLE_NAME.fullmatch(app_role):
        raise ConfigurationError(f"APP_ROLE must be a plain lower-case role name, got {app_role!r}")
    return app_role


def migrations_dir_from_env() -> Path:
    migrations_dir = Path(env("MIGRATIONS_DIR") or DEFAULT_MIGRATIONS_DIR)
    if not migrations_dir.is_dir() or not migration_files(migrations_dir):
        raise ConfigurationError(f"no migrations (*.sql) in {migrations_dir}: the function's package must carry "
                                 "sql/migrations as migrations/; rebuild it")
    if any(migrations_dir.glob("*.py")):
        raise ConfigurationError(f"{migrations_dir} holds Python migrations; the migrator applies only *.sql")
    return migrations_dir


def app_users(app_role: str) -> tuple[str, str]:
    """The two login users of the app role: the role itself and its clone (alternating-users rotation)."""
    return app_role, app_role + CLONE_SUFFIX
