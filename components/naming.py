"""What a component needs to know about the stack it is in, and nothing else: its name, whether it is
production, and how physical names are spelled. Built once by ``Settings`` (``settings.naming``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Naming:
    stack: str
    is_prod: bool

    def physical_name(self, part: str) -> str:
        """A physical name for this stack: ``cruddur-<stack>-<part>``."""
        return f"cruddur-{self.stack}-{part}"
