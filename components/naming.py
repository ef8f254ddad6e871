"""What a component needs to know about the stack it is in, and nothing else: its name, whether it is
production, whether its stateful resources are protected, and how physical names are spelled. Built once by
``Settings`` (``settings.naming``)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class Naming:
    stack: str
    is_prod: bool
    # Pulumi `protect` on the resources whose loss loses data (setting protectStatefulResources; always on in prod).
    protect: bool = False

    def physical_name(self, part: str) -> str:
        """A physical name for this stack: ``cruddur-<stack>-<part>``."""
        return f"cruddur-{self.stack}-{part}"

    def stateful(self, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
        """``opts`` for a resource whose loss loses data: with ``protect`` when the stack protects them, so that
        `pulumi destroy` and any replacement stop until its protection is lifted (`pulumi state unprotect URN`)."""
        return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=self.protect))
