"""Network: a private VPC with no way in or out but the operators' endpoint, and flow logs."""

import ipaddress

import pytest

from ops.offline.aws_mocks import ACCOUNT_ID
from tests.components.conftest import policy

NETWORK = "cruddur:network:Network"


def test_vpc_has_dns_and_the_configured_range(stack):
    vpc = stack.one("aws:ec2/vpc:Vpc")
    assert vpc.props["cidrBlock"] == "10.40.0.0/16"
    assert vpc.props["enableDnsSupport"] is True
    assert vpc.props["enableDnsHostnames"] is True


@pytest.mark.parametrize("stack_name,count", [("dev", 2), ("prod", 3)])
def test_private_subnets_span_distinct_azs_inside_the_vpc(request, stack_name, count):
    evaluation = request.getfixturevalue(stack_name)
    vpc = evaluation.one("aws:ec2/vpc:Vpc")
    subnets = sorted(evaluation.of_type("aws:ec2/subnet:Subnet"), key=lambda s: s.name)  # no fixed registration order
    assert len(subnets) == count
    # Distinct AZs, chosen by zone id (the first `count` in sorted order), never by name.
    assert [s.props["availabilityZoneId"] for s in subnets] == [f"euw1-az{i + 1}" for i in range(count)]
    assert all("availabilityZone" not in s.props for s in subnets)
    networks = [ipaddress.ip_network(s.props["cidrBlock"]) for s in subnets]
    assert all(n.subnet_of(ipaddress.ip_network(vpc.props["cidrBlock"])) for n in networks)
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1:])
    for subnet in subnets:
        assert subnet.props["mapPublicIpOnLaunch"] is False
        assert subnet.props["vpcId"] == vpc.id


def test_nothing_routes_to_the_internet(stack):
    for kind in ("aws:ec2/internetGateway:InternetGateway", "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway",
                 "aws:ec2/natGateway:NatGateway", "aws:ec2/route:Route", "aws:ec2/eip:Eip",
                 "aws:ec2/vpcPeeringConnection:VpcPeeringConnection"):
        assert stack.of_type(kind) == [], kind
    table = stack.one("aws:ec2/routeTable:RouteTable")
    assert not table.props.get("routes")
    associations = stack.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    subnet_ids = {s.id for s in stack.of_type("aws:ec2/subnet:Subnet")}
    assert {a.props["subnetId"] for a in associations} == subnet_ids
    assert {a.props["routeTableId"] for a in associations} == {table.id}


def test_default_security_group_is_locked_down(stack):
    default = stack.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default.props["vpcId"] == stack.one("aws:ec2/vpc:Vpc").id
    assert default.props["ingress"] == []
    assert default.props["egress"] == []


def test_flow_logs_capture_all_traffic_into_an_encrypted_log_group(stack):
    vpc = stack.one("aws:ec2/vpc:Vpc")
    flow = stack.one("aws:ec2/flowLog:FlowLog")
    group = stack.one("aws:cloudwatch/logGroup:LogGroup", "network-flow-logs")
    key = stack.one("aws:kms/key:Key", "data-key")
    assert flow.props["vpcId"] == vpc.id
    assert flow.props["trafficType"] == "ALL"
    assert flow.props["logDestinationType"] == "cloud-watch-logs"
    assert flow.props["logDestination"] == group.outputs["arn"]
    assert group.props["kmsKeyId"] == key.outputs["arn"]
    expected_days = 30 if stack.stack == "dev" else 365
    assert group.props["retentionInDays"] == expected_days


def test_flow_log_role_is_least_privilege(stack):
    role = stack.one("aws:iam/role:Role", "network-flow-logs-role")
    trust = policy(role, "assumeRolePolicy")["Statement"]
    assert trust == [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
    }]
    write = stack.one("aws:iam/rolePolicy:RolePolicy", "network-flow-logs-write")
    group = stack.one("aws:cloudwatch/logGroup:LogGroup", "network-flow-logs")
    assert write.props["role"] == role.id
    assert policy(write)["Statement"] == [{
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        "Resource": f"{group.outputs['arn']}:*",
    }]
    flow = stack.one("aws:ec2/flowLog:FlowLog")
    assert flow.props["iamRoleArn"] == role.outputs["arn"]


def test_operator_endpoint_is_private_with_its_own_security_group(stack):
    endpoint = stack.one("aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint")
    group = stack.one("aws:ec2/securityGroup:SecurityGroup", "network-operator-sg")
    subnet_ids = {s.id for s in stack.of_type("aws:ec2/subnet:Subnet")}
    assert endpoint.props["subnetId"] in subnet_ids
    assert endpoint.props["securityGroupIds"] == [group.id]
    assert endpoint.props["preserveClientIp"] is False
    assert not group.props.get("ingress")
    assert not group.props.get("egress")


def test_operator_endpoint_may_only_reach_the_database_port(stack):
    operator = stack.one("aws:ec2/securityGroup:SecurityGroup", "network-operator-sg")
    database = stack.one("aws:ec2/securityGroup:SecurityGroup", "db-sg")
    ingress = [r for r in stack.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
               if r.props["securityGroupId"] == operator.id]
    egress = [r for r in stack.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
              if r.props["securityGroupId"] == operator.id]
    assert ingress == []
    assert len(egress) == 1
    rule = egress[0].props
    assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 5432, 5432)
    assert rule["referencedSecurityGroupId"] == database.id
    assert "cidrIpv4" not in rule and "cidrIpv6" not in rule


def test_operator_policy_opens_tunnels_to_the_database_port_in_this_vpc_only(stack):
    endpoint = stack.one("aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint")
    statements = policy(stack.one("aws:iam/policy:Policy", "network-operator-policy"))["Statement"]
    tunnel = next(s for s in statements if s["Sid"] == "OpenTunnelToDatabasePort")
    assert tunnel["Action"] == "ec2-instance-connect:OpenTunnel"
    assert tunnel["Resource"] == endpoint.outputs["arn"]
    assert tunnel["Condition"]["NumericEquals"] == {"ec2-instance-connect:remotePort": "5432"}
    assert tunnel["Condition"]["IpAddress"] == {"ec2-instance-connect:privateIpAddress": "10.40.0.0/16"}
    assert tunnel["Condition"]["NumericLessThanEquals"] == {"ec2-instance-connect:maxTunnelDuration": "3600"}
    find = next(s for s in statements if s["Sid"] == "FindTheEndpoint")
    assert find == {"Sid": "FindTheEndpoint", "Effect": "Allow",
                    "Action": "ec2:DescribeInstanceConnectEndpoints", "Resource": "*"}


def test_operator_policy_reads_exactly_the_stacks_two_database_secrets_through_secrets_manager(stack):
    """`cruddur db -s` / `stack env -s` read the CURRENT secrets (the passwords rotate): the operator policy grants
    that read on the master and app secrets of this stack only, and the decrypt only via Secrets Manager."""
    statements = policy(stack.one("aws:iam/policy:Policy", "network-operator-policy"))["Statement"]
    assert sorted(s["Sid"] for s in statements) == [
        "DecryptThemThroughSecretsManagerOnly", "FindTheEndpoint", "OpenTunnelToDatabasePort",
        "ReadTheStacksDatabaseSecrets", "WakeTheDatabase"]
    read = next(s for s in statements if s["Sid"] == "ReadTheStacksDatabaseSecrets")
    assert sorted(read["Action"]) == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    master = stack.one("aws:secretsmanager/secret:Secret", "db-master-secret").props["name"]
    app = stack.one("aws:secretsmanager/secret:Secret", "app-secret").props["name"]
    assert (master, app) == (f"cruddur/{stack.stack}/rds/master", f"cruddur/{stack.stack}/rds/app")
    region = stack.config["aws:region"]
    assert sorted(read["Resource"]) == sorted(
        f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:{name}-??????" for name in (master, app))
    decrypt = next(s for s in statements if s["Sid"] == "DecryptThemThroughSecretsManagerOnly")
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Resource"] == stack.one("aws:kms/key:Key", "data-key").outputs["arn"]
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}


def test_operator_cidrs_limit_where_tunnels_may_be_opened_from(evaluate_with):
    evaluation = evaluate_with("prod", overrides={"cruddur-db:operatorCidrs": ["203.0.113.0/24", "2001:db8::/32"]})
    statements = policy(evaluation.one("aws:iam/policy:Policy", "network-operator-policy"))["Statement"]
    tunnel = next(s for s in statements if s["Sid"] == "OpenTunnelToDatabasePort")
    assert tunnel["Condition"]["IpAddress"]["aws:SourceIp"] == ["203.0.113.0/24", "2001:db8::/32"]


def test_network_children_are_parented_to_the_component(stack):
    network = stack.one(NETWORK)
    children = stack.children_of(network)
    kinds = {c.type for c in children}
    assert {"aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
            "aws:ec2/flowLog:FlowLog", "aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint",
            "aws:iam/policy:Policy"} <= kinds
    assert all(c.name.startswith("network-") for c in children)


def test_subnet_layout_depends_on_zone_ids_only(monkeypatch, evaluate_with, prod):
    """Other names for the zones, another listing order and a new AZ (even one sorting first by name) move nothing."""
    from ops.offline.aws_mocks import AwsMocks

    monkeypatch.setattr(AwsMocks, "availability_zones", (
        ("a", "euw1-az3"), ("b", "euw1-az4"), ("c", "euw1-az1"), ("d", "euw1-az2")))
    reshuffled = evaluate_with("prod")

    def layout(evaluation):
        # sorted by logical name: subnets register in no fixed order
        return sorted((s.name, s.props["cidrBlock"], s.props["availabilityZoneId"])
                      for s in evaluation.of_type("aws:ec2/subnet:Subnet"))

    assert layout(reshuffled) == layout(prod)
    assert [zone for _, _, zone in layout(prod)] == ["euw1-az1", "euw1-az2", "euw1-az3"]


def test_chosen_zone_ids_are_the_first_in_sorted_order():
    from components.network import chosen_zone_ids

    assert chosen_zone_ids(["euw1-az3", "euw1-az1", "euw1-az2"], 2) == ["euw1-az1", "euw1-az2"]
    assert chosen_zone_ids(["use1-az6", "use1-az1", "use1-az4", "use1-az2"], 3) == ["use1-az1", "use1-az2", "use1-az4"]


def test_operator_policy_may_start_this_stacks_database_only(stack):
    """`cruddur stack wake -s STACK` starts a stopped instance (a dev run schedule) and waits: this instance only."""
    statements = policy(stack.one("aws:iam/policy:Policy", "network-operator-policy"))["Statement"]
    wake = next(s for s in statements if s["Sid"] == "WakeTheDatabase")
    assert sorted(wake["Action"]) == ["rds:DescribeDBInstances", "rds:StartDBInstance"]
    instance = stack.one("aws:rds/instance:Instance")
    assert wake["Resource"] == instance.outputs["arn"] == (
        f"arn:aws:rds:{stack.config['aws:region']}:{ACCOUNT_ID}:db:cruddur-{stack.stack}-db")
