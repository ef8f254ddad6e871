"""The local ``.env``: what ``cruddur local up`` writes there, and how a ``.env`` from an older ``local up`` is
recognised. docs/environment.md describes every variable.

- The app's variables, by the same names ``cruddur stack env`` prints (``ops.stack.app_env.app_variables``).
  ``CONNECTION_URL`` is the app's own least-privilege role ``cruddur_app`` (created by sql/migrations), with a
  password generated here and set as a client-side SCRAM verifier: the Cruddur backend run against the local
  database has exactly the privileges it has in production. The others have no local meaning, since there is no
  Cognito pool and no TLS locally: the Cognito ids are written empty, the region is the dev stack's
  (``Pulumi.dev.yaml``; never empty, which would break every AWS SDK client that reads it) and ``PGSSLROOTCERT``
  names the RDS CA bundle as ``cruddur stack env`` does (unused by the loopback server). A value a developer put
  there (e.g. the dev stack's Cognito ids) is kept.
- ``MASTER_CONNECTION_URL``: the local server's superuser, for operators (``cruddur db ...``) and tests; never the
  app's. It mirrors the stack output ``masterConnectionUrl``.
- ``CRUDDUR_CONFIRMATION_URL``: the sign-up trigger's role, to run the post-confirmation handler locally.
- ``READER_CONNECTION_URL``: with ``local up --replicas N``, ``cruddur_app`` on the first replica (the same login
  as ``CONNECTION_URL``, the replica's port), for the app's reads; the name ``cruddur stack env`` gives a stack's
  reader. Removed when the replicas are.

The role passwords live only in ``.env`` (mode 0600); the superuser's also in the server's own password file.
Nothing here prints one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import yaml

from ops import dotenv
from ops.db.connections import APPLICATION_NAME, CONNECT_TIMEOUT
from ops.db.roles import set_role_password
from ops.db.target import DbTarget
from ops.errors import CruddurError
from ops.local.server import SUPERUSER
from ops.paths import PROJECT_ROOT
from ops.stack.app_env import RDS_CA_BUNDLE, app_variables
from ops.urls import ConnInfo, build_url, parse

APP_URL = "CONNECTION_URL"
MASTER_URL = "MASTER_CONNECTION_URL"
CONFIRMATION_URL = "CRUDDUR_CONFIRMATION_URL"
READER_URL = "READER_CONNECTION_URL"
SUPERSEDED_APP_URL = "CRUDDUR_APP_URL"  # an older `local up`'s name for cruddur_app's URL (and `db role-password`'s)
ROLE_URLS = {"cruddur_app": APP_URL, "cruddur_confirmation": CONFIRMATION_URL}
URL_VARIABLES = (APP_URL, MASTER_URL, CONFIRMATION_URL, READER_URL, SUPERSEDED_APP_URL)  # `local destroy` removes these
DEV_STACK_FILE = PROJECT_ROOT / "Pulumi.dev.yaml"
HEADER = ("# Written by `cruddur local up` (docs/environment.md): the app reads CONNECTION_URL (cruddur_app), "
          "operators MASTER_CONNECTION_URL (superuser).")


@dataclass(frozen=True)
class EnvUpdate:
    """What ``write`` changed in ``.env``: names set, names removed, and whether it was an older ``local up``'s
    file (CONNECTION_URL was the superuser's)."""

    written: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    migrated: bool = False
    app_url: str = field(default="", repr=False)


def write(path: Path, admin: DbTarget, reader_port: int | None = None) -> EnvUpdate:
    """Bring ``.env`` at ``path`` up to date for the local database ``admin`` (the superuser's target): a role URL
    that still logs in to this database is kept (a warm ``local up`` changes nothing), any other gets a new
    password. ``READER_CONNECTION_URL`` is the app's URL on ``reader_port`` (a replica), or removed when None.
    Lines ``local up`` does not own are kept as they are."""
    existing = dotenv.read(path)
    migrated = superuser_in_app_url(existing) is not None
    values: dict[str, str] = {}
    if existing.get(MASTER_URL) != admin.url:
        values[MASTER_URL] = admin.url
    urls = {}
    for role, name in ROLE_URLS.items():
        # An older .env kept cruddur_app's URL as CRUDDUR_APP_URL: adopt it when it still logs in.
        candidates = [existing.get(name)] + ([existing.get(SUPERSEDED_APP_URL)] if role == "cruddur_app" else [])
        url = next((c for c in candidates if c and _logs_in_as(c, role, admin.info)), None)
        urls[role] = url or set_role_password(admin, role)
        if urls[role] != existing.get(name):
            values[name] = urls[role]
    app = local_app_variables(urls["cruddur_app"])
    values.update({name: value for name, value in app.items() if name not in existing and name not in values})
    reader = reader_url(urls["cruddur_app"], reader_port) if reader_port else None
    if reader and reader != existing.get(READER_URL):
        values[READER_URL] = reader
    ordered = {name: values[name] for name in (*app, READER_URL, MASTER_URL, CONFIRMATION_URL) if name in values}
    removed = (SUPERSEDED_APP_URL,) if _names_server(existing.get(SUPERSEDED_APP_URL), admin.info) else ()
    if reader is None and _names_host(existing.get(READER_URL), admin.info):  # a stack's reader put there is kept
        removed += (READER_URL,)
    if ordered or removed:
        dotenv.merge(path, ordered, remove=removed, header=HEADER)
    return EnvUpdate(tuple(ordered), removed, migrated, urls["cruddur_app"])


def reader_url(app_url: str, port: int) -> str:
    """The app's URL (same login, database and parameters) on another port of the same host: a local replica."""
    info = parse(app_url)
    return build_url(info.user, info.password, info.host, port, info.database, **info.params)


def local_app_variables(app_url: str) -> dict[str, str]:
    """The app's variables for the local database: ``app_url`` (cruddur_app), no Cognito ids, the dev stack's
    region, the RDS CA bundle."""
    return app_variables(app_url, region=dev_region(), user_pool_id="", client_id="", ca_bundle=RDS_CA_BUNDLE)


def dev_region(stack_file: Path = DEV_STACK_FILE) -> str:
    """``aws:region`` from the dev stack file: the region a developer's Cognito ids would come from."""
    try:
        config = yaml.safe_load(stack_file.read_text()).get("config") or {}
        region = config["aws:region"]
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError):
        raise CruddurError(f"{stack_file} names no aws:region; pin the dev stack's region there "
                           "(`pulumi config set aws:region eu-west-1 -s dev`)") from None
    return str(region)


def superuser_in_app_url(values: Mapping[str, str]) -> str | None:
    """The user name when ``values`` (a ``.env``) is an older ``local up``'s: CONNECTION_URL logs in as the local
    superuser and there is no MASTER_CONNECTION_URL. Else None."""
    if values.get(MASTER_URL) or not values.get(APP_URL):
        return None
    try:
        info = parse(values[APP_URL])
    except CruddurError:
        return None
    return info.user if info.user == SUPERUSER and not info.is_rds else None


def stale_env_problem(path: Path) -> str | None:
    """One line saying what to do when ``.env`` at ``path`` is an older ``local up``'s (its app variable would give
    the Cruddur backend the superuser); None when it is not."""
    user = superuser_in_app_url(dotenv.read(path))
    if user is None:
        return None
    return (f"{path} is from an older `cruddur local up`: its CONNECTION_URL logs in as the superuser {user} and it "
            f"has no {MASTER_URL}; run `cruddur local up` to rewrite it (CONNECTION_URL becomes the app role "
            f"cruddur_app, the superuser's URL moves to {MASTER_URL})")


def app_url_in_environment(environ: Mapping[str, str]) -> str | None:
    """One line for an operator command that would fall back to the local database while the environment names
    another login in CONNECTION_URL (the app's variable, which operator commands never read); None otherwise."""
    if not environ.get(APP_URL) or environ.get(MASTER_URL):
        return None
    return (f"{APP_URL} is set, but it is the app's login and operator commands do not read it: pass --url or set "
            f"{MASTER_URL} to target a database as an operator, or unset {APP_URL} to use the local database")


def _names_server(url: str | None, server: ConnInfo) -> bool:
    """True when ``url`` points at the host and port of ``server`` (a URL for another server is not ours)."""
    try:
        info = parse(url) if url else None
    except CruddurError:
        return False
    return info is not None and (info.host, info.port) == (server.host, server.port)


def _names_host(url: str | None, server: ConnInfo) -> bool:
    """True when ``url`` points at the host of ``server`` (a replica of the local server, on any port)."""
    try:
        return bool(url) and parse(url).host == server.host
    except CruddurError:
        return False


def _logs_in_as(url: str, role: str, server: ConnInfo) -> bool:
    """True when ``url`` is ``role`` on the same host, port and database as ``server`` and its password works."""
    if not _names_server(url, server):
        return False
    info = parse(url)
    if (info.user, info.database) != (role, server.database):
        return False
    try:
        psycopg2.connect(url, connect_timeout=CONNECT_TIMEOUT, application_name=APPLICATION_NAME).close()
    except psycopg2.OperationalError:
        return False
    return True
