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

    def secret_name(self, part: str) -> str:
        """The Secrets Manager name of one of the stack's database secrets: ``cruddur/<stack>/rds/<part>``."""
        return f"cruddur/{self.stack}/rds/{part}"

    def secret_arn_pattern(self, part: str, partition: str, region: str, account_id: str) -> str:
        """An IAM resource pattern for that secret: Secrets Manager appends ``-`` and six random characters."""
        return f"arn:{partition}:secretsmanager:{region}:{account_id}:secret:{self.secret_name(part)}-??????"

    def stateful(self, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
        """``opts`` for a resource whose loss loses data: with ``protect`` when the stack protects them, so that
        `pulumi destroy` and any replacement stop until its protection is lifted (`pulumi state unprotect URN`)."""
        return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=self.protect))
