"""Which database an operator command acts on: the local one as its superuser (default: the URL ``cruddur local up``
writes to ``.env`` as ``MASTER_CONNECTION_URL``), ``--url`` / ``MASTER_CONNECTION_URL``, or ``-s STACK`` (the stack's
master secret). ``CONNECTION_URL`` is the app's login and is never an operator's target (docs/environment.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from components.stack_names import is_production_stack_name
from ops.db.target import DbTarget
from ops.errors import CruddurError
from ops.local.env import MASTER_URL, app_url_in_environment, stale_env_problem
from ops.paths import env_file

LOCAL_DATABASE = "cruddur"


@dataclass(frozen=True)
class Target:
    """The resolved target: the ``DbTarget`` the ``ops.db`` functions take, plus where it came from."""

    db: DbTarget
    source: str  # "local" | "url" | "stack"
    stack: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict, repr=False)  # the stack outputs (hold deploy-time secrets)

    @property
    def database(self) -> str:
        return self.db.database

    @property
    def prod_stack(self) -> bool:
        """A production-looking stack name (``components.stack_names``: Prod, PROD, eu-prod, prd, live...)."""
        return bool(self.stack) and is_production_stack_name(self.stack)

    @property
    def protected(self) -> bool:
        """Production-looking stacks and every target where ANY host libpq will use is RDS (query ``host=``,
        ``PGHOST``, service file included) need --force and the database name typed back for destructive work."""
        return self.prod_stack or self.db.info.is_rds

    @property
    def why_protected(self) -> str:
        return f"stack {self.stack}" if self.prod_stack else f"RDS host {self.db.info.rds_host}"

    @property
    def shown(self) -> str:
        where = {"local": " (local)", "url": "", "stack": f" (stack {self.stack})"}[self.source]
        tunnel = f" via tunnel 127.0.0.1:{self.db.tunnel_port}" if self.db.tunnel_port else ""
        return f"{self.db.shown}{where}{tunnel}"


def resolve(
    url: str | None = None,
    stack: str | None = None,
    tunnel_port: int | None = None,
    local_dir: str | None = None,
    *,
    require_running: bool = True,
) -> Target:
    if url and stack:
        if url != os.environ.get(MASTER_URL):
            raise CruddurError("give either --url or -s/--stack, not both")
        url = None  # -s on the command line outranks a MASTER_CONNECTION_URL exported from .env
    if stack:
        from ops.cli.console import err
        from ops.stack.master_login import MasterRotation
        from ops.stack.outputs import fetch
        from ops.stack.secrets import credentials

        outputs = fetch(stack)
        # Operators act as the master user (through the tunnel), with the master secret's CURRENT version: the
        # password rotates, so the deploy-time masterConnectionUrl output is never used for it. Mid-rotation (or on
        # a database restored from before the last one) the connection falls back to AWSPENDING, then AWSPREVIOUS
        # (ops/stack/master_login.py, used by ops/db/connections.py).
        creds = credentials(outputs, stack, "masterSecretArn")
        rotation = MasterRotation(str(outputs["masterSecretArn"]), str(outputs["region"]), creds.username,
                                  creds.password, notify=lambda line: err.print(line, markup=False))
        db = DbTarget(creds.url, tunnel_port=tunnel_port, endpoint_id=outputs.get("operatorEndpointId"),
                      rotation=rotation)
        return Target(db, "stack", stack, outputs)
    if url:
        return Target(DbTarget(url, tunnel_port=tunnel_port), "url")  # parsed here: fails early, redacted
    problem = app_url_in_environment(os.environ)  # never fall back to the local database silently
    if problem:
        raise CruddurError(problem)
    return Target(DbTarget(local_url(local_dir, require_running=require_running), tunnel_port=tunnel_port), "local")


def local_url(local_dir: str | None = None, database: str = LOCAL_DATABASE, *, require_running: bool = True) -> str:
    from ops.local.server import LocalServer
    from ops.paths import local_root

    server = LocalServer(local_root(local_dir))
    if not server.initialized:
        raise CruddurError(
            f"no local database in {server.base}: run `cruddur local up` (or `./dev up`), or pass --url / -s STACK"
        )
    if require_running and server.pid() is None:
        raise CruddurError("the local server is stopped: run `cruddur local up`")
    problem = stale_env_problem(env_file(local_dir))  # the app would still be the superuser: rewrite .env first
    if problem:
        raise CruddurError(problem)
    return server.admin_url(database)
