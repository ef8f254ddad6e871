"""``Function``: every Lambda function of the stack, declared one way.

What each function of the stack has, owned here once:

- its role: trusted by ``lambda.amazonaws.com`` only, with ``AWSLambdaVPCAccessExecutionRole`` in the VPC (ENIs and
  logs) or ``AWSLambdaBasicExecutionRole`` outside it, plus one inline policy holding the function's own
  ``statements`` (and X-Ray's two write actions when traced);
- its log group ``/aws/lambda/<function>``, encrypted with the stack's data key, kept for the stack's log retention,
  created before the function so that nothing is ever logged unencrypted or kept forever; JSON logs (INFO for the
  application, WARN for the platform);
- its package: uploaded to the stack's artifacts bucket and signed by the stack's Signer profile
  (``CodeSigning.sign``), and the function carries the stack's enforced code signing config, so Lambda refuses
  anything the stack did not sign;
- its environment encrypted with the data key; python3.13 on arm64;
- in the VPC (``vpc=True``): the private subnets and a security group of its own with no rule of its own; each
  ``reaches`` admission (``Database.allow_from``: part, source SG, why) gives it exactly one egress and the target
  the matching ingress, SG to SG. Outside the VPC it has no security group and no ENI.

What stays with the caller is what makes the function that function: its name, handler, package, layers,
environment, policy statements, who it may reach, timeout, memory, reserved concurrency, and who may invoke it
(``allow_invoke``).

Children are named ``<name>-sg``, ``<name>-role``, ``<name>-vpc-access`` (or ``<name>-basic``), ``<name>-policy``,
``<name>-logs``, ``<name>-function`` and ``<name>-invoke``, as every function had them before this component existed;
``aliases`` keep each child's earlier URN (the caller's component was their parent), so no real resource is replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.aws_context import AwsContext
from components.code_signing import CodeSigning, SignedArtifact
from components.iam import service_trust_policy
from components.log_group import encrypted_log_group
from components.naming import Naming
from components.sg_pair import security_group

RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
DEFAULT_MEMORY_MB = 256
XRAY_WRITE = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
# (part, source security group, why): Database.allow_from's signature, the one way a function is let in somewhere.
Admission = Callable[[str, aws.ec2.SecurityGroup, str], None]


@dataclass(frozen=True)
class Platform:
    """What every function of the stack shares, built once by ``__main__.py`` and handed to each component."""

    naming: Naming
    aws_context: AwsContext
    kms_key_arn: pulumi.Input[str]  # the data key: log groups and environments
    code_signing: CodeSigning
    log_retention_days: int
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]  # the private subnets (no route out)
    layers: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # "psycopg2"/"powertools"/... -> ARN

    def layer(self, name: str) -> pulumi.Input[str]:
        try:
            return self.layers[name]
        except KeyError:
            raise ValueError(f"the stack builds no {name!r} layer (it builds: {', '.join(sorted(self.layers))})") \
                from None


# The reserved concurrency of a function whose callers are bounded (a rotation's steps, a deploy's migration run, the
# weekly restore drill): one invocation at a time. It bounds the connections a database side can hold and keeps a
# runaway caller from taking the account's concurrency; a second caller waits (asynchronous) or is throttled.
ONE_AT_A_TIME = 1


@dataclass
class FunctionArgs:
    platform: Platform
    part: str  # the physical name: cruddur-<stack>-<part>
    description: str
    code: pulumi.Archive | SignedArtifact  # an archive is signed here as ``sign_part``; a signed one is used as is
    role_description: str
    handler: str = "handler.handler"
    sign_part: str | None = None  # the signing children's part (default: ``part``)
    layers: Sequence[pulumi.Input[str]] = ()
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    statements: Sequence[dict] = ()  # the inline policy's statements (aws.iam.get_policy_document's shape)
    vpc: bool = False
    security_group_description: str = ""
    security_group_tag: str | None = None  # the SG's Name tag (default: the function's name)
    reaches: Sequence[tuple[Admission, str]] = ()  # (admission, why): who lets this function in (vpc only)
    admission_part: str | None = None  # the part of the admissions' rule names (default: ``part``)
    timeout: int = 60
    memory_size: int = DEFAULT_MEMORY_MB
    reserved_concurrency: int | None = None
    publish: bool = False
    tracing: bool = True
    # The function child's earlier resource name, where it was not ``<name>-function``.
    function_alias_name: str | None = None

    def __post_init__(self) -> None:
        if self.reaches and not self.vpc:
            raise ValueError(f"function {self.part}: `reaches` admits a security group, but the function is not in "
                             "the VPC (vpc=False)")
        if self.vpc and not self.security_group_description:
            raise ValueError(f"function {self.part}: a function in the VPC needs security_group_description")


class Function(pulumi.ComponentResource):
    function: aws.lambda_.Function
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup
    security_group: aws.ec2.SecurityGroup | None
    name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: FunctionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:function:Function", name, None, opts)
        self._name = name
        platform = args.platform
        ctx = platform.aws_context
        function_name = platform.naming.physical_name(args.part)
        # Children keep the URNs they had as children of the caller's component.
        outer = opts.parent if opts is not None else None
        self._aliases = [pulumi.Alias(parent=outer)] if outer is not None else []
        child = self._child()
        invoke = pulumi.InvokeOutputOptions(parent=self)

        self.security_group = None
        if args.vpc:
            self.security_group = security_group(f"{name}-sg", platform.vpc_id, args.security_group_description,
                                                 args.security_group_tag or function_name, child)
            for admit, why in args.reaches:
                admit(args.admission_part or args.part, self.security_group, why)

        self.role = aws.iam.Role(
            f"{name}-role",
            name=function_name,
            assume_role_policy=service_trust_policy("lambda.amazonaws.com", invoke),
            description=args.role_description,
            opts=child,
        )
        execution = (("vpc-access", "service-role/AWSLambdaVPCAccessExecutionRole") if args.vpc
                     else ("basic", "service-role/AWSLambdaBasicExecutionRole"))
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-{execution[0]}", role=self.role.name, policy_arn=ctx.managed_policy_arn(execution[1]),
            opts=child)
        statements = list(args.statements)
        if args.tracing:
            # Active tracing: the role must be able to send segments (X-Ray has no resource scoping).
            statements.append({"sid": "XRayTracing", "actions": list(XRAY_WRITE), "resources": ["*"]})
        needs = [attachment]
        if statements:
            needs.append(aws.iam.RolePolicy(
                f"{name}-policy", role=self.role.id,
                policy=aws.iam.get_policy_document_output(statements=statements, opts=invoke).json, opts=child))

        self.log_group = encrypted_log_group(f"{name}-logs", f"/aws/lambda/{function_name}",
                                             platform.log_retention_days, platform.kms_key_arn, child)
        signed = args.code if isinstance(args.code, SignedArtifact) else \
            platform.code_signing.sign(args.sign_part or args.part, args.code)

        optional: dict = {}
        if args.reserved_concurrency is not None:
            optional["reserved_concurrent_executions"] = args.reserved_concurrency
        if args.publish:
            optional["publish"] = True
        if args.tracing:
            optional["tracing_config"] = {"mode": "Active"}
        if self.security_group is not None:
            optional["vpc_config"] = {"subnet_ids": platform.subnet_ids,
                                      "security_group_ids": [self.security_group.id]}
        aliases = list(self._aliases)
        if args.function_alias_name and outer is not None:
            aliases.append(pulumi.Alias(name=args.function_alias_name, parent=outer))
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=function_name,
            description=args.description,
            role=self.role.arn,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=args.handler,
            s3_bucket=signed.bucket,
            s3_key=signed.key,
            code_signing_config_arn=platform.code_signing.config_arn,
            timeout=args.timeout,
            memory_size=args.memory_size,
            layers=list(args.layers),
            kms_key_arn=platform.kms_key_arn,  # the environment is encrypted with the stack's data key
            environment={"variables": dict(args.environment)},
            logging_config={"log_format": "JSON", "log_group": self.log_group.name,
                            "application_log_level": "INFO", "system_log_level": "WARN"},
            **optional,
            opts=pulumi.ResourceOptions(parent=self, aliases=aliases,
                                        depends_on=[self.log_group, *needs]),
        )
        self.name = self.function.name
        self.arn = self.function.arn
        self.register_outputs({"function_name": self.function.name, "role_arn": self.role.arn})

    def _child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, aliases=list(self._aliases))

    def allow_invoke(self, principal: str, source_arn: pulumi.Input[str]) -> aws.lambda_.Permission:
        """Let one AWS service invoke the function, for one source only (``<name>-invoke``)."""
        return aws.lambda_.Permission(
            f"{self._name}-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal=principal,
            source_arn=source_arn,
            opts=self._child(),
        )
