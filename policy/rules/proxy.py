"""The RDS Proxy rules: a proxy is judged like the database it fronts (private, TLS only: ``rds-proxy-requires-tls``
in database.py), and also on how clients log in through it, what it logs and how much of the database it may
take."""

from __future__ import annotations

from .constants import RDS_INSTANCE, RDS_PROXY, RDS_PROXY_DEFAULT_TARGET_GROUP, RDS_PROXY_ENDPOINT, RDS_PROXY_TARGET
from .props import as_list, as_number, known, of_type, truthy
from .registry import Subject, resource_rule, stack_rule

# Client password schemes a proxy may accept: SCRAM, never md5 (the parameter group stores SCRAM verifiers only).
WEAK_CLIENT_AUTH = ("POSTGRES_MD5", "MYSQL_NATIVE_PASSWORD")


@resource_rule("rds-proxy-in-vpc", types=(RDS_PROXY, RDS_PROXY_ENDPOINT),
               description="RDS proxies and proxy endpoints sit in named VPC subnets behind named security groups "
                           "(vpc_subnet_ids and vpc_security_group_ids set): never the VPC's default group.",
               practices=("no-public-access",))
def rds_proxy_in_vpc(r: Subject) -> list[str]:
    problems = []
    subnets, groups = r.props.get("vpcSubnetIds"), r.props.get("vpcSecurityGroupIds")
    if known(subnets) and not as_list(subnets):
        problems.append(f"{r.label} names no subnets; set vpc_subnet_ids to the stack's private subnets")
    if known(groups) and not as_list(groups):
        problems.append(f"{r.label} names no security group, so it gets the VPC's default one; give it its own "
                        "(vpc_security_group_ids) and admit it to the database's group")
    return problems


@resource_rule("rds-proxy-strong-auth", types=(RDS_PROXY,),
               description="RDS proxies authenticate every client: SCRAM passwords from a Secrets Manager secret "
                           "(never md5) or IAM, and with no auth entry, end-to-end IAM (default_auth_scheme "
                           "IAM_AUTH).",
               practices=("strong-auth", "secrets"))
def rds_proxy_strong_auth(r: Subject) -> list[str]:
    auths, scheme = r.props.get("auths"), r.props.get("defaultAuthScheme")
    if not known(auths):
        return []
    problems = []
    entries = [a for a in as_list(auths) if isinstance(a, dict)]
    if not entries and known(scheme) and scheme != "IAM_AUTH":
        problems.append(f"{r.label} has no auth entry and default_auth_scheme {scheme or 'unset'}; register each "
                        "user's secret in auths, or set default_auth_scheme='IAM_AUTH'")
    for entry in entries:
        client, secret = entry.get("clientPasswordAuthType"), entry.get("secretArn")
        if known(client) and client in WEAK_CLIENT_AUTH:
            problems.append(f"{r.label} accepts {client} passwords; set client_password_auth_type="
                            "'POSTGRES_SCRAM_SHA_256'")
        if entry.get("authScheme") in (None, "SECRETS") and known(secret) and not secret:
            problems.append(f"{r.label} has an auth entry without a secret; set its secret_arn to the user's "
                            "Secrets Manager secret")
    return problems


@resource_rule("rds-proxy-no-debug-logging", types=(RDS_PROXY,),
               description="RDS proxies keep debug logging off: it writes the SQL clients send, data included, to "
                           "CloudWatch Logs.",
               practices=("secrets", "audit-trail"))
def rds_proxy_no_debug_logging(r: Subject) -> list[str]:
    value = r.props.get("debugLogging")
    if known(value) and truthy(value):
        return [f"{r.label} has debug logging on, which logs the statements clients send (data included); set "
                "debug_logging=False (turn it on by hand for a diagnosis only)"]
    return []


@resource_rule("rds-proxy-pool-bounded", types=(RDS_PROXY_DEFAULT_TARGET_GROUP,),
               description="An RDS proxy's target group takes less than 100 % of the database's max_connections "
                           "(connection_pool_config.max_connections_percent), leaving RDS and the operators theirs.",
               practices=("least-privilege",))
def rds_proxy_pool_bounded(r: Subject) -> list[str]:
    config = r.props.get("connectionPoolConfig")
    if not known(config):
        return []
    raw = config.get("maxConnectionsPercent") if isinstance(config, dict) else None
    if not known(raw):
        return []
    percent = as_number(raw)
    if percent is None or percent >= 100:
        return [f"{r.label} lets the proxy take {'all' if percent is None else f'{percent:g} %'} of the database's "
                "connections, leaving none to RDS and the operators; set connection_pool_config."
                "max_connections_percent below 100 (components/connection_budget.py proxy_max_connections_percent)"]
    return []


@stack_rule("rds-proxy-targets-this-stack", types=(RDS_PROXY_TARGET,),
            description="An RDS proxy target is a primary instance declared in this stack (never a read replica or "
                        "another stack's database).",
            practices=("least-privilege",))
def rds_proxy_targets_this_stack(args) -> list[str]:
    instances = of_type(args, RDS_INSTANCE)
    if any(not known(p.get("identifier")) for _, p in instances):
        return []
    primaries = {p.get("identifier") for _, p in instances if not p.get("replicateSourceDb")}
    replicas = {p.get("identifier") for _, p in instances if p.get("replicateSourceDb")}
    problems = []
    for target, p in of_type(args, RDS_PROXY_TARGET):
        instance, cluster = p.get("dbInstanceIdentifier"), p.get("dbClusterIdentifier")
        label = f"rds ProxyTarget '{target.name}'"
        if not known(instance) or not known(cluster):
            continue
        if cluster:
            problems.append(f"{label} targets cluster '{cluster}', which this stack does not declare; target the "
                            "stack's instance")
        elif instance in replicas:
            problems.append(f"{label} targets read replica '{instance}', which refuses writes; target the primary")
        elif instance not in primaries:
            problems.append(f"{label} targets '{instance or '(nothing)'}', which is not an instance of this stack; "
                            "target the stack's primary")
    return problems
