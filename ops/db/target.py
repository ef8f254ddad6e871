"""``DbTarget``: the one connection target every ``ops.db`` function takes.

It holds the URL (with its password: never print ``.url``, show ``.shown``), the URL parsed once (``.info``),
and how to reach the server: ``tunnel_port`` (connect through a local EC2 Instance Connect tunnel while TLS
still verifies the RDS host) and ``endpoint_id`` (named in the hint printed when an RDS host cannot be reached).
A ``-s STACK`` target also has ``rotation`` (``ops.stack.master_login.MasterRotation``): ``ops.db.connections``
logs in through the master secret's rotation stages with it (AWSPENDING, then AWSPREVIOUS, when AWSCURRENT's
password is refused). Other targets have none.
``repr()`` and ``str()`` are redacted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ops.errors import CruddurError
from ops.urls import ConnInfo, parse, redact


@dataclass(frozen=True)
class DbTarget:
    url: str = field(repr=False)
    tunnel_port: int | None = None
    endpoint_id: str | None = None
    rotation: Any = field(default=None, repr=False, compare=False)  # a MasterRotation for -s STACK, else None
    info: ConnInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "info", parse(self.url))  # fails early, redacted

    @property
    def shown(self) -> str:
        """The URL with its password masked, for messages."""
        return redact(self.url)

    @property
    def database(self) -> str:
        if not self.info.database:
            raise CruddurError(f"the connection URL names no database: {self.shown}")
        return self.info.database

    def __str__(self) -> str:
        return self.shown

    def __repr__(self) -> str:
        return f"DbTarget({self.shown!r}, tunnel_port={self.tunnel_port!r}, endpoint_id={self.endpoint_id!r})"
