"""The network as EC2 describes it: no security group of the stack admits the world, and the instance sits in the
stack's private subnets, which have no route out (components/network.py)."""

from __future__ import annotations

from ops.stack.check.context import Context
from ops.stack.check.database import instance
from ops.stack.check.result import NETWORK, fail, ok, promise

WORLD = ("0.0.0.0/0", "::/0")
GROUP_OUTPUTS = ("dbSecurityGroupId", "appSecurityGroupId", "operatorSecurityGroupId")


@promise(NETWORK, "no security group of the stack admits 0.0.0.0/0 or ::/0")
def no_world_ingress(ctx: Context):
    ids = {str(ctx.outputs[key]) for key in GROUP_OUTPUTS if ctx.outputs.get(key)}
    ids.add(str(ctx.output("dbSecurityGroupId")))
    ids |= {g["VpcSecurityGroupId"] for g in instance(ctx).get("VpcSecurityGroups", []) if g.get("VpcSecurityGroupId")}
    groups = ctx.call("ec2", "describe_security_groups", GroupIds=sorted(ids))["SecurityGroups"]
    open_rules = []
    for group in groups:
        for rule in group.get("IpPermissions", []):
            cidrs = [r.get("CidrIp") for r in rule.get("IpRanges", [])] + \
                    [r.get("CidrIpv6") for r in rule.get("Ipv6Ranges", [])]
            for cidr in cidrs:
                if cidr in WORLD:
                    ports = "all ports" if rule.get("IpProtocol") == "-1" else f"port {rule.get('FromPort')}"
                    open_rules.append(f"{group['GroupId']} {cidr} {ports}")
    if open_rules:
        first = open_rules[0].split()
        return fail(f"open to the world: {'; '.join(open_rules)}: the stack declares no such rule; remove it "
                    f"(`aws ec2 revoke-security-group-ingress --group-id {first[0]} --ip-permissions ...`) and run "
                    f"`pulumi up -s {ctx.stack}`")
    return ok(f"{len(groups)} groups, none open to the world")


@promise(NETWORK, "the instance is in the stack's private subnets, which have no route out")
def private_subnets(ctx: Context):
    private = {str(s) for s in ctx.output("privateSubnetIds")}
    subnets = {s["SubnetIdentifier"] for s in instance(ctx).get("DBSubnetGroup", {}).get("Subnets", [])}
    outside = sorted(subnets - private)
    if not subnets or outside:
        return fail(f"the instance's subnet group has subnets {', '.join(outside) or 'none'} outside "
                    f"privateSubnetIds: run `pulumi up -s {ctx.stack}`")
    vpc = str(ctx.output("vpcId"))
    tables = ctx.call("ec2", "describe_route_tables", Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
    main = [t for t in tables if any(a.get("Main") for a in t.get("Associations", []))]
    routes_out = []
    for subnet in sorted(subnets):
        own = [t for t in tables if any(a.get("SubnetId") == subnet for a in t.get("Associations", []))] or main
        for table in own:
            for route in table.get("Routes", []):
                target = route.get("GatewayId") or route.get("NatGatewayId") or route.get("EgressOnlyInternetGatewayId")
                destination = route.get("DestinationCidrBlock") or route.get("DestinationIpv6CidrBlock")
                if destination in WORLD and target and target != "local":
                    routes_out.append(f"{subnet} -> {target} ({table['RouteTableId']})")
    if routes_out:
        return fail(f"a private subnet routes out: {'; '.join(routes_out)}: the stack declares no route out; delete "
                    f"the route (`aws ec2 delete-route --route-table-id ... --destination-cidr-block 0.0.0.0/0`) "
                    "and tell whoever added it about the VPC endpoints (DESIGN.md)")
    return ok(f"{len(subnets)} private subnets, no route out")


CHECKS = (no_world_ingress, private_subnets)
