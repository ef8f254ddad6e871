"""The network rules: no security-group rule or managed prefix list opens the internet, whole or in pieces, alone or
together (every rule of one group, every entry of one list, whatever resource declares it)."""

from __future__ import annotations

import ipaddress
from typing import Any

from cidrs import MAX_SHARE_TEXT, percent, too_wide

from .constants import (
    DEFAULT_SECURITY_GROUP,
    MANAGED_PREFIX_LIST,
    MANAGED_PREFIX_LIST_ENTRY,
    ROUTE,
    ROUTE_TABLE,
    SECURITY_GROUP,
    SECURITY_GROUP_RULE,
    SG_EGRESS_RULE,
    SG_INGRESS_RULE,
    SUBNET,
)
from .props import as_list, known, plain, truthy
from .registry import Subject, resource_rule, stack_rule

WORLD_FIX = "allow a named security group (referenced_security_group_id) or a specific range instead"


def _world(cidr: Any) -> bool:
    if not isinstance(cidr, str):
        return False
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def _rule_cidrs(rule: dict) -> list:
    return [rule.get("cidrIpv4"), rule.get("cidrIpv6"), *as_list(rule.get("cidrBlocks")),
            *as_list(rule.get("ipv6CidrBlocks"))]


def _wide(cidrs: list) -> list[tuple[int, list[str], str]]:
    """(IP version, the ranges of that version, their share as text) for each family the known ranges open too
    widely."""
    strings = [c for c in cidrs if isinstance(c, str) and known(c)]
    found = []
    for version, share, space in too_wide(strings):
        mine = []
        for c in strings:
            try:
                if ipaddress.ip_network(c.strip(), strict=False).version == version:
                    mine.append(c)
            except ValueError:
                continue
        found.append((version, mine, f"{percent(share)} of the {space}"))
    return found


def _too_much(share: str) -> str:
    return f"cover {share} (the limit is less than {MAX_SHARE_TEXT})"


def _sg_rules(r: Subject) -> list[tuple[str, list]]:
    """(direction, CIDRs) per direction of a security group, rule or rule resource."""
    if r.type in (SG_INGRESS_RULE, SG_EGRESS_RULE):
        return [("ingress" if r.type == SG_INGRESS_RULE else "egress", _rule_cidrs(r.props))]
    if r.type == SECURITY_GROUP_RULE:
        direction = r.props.get("type")
        return [(direction if isinstance(direction, str) else "rule", _rule_cidrs(r.props))]
    found = []
    for direction in ("ingress", "egress"):
        cidrs = []
        for rule in as_list(r.props.get(direction)):
            if isinstance(rule, dict):
                cidrs += _rule_cidrs(rule)
        found.append((direction, cidrs))
    return found


@resource_rule("sg-no-world-open-rules",
               types=(SECURITY_GROUP, DEFAULT_SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE, SG_EGRESS_RULE),
               description="No security-group rule, ingress or egress, is open to 0.0.0.0/0 or ::/0, whole or in "
                           f"pieces (the union of a resource's ranges covers less than {MAX_SHARE_TEXT} of each "
                           "address space).",
               practices=("no-world-open",))
def sg_no_world_rules(r: Subject) -> list[str]:
    problems = []
    for direction, cidrs in _sg_rules(r):
        world = [c for c in cidrs if _world(c)]
        for cidr in world:
            problems.append(f"{r.label} has an {direction} rule open to {cidr}; {WORLD_FIX}")
        if world:
            continue
        for _version, mine, share in _wide(cidrs):
            problems.append(f"{r.label} has {direction} rules whose ranges ({', '.join(mine)}) together "
                            f"{_too_much(share)}; {WORLD_FIX}")
    return problems


def _id_from(p: dict, marker: str) -> Any:
    """A resource's id from its outputs: ``id``, else the last part of its ARN (``...:security-group/sg-1``)."""
    if isinstance(p.get("id"), str) and p["id"]:
        return p["id"]
    arn = p.get("arn")
    if isinstance(arn, str) and f":{marker}/" in arn:
        return arn.rsplit("/", 1)[-1]
    return None


def _prefix_lists(args) -> dict[str, tuple[list[str], list]]:
    """Prefix list id -> (what holds its entries, their CIDRs): the list's inline entries and every
    ManagedPrefixListEntry resource of the stack."""
    lists: dict[str, tuple[list[str], list]] = {}
    for resource in args.resources:
        p = plain(resource.props) or {}
        if not isinstance(p, dict):
            continue
        if resource.resource_type == MANAGED_PREFIX_LIST:
            list_id = _id_from(p, "prefix-list")
            cidrs = [e.get("cidr") for e in as_list(p.get("entries")) if isinstance(e, dict)]
        elif resource.resource_type == MANAGED_PREFIX_LIST_ENTRY:
            list_id, cidrs = p.get("prefixListId"), [p.get("cidr")]
        else:
            continue
        if isinstance(list_id, str) and list_id:
            names, found = lists.setdefault(list_id, ([], []))
            if any(isinstance(c, str) for c in cidrs):
                names.append(resource.name)
            found += cidrs
    return lists


def _group_rules(resource, p: dict) -> list[tuple[Any, Any, list, list]]:
    """(group id, direction, CIDRs, referenced prefix list ids) for each rule a resource adds to a group."""
    typ = resource.resource_type
    if typ in (SG_INGRESS_RULE, SG_EGRESS_RULE):
        return [(p.get("securityGroupId"), "ingress" if typ == SG_INGRESS_RULE else "egress", _rule_cidrs(p),
                 as_list(p.get("prefixListId")))]
    if typ == SECURITY_GROUP_RULE:
        return [(p.get("securityGroupId"), p.get("type"), _rule_cidrs(p), as_list(p.get("prefixListIds")))]
    if typ in (SECURITY_GROUP, DEFAULT_SECURITY_GROUP):
        group = _id_from(p, "security-group")
        return [(group, direction, _rule_cidrs(rule), as_list(rule.get("prefixListIds")))
                for direction in ("ingress", "egress") for rule in as_list(p.get(direction))
                if isinstance(rule, dict)]
    return []


def _shown(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 3 else f"{', '.join(names[:3])}, ... {len(names)} resources"


@stack_rule("sg-rules-union-not-world-open",
            description="All the rules of one security group (inline rules, SecurityGroupRule and vpc rule "
                        "resources, and the prefix lists they reference) together open less than "
                        f"{MAX_SHARE_TEXT} of each address space, per direction; so do all the entries of one "
                        "prefix list (inline and ManagedPrefixListEntry resources).",
            practices=("no-world-open",), reads=(MANAGED_PREFIX_LIST_ENTRY,),
            types=(SECURITY_GROUP, DEFAULT_SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE, SG_EGRESS_RULE,
                   MANAGED_PREFIX_LIST, MANAGED_PREFIX_LIST_ENTRY))
def sg_rules_union(args) -> list[str]:
    lists = _prefix_lists(args)
    groups: dict[tuple[str, str], tuple[list[str], list]] = {}  # (group id, direction) -> (sources, CIDRs)
    for resource in args.resources:
        p = plain(resource.props) or {}
        if not isinstance(p, dict):
            continue
        for group, direction, cidrs, list_ids in _group_rules(resource, p):
            if not isinstance(group, str) or not group or not isinstance(direction, str):
                continue
            names, found = groups.setdefault((group, direction), ([], []))
            if any(isinstance(c, str) for c in cidrs) and resource.name not in names:
                names.append(resource.name)
            found += cidrs
            for list_id in list_ids:
                if isinstance(list_id, str) and list_id in lists:
                    names.append(f"prefix list {list_id}")
                    found += lists[list_id][1]
    problems = []
    for (group, direction), (names, cidrs) in groups.items():
        if len(names) < 2 and not any(n.startswith("prefix list ") for n in names):
            continue  # a single resource's own ranges are judged by sg-no-world-open-rules
        for _version, _, share in _wide(cidrs):
            problems.append(f"security group '{group}' has {direction} rules ({_shown(names)}) that together "
                            f"{_too_much(share)}; {WORLD_FIX}")
    for list_id, (names, cidrs) in lists.items():
        if len(names) < 2:
            continue  # a list's own entries are judged by prefix-list-not-world-open
        for _version, _, share in _wide(cidrs):
            problems.append(f"prefix list '{list_id}' holds entries ({_shown(names)}) that together "
                            f"{_too_much(share)}; every security-group rule that references it opens them all: "
                            "list specific ranges")
    return problems


@resource_rule("prefix-list-not-world-open", types=(MANAGED_PREFIX_LIST,),
               description=f"Managed prefix lists cover less than {MAX_SHARE_TEXT} of each address space (a "
                           "security-group rule that references one opens all its ranges).",
               practices=("no-world-open",))
def prefix_list_not_world_open(r: Subject) -> list[str]:
    entries = r.props.get("entries")
    if not known(entries):
        return []
    cidrs = [e.get("cidr") for e in as_list(entries) if isinstance(e, dict)]
    return [f"{r.label} holds ranges ({', '.join(mine)}) that together {_too_much(share)}; every "
            "security-group rule that references it opens them all: list specific ranges"
            for version, mine, share in _wide(cidrs)]



# Route targets that lead out of the VPC (an internet, NAT, egress-only, transit or carrier gateway, a peering, an
# instance or interface that can forward, a VPC endpoint of another service, a core network).
ROUTE_OUT = ("gatewayId", "natGatewayId", "egressOnlyGatewayId", "transitGatewayId", "carrierGatewayId",
             "vpcPeeringConnectionId", "networkInterfaceId", "instanceId", "coreNetworkArn", "vpcEndpointId",
             "localGatewayId")


@resource_rule("network-no-route-out", types=(ROUTE_TABLE, ROUTE, SUBNET),
               description="The private subnets have no route out: no route table or route sends traffic to a "
                           "gateway, peering, interface or endpoint, and no subnet gives its instances public IPs.",
               practices=("no-public-access", "no-world-open"))
def network_no_route_out(r: Subject) -> list[str]:
    if r.type == SUBNET:
        public = r.props.get("mapPublicIpOnLaunch")
        if known(public) and truthy(public):
            return [f"{r.label} gives its instances public IPs (map_public_ip_on_launch); the subnets are private: "
                    "set it False"]
        return []
    routes = [r.props] if r.type == ROUTE else [x for x in as_list(r.props.get("routes")) if isinstance(x, dict)]
    problems = []
    for route in routes:
        targets = [f"{key} {route[key]}" for key in ROUTE_OUT
                   if isinstance(route.get(key), str) and route[key] and route[key] != "local"]
        if targets:
            where = route.get("destinationCidrBlock") or route.get("destinationIpv6CidrBlock") or route.get(
                "cidrBlock") or route.get("ipv6CidrBlock") or route.get("destinationPrefixListId") or "a destination"
            problems.append(f"{r.label} routes {where} out of the VPC ({', '.join(targets)}); the private subnets have "
                            "no route out: reach AWS APIs through VPC interface endpoints instead")
    return problems
