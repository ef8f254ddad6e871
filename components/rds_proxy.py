"""``RdsProxy``: an RDS Proxy in front of the primary (``rdsProxy``), for bursts of short-lived clients.

- the proxy (``cruddur-<stack>-proxy``, engine family POSTGRESQL): TLS required, in the private subnets, with a
  security group of its own that admits only the clients a caller names (``allow_from``: the app's client security
  group, the sign-up function's), SG to SG on the database port; the database admits the proxy's group the same
  way, so the proxy reaches the primary and nothing else;
- how each client authenticates, as it does without the proxy:
  - the app with its own password: one auth entry registers the app secret (``cruddur/<stack>/rds/app``, SECRETS,
    SCRAM-SHA-256, IAM off). The secret alternates users (``cruddur_app``/``cruddur_app_clone``,
    components/master_rotation.py ``AppRotation``): the proxy logs in as the user the secret's current version
    names, so after a rotation the app must connect with the secret's current user (docs/scaling.md);
  - the sign-up function with IAM: end-to-end IAM authentication (``default_auth_scheme`` IAM_AUTH), the proxy
    signing its own token to the database as ``cruddur_confirmation``. A per-user auth entry with ``iam_auth``
    REQUIRED would make the proxy log in with a password from a secret, and that role has none: it has
    ``rds_iam`` and logs in with tokens only (sql/migrations/0004_app_password_login.sql), so the end-to-end
    scheme keeps it passwordless;
- the proxy's role (trusted by RDS): read exactly the app secret, use the data key only
  through Secrets Manager to decrypt it, and ``rds-db:connect`` as each IAM user on this instance only;
- the default target group: ``max_connections_percent`` from the connection budget
  (``connection_budget.proxy_max_connections_percent``: all but what RDS and the operators keep), and the one
  target, the primary (RDS Proxy does not route to instance read replicas; readers use ``readerEndpoint``).

``endpoint`` is what the app (``CONNECTION_URL``, ``cruddur stack env``) and the sign-up function connect to when
the proxy is on; ``connect_arn(user)`` is the ``rds-db:connect`` resource a client's role needs to log in through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws_context import AwsContext
from components.database import Database
from components.iam import service_trust_policy
from components.naming import Naming
from components.sg_pair import admit, security_group

ENGINE_FAMILY = "POSTGRESQL"
IDLE_CLIENT_TIMEOUT_SECONDS = 1800  # an idle client connection is closed after 30 minutes (the default)
# How long a client waits for a pooled connection before the proxy refuses it: the sign-up function bounds its own
# wait inside Cognito's 5 s (lambda/post_confirmation), so this only bounds the app's waits.
CONNECTION_BORROW_TIMEOUT_SECONDS = 30
MAX_IDLE_CONNECTIONS_PERCENT = 50  # of the proxy's own share: idle pooled connections kept for the next burst


def proxy_resource_id(proxy_arn: str) -> str:
    """The proxy's resource id (``prx-...``), the last part of its ARN: what ``rds-db:connect`` ARNs name."""
    return proxy_arn.rsplit(":", 1)[-1]


@dataclass
class RdsProxyArgs:
    naming: Naming
    aws_context: AwsContext
    database: Database  # the target: its instance, security group and port
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]  # the private subnets
    kms_key_arn: pulumi.Input[str]  # the data key the app secret is encrypted with
    app_secret: aws.secretsmanager.Secret  # registered for the app's password logins
    iam_users: Sequence[str]  # database users that log in with IAM through the proxy (the sign-up function's)
    max_connections_percent: int  # connection_budget.proxy_max_connections_percent
    port: int = 5432


class RdsProxy(pulumi.ComponentResource):
    proxy: aws.rds.Proxy
    security_group: aws.ec2.SecurityGroup
    role: aws.iam.Role
    target_group: aws.rds.ProxyDefaultTargetGroup
    target: aws.rds.ProxyTarget
    endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: RdsProxyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:rds_proxy:RdsProxy", name, None, opts)
        naming, db, ctx = args.naming, args.database, args.aws_context
        if not 1 <= args.max_connections_percent <= 100:
            raise ValueError(f"max_connections_percent must be from 1 to 100, got {args.max_connections_percent}")
        self._name, self._port, self._ctx = name, args.port, ctx
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        proxy_name = naming.physical_name("proxy")

        self.security_group = security_group(
            f"{name}-sg", args.vpc_id, "Cruddur RDS Proxy: PostgreSQL from named security groups, to the database "
                                       "only", proxy_name, child)
        db.allow_from("proxy", self.security_group, "the RDS Proxy")

        self.role = aws.iam.Role(
            f"{name}-role",
            name=proxy_name,
            # Trusted by RDS, like the database's monitoring role: RDS Proxy's documented trust policy names the
            # service only, and a condition it does not send would lock the proxy out of its secret.
            assume_role_policy=service_trust_policy("rds.amazonaws.com", invoke),
            description="Cruddur RDS Proxy: read the app secret, log in to the database as the IAM users",
            opts=child,
        )
        db_user_arns = [pulumi.Output.all(ctx.partition, ctx.region, ctx.account_id, db.instance.resource_id).apply(
            lambda v, user=user: f"arn:{v[0]}:rds-db:{v[1]}:{v[2]}:dbuser:{v[3]}/{user}") for user in args.iam_users]
        statements = [
            {"sid": "ReadTheAppSecret", "actions": ["secretsmanager:GetSecretValue"],
             "resources": [args.app_secret.arn]},
            {"sid": "DecryptTheAppSecretThroughSecretsManager", "actions": ["kms:Decrypt"],
             "resources": [args.kms_key_arn],
             "conditions": [{"test": "StringEquals", "variable": "kms:ViaService",
                             "values": [f"secretsmanager.{ctx.region}.amazonaws.com"]}]},
        ]
        if db_user_arns:
            statements.append({"sid": "ConnectAsTheIamUsers", "actions": ["rds-db:connect"],
                               "resources": db_user_arns})
        policy = aws.iam.RolePolicy(
            f"{name}-policy", role=self.role.id,
            policy=aws.iam.get_policy_document_output(statements=statements, opts=invoke).json, opts=child)

        self.proxy = aws.rds.Proxy(
            f"{name}-proxy",
            name=proxy_name,
            engine_family=ENGINE_FAMILY,
            require_tls=True,
            role_arn=self.role.arn,
            vpc_subnet_ids=args.subnet_ids,
            vpc_security_group_ids=[self.security_group.id],
            # The sign-up function: end-to-end IAM (see the module docstring).
            default_auth_scheme="IAM_AUTH" if args.iam_users else "NONE",
            auths=[{
                "auth_scheme": "SECRETS",
                "secret_arn": args.app_secret.arn,
                "iam_auth": "DISABLED",
                "client_password_auth_type": "POSTGRES_SCRAM_SHA_256",
                "description": "the app's own role (the app secret's current user)",
            }],
            idle_client_timeout=IDLE_CLIENT_TIMEOUT_SECONDS,
            debug_logging=False,  # would log the statements the clients send
            tags={"Name": proxy_name},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.target_group = aws.rds.ProxyDefaultTargetGroup(
            f"{name}-targets",
            db_proxy_name=self.proxy.name,
            connection_pool_config={
                "max_connections_percent": args.max_connections_percent,
                "max_idle_connections_percent": min(MAX_IDLE_CONNECTIONS_PERCENT, args.max_connections_percent),
                "connection_borrow_timeout": CONNECTION_BORROW_TIMEOUT_SECONDS,
            },
            opts=child,
        )
        self.target = aws.rds.ProxyTarget(
            f"{name}-primary",
            db_proxy_name=self.proxy.name,
            target_group_name=self.target_group.name,
            db_instance_identifier=db.instance.identifier,
            opts=child,
        )
        self.endpoint = self.proxy.endpoint
        self.register_outputs({"endpoint": self.proxy.endpoint, "arn": self.proxy.arn})

    def allow_from(self, part: str, source: aws.ec2.SecurityGroup, why: str) -> None:
        """Let ``source`` reach the proxy on the database port (ingress on the proxy's SG, egress on ``source``'s)."""
        admit(self, self._name, part, self.security_group, source, self._port,
              ingress=f"PostgreSQL from {why}", egress="PostgreSQL to the Cruddur RDS Proxy only")

    def allow_existing(self, sg_id: str, why: str) -> aws.vpc.SecurityGroupIngressRule:
        """Let an existing security group (someone else's: ``appSecurityGroupIds``) reach the proxy; its egress is its
        owner's."""
        return aws.vpc.SecurityGroupIngressRule(
            f"{self._name}-in-from-{sg_id}", security_group_id=self.security_group.id,
            referenced_security_group_id=sg_id, ip_protocol="tcp", from_port=self._port, to_port=self._port,
            description=f"PostgreSQL from {why}", opts=pulumi.ResourceOptions(parent=self))

    def connect_arn(self, user: str) -> pulumi.Output[str]:
        """The ``rds-db:connect`` resource for logging in as ``user`` through this proxy."""
        ctx = self._ctx
        return pulumi.Output.all(ctx.partition, ctx.region, ctx.account_id, self.proxy.arn).apply(
            lambda v: f"arn:{v[0]}:rds-db:{v[1]}:{v[2]}:dbuser:{proxy_resource_id(v[3])}/{user}")
