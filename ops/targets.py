"""Which database a command acts on: the local one (default), ``--url`` / ``CONNECTION_URL``, or ``-s STACK``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ops.errors import CruddurError
from ops.urls import ConnInfo, parse, redact

LOCAL_DATABASE = "cruddur"
PROTECTED_STACKS = ("prod",)


@dataclass(frozen=True)
class Target:
    url: str  # with password: never print it, use .shown
    source: str  # "local" | "url" | "stack"
    stack: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    tunnel_port: int | None = None

    @property
    def info(self) -> ConnInfo:
        return parse(self.url)

    @property
    def database(self) -> str:
        name = self.info.database
        if not name:
            raise CruddurError(f"the connection URL names no database: {redact(self.url)}")
        return name

    @property
    def endpoint_id(self) -> str | None:
        return self.outputs.get("operatorEndpointId")

    @property
    def protected(self) -> bool:
        """Prod stacks and every RDS host need --force and the database name typed back for destructive work."""
        return self.stack in PROTECTED_STACKS or self.info.is_rds

    @property
    def why_protected(self) -> str:
        return f"stack {self.stack}" if self.stack in PROTECTED_STACKS else f"RDS host {self.info.host}"

    @property
    def shown(self) -> str:
        where = {"local": " (local)", "url": "", "stack": f" (stack {self.stack})"}[self.source]
        tunnel = f" via tunnel 127.0.0.1:{self.tunnel_port}" if self.tunnel_port else ""
        return f"{redact(self.url)}{where}{tunnel}"

    @property
    def connect_kwargs(self) -> dict[str, Any]:
        return {"tunnel_port": self.tunnel_port, "endpoint_id": self.endpoint_id}


def resolve(
    url: str | None = None,
    stack: str | None = None,
    tunnel_port: int | None = None,
    local_dir: str | None = None,
    *,
    require_running: bool = True,
) -> Target:
    if url and stack:
        raise CruddurError("give either --url (or CONNECTION_URL) or -s/--stack, not both")
    if stack:
        from ops.stack_outputs import fetch, require

        outputs = fetch(stack)
        # Operators act as the master user (through the tunnel); the app's URL is appConnectionUrl.
        stack_url = str(require(outputs, "masterConnectionUrl", stack))
        parse(stack_url)
        return Target(stack_url, "stack", stack, outputs, tunnel_port)
    if url:
        parse(url)  # fail early, redacted
        return Target(url, "url", tunnel_port=tunnel_port)
    return Target(local_url(local_dir, require_running=require_running), "local", tunnel_port=tunnel_port)


def local_url(local_dir: str | None = None, database: str = LOCAL_DATABASE, *, require_running: bool = True) -> str:
    from ops.local_server import LocalServer
    from ops.paths import local_root

    server = LocalServer(local_root(local_dir))
    if not server.initialized:
        raise CruddurError(
            f"no local database in {server.base}: run `cruddur local up` (or `./dev up`), or pass --url / -s STACK"
        )
    if require_running and server.pid() is None:
        raise CruddurError("the local server is stopped: run `cruddur local up`")
    return server.admin_url(database)
