"""One admission between two security groups, as the project always writes it: an ingress rule on the target that
references the source, and the matching egress rule on the source that references the target, on one TCP port,
both by SG id (never a CIDR). ``Database.allow_from`` and ``SecretsEndpoint.allow_from`` use it."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def admit(owner: pulumi.Resource, prefix: str, part: str, target: aws.ec2.SecurityGroup,
          source: aws.ec2.SecurityGroup, port: pulumi.Input[int], ingress: str, egress: str) -> None:
    """Rules ``<prefix>-in-from-<part>`` and ``<prefix>-out-from-<part>``, children of ``owner``."""
    opts = pulumi.ResourceOptions(parent=owner)
    aws.vpc.SecurityGroupIngressRule(
        f"{prefix}-in-from-{part}", security_group_id=target.id, referenced_security_group_id=source.id,
        ip_protocol="tcp", from_port=port, to_port=port, description=ingress, opts=opts)
    aws.vpc.SecurityGroupEgressRule(
        f"{prefix}-out-from-{part}", security_group_id=source.id, referenced_security_group_id=target.id,
        ip_protocol="tcp", from_port=port, to_port=port, description=egress, opts=opts)
