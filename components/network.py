"""``Network``: the database's dedicated, private VPC.

- a VPC with DNS on (RDS endpoints are DNS names) and private subnets in at least two AZs, chosen by zone id (the
  first N of the region's available zone ids, sorted), never by name: names map to zones differently in each account
  and a new AZ must not move a subnet;
- one route table for them with only the VPC's local route: no internet gateway exists, nothing routes out;
- the VPC's default security group adopted and emptied (no rules), so nothing can fall back on it;
- VPC flow logs (all traffic) into an encrypted CloudWatch log group through a least-privilege role;
- the operators' private path: an EC2 Instance Connect Endpoint in a private subnet, with its own security group
  (no ingress; egress is added by ``Database`` to the database's port only), and an IAM policy that lets an operator
  open a tunnel to the database port inside this VPC only (from ``operatorCidrs`` when set).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws_context import AwsContext
from components.iam import service_trust_policy, source_account
from components.log_group import encrypted_log_group
from components.naming import Naming
from components.settings import NetworkSettings
from components.sg_pair import security_group


@dataclass
class NetworkArgs:
    network: NetworkSettings
    naming: Naming
    aws_context: AwsContext
    log_retention_days: int  # the stack's, for the flow logs
    kms_key_arn: pulumi.Input[str]
    tunnel_port: int = 5432


def chosen_zone_ids(zone_ids: list[str], count: int) -> list[str]:
    """The zone ids the subnets go in: the first ``count`` of ``zone_ids`` in sorted order (stable as AZs are added)."""
    return sorted(zone_ids)[:count]


def subnet_cidrs(vpc_cidr: str, count: int) -> list[str]:
    """The first ``count`` /20s of the VPC range (or the range split in four when it is smaller than /18)."""
    net = ipaddress.ip_network(vpc_cidr)
    new_prefix = max(20, net.prefixlen + 2)
    return [str(s) for s in list(net.subnets(new_prefix=new_prefix))[:count]]


class Network(pulumi.ComponentResource):
    vpc: aws.ec2.Vpc
    private_subnets: list[aws.ec2.Subnet]
    operator_security_group: aws.ec2.SecurityGroup
    operator_endpoint: aws.ec2transitgateway.InstanceConnectEndpoint
    operator_policy: aws.iam.Policy

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:network:Network", name, None, opts)
        s, name_of = args.network, args.naming.physical_name
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=s.vpc_cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": name_of("vpc")},
            opts=child,
        )

        # Adopt the default security group and strip every rule from it.
        self.default_security_group = aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=self.vpc.id,
            ingress=[],
            egress=[],
            tags={"Name": name_of("default-locked")},
            opts=child,
        )

        zones = aws.get_availability_zones_output(state="available", opts=invoke)
        zone_ids = zones.zone_ids.apply(lambda ids: chosen_zone_ids(ids, s.availability_zones))
        self.route_table = aws.ec2.RouteTable(
            f"{name}-private-rt", vpc_id=self.vpc.id, tags={"Name": name_of("private")}, opts=child)
        self.private_subnets = []
        for index, cidr in enumerate(subnet_cidrs(s.vpc_cidr, s.availability_zones)):
            subnet = aws.ec2.Subnet(
                f"{name}-private-{index}",
                vpc_id=self.vpc.id,
                cidr_block=cidr,
                availability_zone_id=zone_ids.apply(lambda ids, i=index: ids[i]),
                map_public_ip_on_launch=False,
                tags={"Name": name_of(f"private-{index}"), "Tier": "private"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{index}-rt", subnet_id=subnet.id, route_table_id=self.route_table.id, opts=child)
            self.private_subnets.append(subnet)

        self._flow_logs(name, args, child, invoke)

        self.operator_security_group = security_group(
            f"{name}-operator-sg", self.vpc.id,
            "EC2 Instance Connect Endpoint for operators; egress to the database port only",
            name_of("operator-endpoint"), child)
        self.operator_endpoint = aws.ec2transitgateway.InstanceConnectEndpoint(
            f"{name}-operator-endpoint",
            subnet_id=self.private_subnets[0].id,
            security_group_ids=[self.operator_security_group.id],
            preserve_client_ip=False,
            tags={"Name": name_of("operator-endpoint")},
            opts=child,
        )
        self.operator_policy = aws.iam.Policy(
            f"{name}-operator-policy",
            description="Open an EC2 Instance Connect tunnel to the Cruddur database port in this VPC only, "
                        "read the stack's current database secrets, and start its stopped database",
            policy=self._operator_policy_document(s, args, invoke),
            opts=child,
        )

        self.private_subnet_ids = pulumi.Output.all(*[sn.id for sn in self.private_subnets])
        self.register_outputs({
            "vpc_id": self.vpc.id,
            "private_subnet_ids": self.private_subnet_ids,
            "operator_security_group_id": self.operator_security_group.id,
            "operator_endpoint_id": self.operator_endpoint.id,
            "operator_policy_arn": self.operator_policy.arn,
        })

    def _flow_logs(self, name: str, args: NetworkArgs, child, invoke) -> None:
        self.flow_log_group = encrypted_log_group(f"{name}-flow-logs", f"/cruddur/{args.naming.stack}/vpc-flow-logs",
                                                  args.log_retention_days, args.kms_key_arn, child)
        trust = service_trust_policy("vpc-flow-logs.amazonaws.com", invoke,
                                     conditions=[source_account(args.aws_context.account_id)])
        role = aws.iam.Role(f"{name}-flow-logs-role", assume_role_policy=trust,
                            description="VPC flow logs delivery to its one log group", opts=child)
        write = aws.iam.get_policy_document_output(statements=[{
            "actions": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "resources": [self.flow_log_group.arn.apply(lambda arn: f"{arn}:*")],
        }], opts=invoke)
        aws.iam.RolePolicy(f"{name}-flow-logs-write", role=role.id, policy=write.json, opts=child)
        self.flow_log = aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=self.flow_log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            opts=child,
        )

    def _operator_policy_document(self, s: NetworkSettings, args: NetworkArgs, invoke) -> pulumi.Output[str]:
        port, ctx = args.tunnel_port, args.aws_context
        conditions = [
            {"test": "NumericEquals", "variable": "ec2-instance-connect:remotePort", "values": [str(port)]},
            {"test": "IpAddress", "variable": "ec2-instance-connect:privateIpAddress",
             "values": [s.vpc_cidr]},
            {"test": "NumericLessThanEquals", "variable": "ec2-instance-connect:maxTunnelDuration",
             "values": ["3600"]},
        ]
        if s.operator_cidrs:
            conditions.append({"test": "IpAddress", "variable": "aws:SourceIp",
                               "values": list(s.operator_cidrs)})
        return aws.iam.get_policy_document_output(statements=[
            {
                "sid": "OpenTunnelToDatabasePort",
                "actions": ["ec2-instance-connect:OpenTunnel"],
                "resources": [self.operator_endpoint.arn],
                "conditions": conditions,
            },
            {
                "sid": "FindTheEndpoint",
                "actions": ["ec2:DescribeInstanceConnectEndpoints"],
                "resources": ["*"],
            },
            # `cruddur db -s` and `cruddur stack env -s` read the CURRENT master/app secret (ops/stack/secrets.py):
            # the passwords rotate, so the deploy-time URL outputs go stale.
            {
                "sid": "ReadTheStacksDatabaseSecrets",
                "actions": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "resources": [pulumi.Output.all(ctx.partition, ctx.account_id).apply(
                    lambda v, part=part: args.naming.secret_arn_pattern(part, v[0], ctx.region, v[1]))
                    for part in ("master", "app")],
            },
            # `cruddur stack wake -s STACK` starts a stopped instance (a dev stack on its run schedule) and waits for it.
            {
                "sid": "WakeTheDatabase",
                "actions": ["rds:DescribeDBInstances", "rds:StartDBInstance"],
                "resources": [pulumi.Output.all(ctx.partition, ctx.account_id).apply(
                    lambda v: f"arn:{v[0]}:rds:{ctx.region}:{v[1]}:db:{args.naming.physical_name('db')}")],
            },
            {
                "sid": "DecryptThemThroughSecretsManagerOnly",
                "actions": ["kms:Decrypt"],
                "resources": [args.kms_key_arn],
                "conditions": [{"test": "StringEquals", "variable": "kms:ViaService",
                                "values": [f"secretsmanager.{ctx.region}.amazonaws.com"]}],
            },
        ], opts=invoke).json
