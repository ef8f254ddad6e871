"""Security groups as the project always writes them: a group with no rule of its own (``security_group``: the
database's, the operators', the app's, each function's in the VPC), and one admission between two groups
(``admit``): an ingress rule on the target that references the source, and the matching egress rule on the source
that references the target, on one TCP port, both by SG id (never a CIDR). ``Database.allow_from`` admits through
it."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def security_group(resource_name: str, vpc_id: pulumi.Input[str], description: str, name_tag: pulumi.Input[str],
                   opts: pulumi.ResourceOptions) -> aws.ec2.SecurityGroup:
    """A security group in ``vpc_id`` with no rule of its own (``admit`` adds each), tagged ``Name: name_tag``."""
    return aws.ec2.SecurityGroup(resource_name, vpc_id=vpc_id, description=description, tags={"Name": name_tag},
                                 opts=opts)


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
