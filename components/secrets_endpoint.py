"""``SecretsEndpoint``: the private subnets' one way to Secrets Manager, an interface VPC endpoint.

The private subnets have no route out (no NAT, no internet gateway), so a function inside the VPC that reads a
secret needs this endpoint:

- an interface endpoint for ``com.amazonaws.<region>.secretsmanager`` in every private subnet, with private DNS on
  (the SDK's default endpoint name resolves to it, so callers need no custom endpoint URL);
- its own security group with NO rule of its own: ``allow_from(part, source_sg, why)`` admits HTTPS (443) from one
  named client security group (and gives that client the matching egress), SG to SG, never from a CIDR. Its
  clients: the migrator, the two rotation functions (master and app secrets) and the restore probe;
- an endpoint policy that lets only principals of this account call only ``actions`` (default: read a secret
  value) on only ``secret_arns``: even a leaked credential of another account cannot use this endpoint, and a
  function in the VPC cannot read any other secret through it.

Cost (README, "Credentials path"): an interface endpoint is billed per AZ-hour (about $0.01/h, so about
$7.30/month per AZ) plus about $0.01/GB processed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.aws_context import AwsContext
from components.naming import Naming
from components.sg_pair import admit

HTTPS = 443
READ_SECRET_VALUE = ("secretsmanager:GetSecretValue",)


@dataclass
class SecretsEndpointArgs:
    naming: Naming
    aws_context: AwsContext
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    # The secrets callers may reach through the endpoint, and what they may do with them.
    secret_arns: Sequence[pulumi.Input[str]]
    actions: Sequence[str] = field(default_factory=lambda: READ_SECRET_VALUE)


class SecretsEndpoint(pulumi.ComponentResource):
    endpoint: aws.ec2.VpcEndpoint
    security_group: aws.ec2.SecurityGroup

    def __init__(self, name: str, args: SecretsEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:secrets_endpoint:SecretsEndpoint", name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        region, account_id = args.aws_context.region, args.aws_context.account_id

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="Secrets Manager VPC endpoint: HTTPS from named client security groups only",
            tags={"Name": args.naming.physical_name("secrets-endpoint")},
            opts=child,
        )
        policy = aws.iam.get_policy_document_output(statements=[{
            "sid": "ThisAccountUsesTheNamedSecretsOnly",
            "principals": [{"type": "AWS", "identifiers": ["*"]}],
            "actions": list(args.actions),
            "resources": list(args.secret_arns),
            "conditions": [{"test": "StringEquals", "variable": "aws:PrincipalAccount", "values": [account_id]}],
        }], opts=invoke)
        self.endpoint = aws.ec2.VpcEndpoint(
            f"{name}-endpoint",
            vpc_id=args.vpc_id,
            service_name=f"com.amazonaws.{region}.secretsmanager",
            vpc_endpoint_type="Interface",
            subnet_ids=args.subnet_ids,
            security_group_ids=[self.security_group.id],
            private_dns_enabled=True,
            policy=policy.json,
            tags={"Name": args.naming.physical_name("secretsmanager")},
            opts=child,
        )
        self.register_outputs({"endpoint_id": self.endpoint.id, "security_group_id": self.security_group.id})

    def allow_from(self, part: str, source: aws.ec2.SecurityGroup, why: str) -> None:
        """Let ``source`` reach the endpoint: HTTPS ingress on the endpoint SG, egress on ``source``, by SG id."""
        admit(self, self._name, part, self.security_group, source, HTTPS,
              ingress=f"HTTPS from {why}", egress="HTTPS to the Secrets Manager endpoint only")
