"""The cruddur-db guardrails: one CrossGuard policy per practice, as plain, unit-testable validators.

Each validator is a plain function ``args -> list[str]`` (the violation messages, empty when compliant):

- resource validators take a ``pulumi_policy.ResourceValidationArgs`` (``resource_type``, ``props`` = the
  resource's inputs with the provider's camelCase names, ``name``, ``urn``, ``provider``);
- stack validators take a ``pulumi_policy.StackValidationArgs`` (``resources``: ``PolicyResource`` objects whose
  ``props`` are the resources' outputs).

``RULES`` describes every policy (name, level, what it checks, where it applies); ``build_policies()`` wraps each
validator in a ``ResourceValidationPolicy``/``StackValidationPolicy`` for ``__main__.py``'s ``PolicyPack``, and
``cruddur plan`` runs the same validators offline on the resources the mocks recorded.

Unknown values (during ``pulumi preview`` a property computed from another resource's output is not known yet)
are never violations: props are read through ``plain()``, which turns the engine's unknown markers into
``UNKNOWN``, and every check skips what it cannot know.

Some practices are prod's alone: a dev stack may legitimately differ where the stack settings allow it (deletion
protection, short backups, no GuardDuty, a force-destroyable trail bucket). Each of those is two policies sharing
one validator: ``<name>`` (MANDATORY, prod stacks) and ``<name>-dev`` (ADVISORY, dev stacks, the reason in its
description). A stack is dev only when its AWS provider's default tags say ``Environment: dev``; anything else is
judged as prod.

This module must stay importable on its own (the pack runs in its own virtualenv): it imports only the standard
library and ``pulumi_policy``; constants shared with ``components/settings.py`` are repeated here and a test keeps
them equal.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)
from pulumi_policy.secret import Secret

PACK_NAME = "cruddur-db-guardrails"

# Shared with components/settings.py (tests/policy keeps them equal).
DEFAULT_ALLOWED_REGIONS = ("eu-west-1", "eu-central-1")
RESERVED_USERNAMES = ("postgres", "root", "admin", "administrator", "rdsadmin", "rdsrepladmin", "master", "user")
PROD_MIN_BACKUP_DAYS = 7
RDS_LOG_EXPORTS = ("postgresql", "upgrade")
# Lambda runtimes that are current and more than a year from deprecation (policy config ``supportedRuntimes``
# overrides the list).
SUPPORTED_RUNTIMES = ("python3.12", "python3.13", "python3.14", "nodejs22.x", "nodejs24.x", "java21",
                      "provided.al2023")
GUARDDUTY_RDS_FEATURE = "RDS_LOGIN_EVENTS"

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SECRET = "aws:secretsmanager/secret:Secret"
KMS_KEY = "aws:kms/key:Key"
TRAIL = "aws:cloudtrail/trail:Trail"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
GUARDDUTY_DETECTOR = "aws:guardduty/detector:Detector"
GUARDDUTY_FEATURE = "aws:guardduty/detectorFeature:DetectorFeature"
LAMBDA_PERMISSION = "aws:lambda/permission:Permission"
LAMBDA_FUNCTION = "aws:lambda/function:Function"
AWS_PROVIDER = "pulumi:providers:aws"

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY


# -- reading props ------------------------------------------------------------------------------------------------
class _Unknown:
    """A value the engine does not know yet (preview). Never equal to anything, never a violation."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
_SENTINELS = frozenset({UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UNKNOWN_ARRAY_VALUE,
                        UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE, UNKNOWN_OBJECT_VALUE})


def plain(value: Any) -> Any:
    """``value`` (the engine's unknown-checking proxies, or plain data) as plain dicts/lists, unknowns as UNKNOWN."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, str):
        return UNKNOWN if value in _SENTINELS else value
    if isinstance(value, Mapping):
        out = {}
        for key in list(value):
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        items = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def known(value: Any) -> bool:
    return value is not UNKNOWN


def _json(value: Any) -> Any:
    """A JSON document given as a string (policies, provider config) parsed; UNKNOWN/None pass through."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _short(resource_type: str) -> str:
    """``aws:rds/instance:Instance`` -> ``rds Instance``, ``pulumi:providers:aws`` -> ``aws provider``."""
    if resource_type.startswith("pulumi:providers:"):
        return f"{resource_type.rsplit(':', 1)[1]} provider"
    try:
        module = resource_type.split(":")[1].split("/")[0]
        return f"{module} {resource_type.rsplit(':', 1)[1]}"
    except IndexError:
        return resource_type


def _config(args: Any) -> Mapping[str, Any]:
    getter = getattr(args, "get_config", None)
    return (getter() if getter else None) or {}


# -- which environment a resource or stack belongs to ------------------------------------------------------------
def environment_from_provider_props(props: Any) -> str | None:
    """The ``Environment`` default tag of an AWS provider's props (a JSON string or an object), if known."""
    props = plain(props) or {}
    default_tags = _json(props.get("defaultTags")) if isinstance(props, dict) else None
    if not isinstance(default_tags, dict):
        return None
    tags = default_tags.get("tags")
    tags = _json(tags)
    if not isinstance(tags, dict):
        return None
    value = tags.get("Environment")
    return value if isinstance(value, str) else None


def resource_environment(args: Any) -> str:
    """"dev" when the resource's provider is tagged Environment=dev; otherwise "prod" (the strict rules)."""
    provider = getattr(args, "provider", None)
    if provider is not None and environment_from_provider_props(provider.props) == "dev":
        return "dev"
    return "prod"


def stack_environment(args: Any) -> str:
    """"dev" when the stack's AWS providers are tagged Environment=dev (none says otherwise); else "prod"."""
    tagged = [environment_from_provider_props(r.props) for r in args.resources if r.resource_type == AWS_PROVIDER]
    tagged = [t for t in tagged if t is not None]
    return "dev" if tagged and all(t == "dev" for t in tagged) else "prod"


# -- resource validators ------------------------------------------------------------------------------------------
def _resource(args: Any, *types: str) -> tuple[str, dict] | None:
    """(label for messages, plain props) when ``args`` is one of ``types``; None otherwise."""
    if args.resource_type not in types:
        return None
    return f"{_short(args.resource_type)} '{args.name}'", plain(args.props) or {}


def rds_not_public(args) -> list[str]:
    found = _resource(args, RDS_INSTANCE)
    if not found:
        return []
    label, p = found
    if p.get("publiclyAccessible") is True:
        return [f"{label} is publicly accessible; set publicly_accessible=False (the database lives in private "
                "subnets; operators use the Instance Connect Endpoint)"]
    return []


def _aws_managed_key(key_id: Any) -> bool:
    return isinstance(key_id, str) and "alias/aws/" in key_id


def rds_encrypted_with_cmk(args) -> list[str]:
    found = _resource(args, RDS_INSTANCE)
    if not found:
        return []
    label, p = found
    problems = []
    encrypted = p.get("storageEncrypted")
    if known(encrypted) and encrypted is not True:
        problems.append(f"{label} has unencrypted storage; set storage_encrypted=True with the stack's KMS key")
    key = p.get("kmsKeyId")
    if known(key) and (not key or _aws_managed_key(key)):
        problems.append(f"{label} is not encrypted with a customer-managed KMS key (kms_key_id is "
                        f"{key or 'unset'}); set kms_key_id to the stack's CMK ARN")
    return problems


def rds_deletion_protection(args) -> list[str]:
    found = _resource(args, RDS_INSTANCE)
    if not found:
        return []
    label, p = found
    value = p.get("deletionProtection")
    if known(value) and value is not True:
        return [f"{label} has deletion protection off; set deletion_protection=True "
                "(cruddur-db:deletionProtection true)"]
    return []


def rds_backup_retention(args) -> list[str]:
    found = _resource(args, RDS_INSTANCE)
    if not found:
        return []
    label, p = found
    days = p.get("backupRetentionPeriod")
    if not known(days):
        return []
    days = int(days or 0)
    if days < PROD_MIN_BACKUP_DAYS:
        return [f"{label} keeps {days} day(s) of automated backups; set backup_retention_period >= "
                f"{PROD_MIN_BACKUP_DAYS} (cruddur-db:backupRetentionDays)"]
    return []


def rds_iam_auth(args) -> list[str]:
    found = _resource(args, RDS_INSTANCE)
    if not found:
        return []
    label, p = found
    value = p.get("iamDatabaseAuthenticationEnabled")
    if known(value) and value is not True:
        return [f"{label} has IAM database authentication off; set iam_database_authentication_enabled=True"]
    return []


def rds_log_exports(args) -> list[str]:
    found = _resource(args, RDS_INSTANCE)
    if not found:
        return []
    label, p = found
    exports = p.get("enabledCloudwatchLogsExports")
    if not known(exports):
        return []
    exports = [e for e in _as_list(exports) if known(e)]
    engine = p.get("engine")
    wanted = RDS_LOG_EXPORTS if engine in ("postgres", None) else ()
    missing = [e for e in wanted if e not in exports]
    if missing or not exports:
        return [f"{label} does not export its {', '.join(missing) or 'database'} log(s) to CloudWatch Logs; set "
                f"enabled_cloudwatch_logs_exports={list(wanted or ['<engine log>'])}"]
    return []


def rds_no_default_admin(args) -> list[str]:
    found = _resource(args, RDS_INSTANCE)
    if not found:
        return []
    label, p = found
    username = p.get("username")
    if isinstance(username, str) and username.lower() in RESERVED_USERNAMES:
        return [f"{label} uses the default admin name '{username}' attackers try first; set username to another "
                "name (cruddur-db:masterUsername, e.g. cruddur_admin)"]
    return []


def _world(cidr: Any) -> bool:
    if not isinstance(cidr, str):
        return False
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def sg_no_world_rules(args) -> list[str]:
    found = _resource(args, SECURITY_GROUP, DEFAULT_SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE,
                      SG_EGRESS_RULE)
    if not found:
        return []
    label, p = found
    rules: list[tuple[str, dict]] = []  # (direction, rule props)
    if args.resource_type in (SG_INGRESS_RULE, SG_EGRESS_RULE):
        rules.append(("ingress" if args.resource_type == SG_INGRESS_RULE else "egress", p))
    elif args.resource_type == SECURITY_GROUP_RULE:
        rules.append((p.get("type") if isinstance(p.get("type"), str) else "rule", p))
    else:
        for direction in ("ingress", "egress"):
            for rule in _as_list(p.get(direction)):
                if isinstance(rule, dict):
                    rules.append((direction, rule))
    problems = []
    for direction, rule in rules:
        cidrs = [rule.get("cidrIpv4"), rule.get("cidrIpv6"), *_as_list(rule.get("cidrBlocks")),
                 *_as_list(rule.get("ipv6CidrBlocks"))]
        for cidr in cidrs:
            if _world(cidr):
                problems.append(f"{label} has an {direction} rule open to {cidr}; allow a named security group "
                                "(referenced_security_group_id) or a specific range instead")
    return problems


def secrets_encrypted_with_cmk(args) -> list[str]:
    found = _resource(args, SECRET)
    if not found:
        return []
    label, p = found
    key = p.get("kmsKeyId")
    if known(key) and (not key or _aws_managed_key(key)):
        return [f"{label} is encrypted with the AWS-managed aws/secretsmanager key; set kms_key_id to the "
                "stack's customer-managed KMS key"]
    return []


def kms_rotation_enabled(args) -> list[str]:
    found = _resource(args, KMS_KEY)
    if not found:
        return []
    label, p = found
    spec = p.get("customerMasterKeySpec") or p.get("keySpec") or "SYMMETRIC_DEFAULT"
    if known(spec) and spec != "SYMMETRIC_DEFAULT":
        return []  # only symmetric encryption keys can rotate automatically
    rotation = p.get("enableKeyRotation")
    if known(rotation) and rotation is not True:
        return [f"{label} has automatic key rotation off; set enable_key_rotation=True"]
    return []


def cloudtrail_hardened(args) -> list[str]:
    found = _resource(args, TRAIL)
    if not found:
        return []
    label, p = found
    problems = []
    checks = [
        ("isMultiRegionTrail", False, "records one region only; set is_multi_region_trail=True"),
        ("includeGlobalServiceEvents", True, "skips global service events (IAM, STS); "
                                             "set include_global_service_events=True"),
        ("enableLogFileValidation", False, "has log file validation off; set enable_log_file_validation=True"),
    ]
    for key, default, why in checks:
        value = p.get(key, default)
        if known(value) and value is not True:
            problems.append(f"{label} {why}")
    key = p.get("kmsKeyId")
    if known(key) and not key:
        problems.append(f"{label} log files are not encrypted with a customer-managed KMS key; set kms_key_id")
    return problems


def public_access_fully_blocked(props: dict) -> list[str]:
    """The public-access settings of a BucketPublicAccessBlock that are not on (unknown ones are not reported)."""
    keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    return [k for k in keys if known(props.get(k)) and props.get(k) is not True]


def s3_public_access_blocked(args) -> list[str]:
    found = _resource(args, BUCKET_PUBLIC_ACCESS_BLOCK)
    if not found:
        return []
    label, p = found
    off = public_access_fully_blocked(p)
    if off:
        return [f"{label} leaves {', '.join(off)} off; set all four public-access blocks to True"]
    return []


def denies_insecure_transport(document: Any) -> bool | None:
    """Whether a bucket policy document denies every non-TLS request (None when it is not known yet)."""
    document = _json(document)
    if document is UNKNOWN or document is None:
        return None if document is UNKNOWN else False
    if not isinstance(document, dict):
        return False
    for statement in _as_list(document.get("Statement")):
        if not isinstance(statement, dict) or statement.get("Effect") != "Deny":
            continue
        actions = _as_list(statement.get("Action"))
        if not any(a in ("s3:*", "*") for a in actions):
            continue
        condition = (statement.get("Condition") or {}).get("Bool") or {}
        values = _as_list(condition.get("aws:SecureTransport"))
        if any(str(v).lower() == "false" for v in values):
            return True
    return False


def s3_bucket_policy_denies_insecure_transport(args) -> list[str]:
    found = _resource(args, BUCKET_POLICY)
    if not found:
        return []
    label, p = found
    if denies_insecure_transport(p.get("policy")) is False:
        return [f"{label} does not deny non-TLS requests; add a Deny of s3:* on the bucket and its objects "
                "when aws:SecureTransport is false"]
    return []


def lambda_permission_source_arn(args) -> list[str]:
    found = _resource(args, LAMBDA_PERMISSION)
    if not found:
        return []
    label, p = found
    source = p.get("sourceArn")
    if known(source) and not source:
        principal = p.get("principal")
        return [f"{label} lets {principal if known(principal) else 'its principal'} invoke the function from any "
                "source; set source_arn to the one resource that may invoke it"]
    return []


def lambda_supported_runtime(args) -> list[str]:
    found = _resource(args, LAMBDA_FUNCTION)
    if not found:
        return []
    label, p = found
    if p.get("packageType") == "Image":
        return []
    runtime = p.get("runtime")
    supported = tuple(_config(args).get("supportedRuntimes") or SUPPORTED_RUNTIMES)
    if known(runtime) and runtime not in supported:
        return [f"{label} runs {runtime or 'no runtime'}, which is not a supported Lambda runtime; "
                f"use one of {', '.join(supported)}"]
    return []


# -- stack validators ---------------------------------------------------------------------------------------------
def _of_type(args, typ: str) -> list[tuple[Any, dict]]:
    return [(r, plain(r.props) or {}) for r in args.resources if r.resource_type == typ]


def rds_tls_parameter_group(args) -> list[str]:
    """Each RDS instance links a parameter group declared in this stack that sets rds.force_ssl=1."""
    groups = _of_type(args, RDS_PARAMETER_GROUP)
    problems = []
    for instance, p in _of_type(args, RDS_INSTANCE):
        label = f"rds Instance '{instance.name}'"
        linked = p.get("parameterGroupName")
        if not known(linked):
            continue
        if not linked:
            problems.append(f"{label} uses the engine's default parameter group; link a parameter group that "
                            "sets rds.force_ssl=1 (parameter_group_name)")
            continue
        matching = [(g, gp) for g, gp in groups if gp.get("name") == linked]
        if not matching:
            if any(not known(gp.get("name")) for _, gp in groups):
                continue  # a group whose name is not known yet may be the linked one
            problems.append(f"{label} links parameter group '{linked}', which this stack does not declare; declare "
                            "it here with rds.force_ssl=1 so TLS is enforced by code")
            continue
        for group, gp in matching:
            parameters = gp.get("parameters")
            if not known(parameters):
                continue
            values = {prm.get("name"): prm.get("value") for prm in _as_list(parameters) if isinstance(prm, dict)}
            if values.get("rds.force_ssl") is UNKNOWN or UNKNOWN in values or UNKNOWN in _as_list(parameters):
                continue
            if str(values.get("rds.force_ssl")) != "1":
                problems.append(f"{label} links parameter group '{group.name}' without rds.force_ssl=1; add "
                                "{name: rds.force_ssl, value: '1'} so the server refuses non-TLS connections")
    return problems


def _for_bucket(resources: list[tuple[Any, dict]], bucket: str) -> tuple[list[dict], bool]:
    """(props of the resources whose ``bucket`` is ``bucket``, whether some resource's bucket is not known yet)."""
    definite = [p for _, p in resources if p.get("bucket") == bucket]
    maybe = any(not known(p.get("bucket")) for _, p in resources)
    return definite, maybe


def cloudtrail_bucket_protected(args) -> list[str]:
    """Each trail's bucket has all four public-access blocks and a bucket policy denying non-TLS requests."""
    blocks = _of_type(args, BUCKET_PUBLIC_ACCESS_BLOCK)
    policies = _of_type(args, BUCKET_POLICY)
    problems = []
    for trail, p in _of_type(args, TRAIL):
        bucket = p.get("s3BucketName")
        if not known(bucket) or not bucket:
            continue
        label = f"cloudtrail Trail '{trail.name}' bucket '{bucket}'"
        mine, maybe = _for_bucket(blocks, bucket)
        if not mine and not maybe:
            problems.append(f"{label} has no public-access block in this stack; declare an "
                            "aws.s3.BucketPublicAccessBlock with all four settings True")
        elif mine and all(public_access_fully_blocked(bp) for bp in mine) and not maybe:
            off = public_access_fully_blocked(mine[0])
            problems.append(f"{label} leaves {', '.join(off)} off; set all four public-access blocks to True")
        mine, maybe = _for_bucket(policies, bucket)
        if not mine and not maybe:
            problems.append(f"{label} has no bucket policy in this stack; declare one that denies requests "
                            "without TLS (aws:SecureTransport=false)")
        elif mine and all(denies_insecure_transport(pp.get("policy")) is False for pp in mine) and not maybe:
            problems.append(f"{label} policy does not deny non-TLS requests; add a Deny of s3:* when "
                            "aws:SecureTransport is false")
    return problems


def cloudtrail_bucket_retained(args) -> list[str]:
    """A trail's bucket is never force-destroyable (its log files are the evidence)."""
    trail_buckets = {p.get("s3BucketName") for _, p in _of_type(args, TRAIL)}
    problems = []
    for bucket, p in _of_type(args, BUCKET):
        name = p.get("bucket")
        if known(name) and name in trail_buckets and p.get("forceDestroy") is True:
            problems.append(f"s3 Bucket '{bucket.name}' holds CloudTrail log files and has force_destroy on; set "
                            "force_destroy=False (cruddur-db:trailBucketForceDestroy false)")
    return problems


def audit_trail_present(args) -> list[str]:
    if not _of_type(args, TRAIL):
        return ["the stack declares no CloudTrail trail; compose components.audit.Audit with "
                "cruddur-db:auditTrail true"]
    return []


def guardduty_rds_protection(args) -> list[str]:
    """A GuardDuty detector (created here or adopted by id) with RDS Protection enabled."""
    detectors = _of_type(args, GUARDDUTY_DETECTOR)
    features = [(f, p) for f, p in _of_type(args, GUARDDUTY_FEATURE)
                if p.get("name") == GUARDDUTY_RDS_FEATURE or not known(p.get("name"))]
    problems = []
    for detector, p in detectors:
        if p.get("enable") is False:
            problems.append(f"guardduty Detector '{detector.name}' is disabled; set enable=True")
    enabled = []
    for feature, p in features:
        status = p.get("status")
        detector_id = p.get("detectorId")
        if known(status) and status != "ENABLED":
            problems.append(f"guardduty DetectorFeature '{feature.name}' ({GUARDDUTY_RDS_FEATURE}) is {status}; "
                            "set status='ENABLED'")
        elif known(detector_id) and not detector_id:
            problems.append(f"guardduty DetectorFeature '{feature.name}' names no detector; set detector_id to the "
                            "detector's id (or cruddur-db:guardDutyDetectorId to adopt one)")
        else:
            enabled.append(feature)
    if not enabled and not problems:
        problems.append("the stack enables no GuardDuty RDS Protection; declare an aws.guardduty.DetectorFeature "
                        f"{GUARDDUTY_RDS_FEATURE} ENABLED on a detector created here or adopted "
                        "(cruddur-db:guardDuty true, optionally cruddur-db:guardDutyDetectorId)")
    return problems


def region_allowed(args) -> list[str]:
    allowed = tuple(_config(args).get("allowedRegions") or DEFAULT_ALLOWED_REGIONS)
    problems = []
    for resource in args.resources:
        p = plain(resource.props) or {}
        if not isinstance(p, dict):
            continue
        region = p.get("region")
        if resource.resource_type == AWS_PROVIDER and region is None:
            problems.append(f"aws provider '{resource.name}' pins no region; set region (aws:region in the stack "
                            "file) to one of " + ", ".join(allowed))
        elif isinstance(region, str) and region not in allowed:
            problems.append(f"{_short(resource.resource_type)} '{resource.name}' is in {region}, outside the "
                            f"allowed regions ({', '.join(allowed)}); data must stay in them")
    return problems


# -- the policies -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    validate: Callable[[Any], list[str]]
    kind: str  # "resource" or "stack"
    enforcement: EnforcementLevel
    types: tuple[str, ...] = ()  # resource rules: the types they look at (a stack without any: not applicable)
    environments: tuple[str, ...] = ("dev", "prod")
    config: dict | None = None  # JSON-schema properties of the policy's config (defaults included)

    def applies_to(self, environment: str) -> bool:
        return environment in self.environments

    def run(self, args) -> list[str]:
        """The violations for ``args``, or none where the rule does not apply to the stack's environment."""
        environment = resource_environment(args) if self.kind == "resource" else stack_environment(args)
        if not self.applies_to(environment):
            return []
        return list(self.validate(args))


def _both(name: str, kind: str, validate: Callable, description: str, dev_reason: str,
          types: tuple[str, ...] = ()) -> list[Rule]:
    """A prod-only practice: MANDATORY on prod stacks, ADVISORY on dev stacks (which may differ, for a reason)."""
    return [
        Rule(name, f"{description} (prod stacks; dev stacks: {name}-dev)", validate, kind, MANDATORY, types,
             ("prod",)),
        Rule(f"{name}-dev", f"{description} - advisory on dev stacks: {dev_reason}", validate, kind, ADVISORY,
             types, ("dev",)),
    ]


RULES: list[Rule] = [
    Rule("rds-not-public", "RDS instances are never publicly accessible.", rds_not_public, "resource",
         MANDATORY, (RDS_INSTANCE,)),
    Rule("rds-encrypted-with-cmk", "RDS storage is encrypted with a customer-managed KMS key.",
         rds_encrypted_with_cmk, "resource", MANDATORY, (RDS_INSTANCE,)),
    *_both("rds-deletion-protection", "resource", rds_deletion_protection,
           "RDS instances have deletion protection on.",
           "a dev stack may turn it off to be decommissioned (cruddur-db:deletionProtection).", (RDS_INSTANCE,)),
    *_both("rds-backup-retention", "resource", rds_backup_retention,
           f"RDS instances keep at least {PROD_MIN_BACKUP_DAYS} days of automated backups.",
           "dev data is throwaway seed data, so a dev stack may keep fewer days to save cost.", (RDS_INSTANCE,)),
    Rule("rds-iam-auth", "RDS instances have IAM database authentication on.", rds_iam_auth, "resource",
         MANDATORY, (RDS_INSTANCE,)),
    Rule("rds-tls-enforced", "Each RDS instance links a parameter group of this stack that forces TLS "
         "(rds.force_ssl=1).", rds_tls_parameter_group, "stack", MANDATORY, (RDS_INSTANCE,)),
    Rule("rds-log-exports", "RDS instances export their PostgreSQL and upgrade logs to CloudWatch Logs.",
         rds_log_exports, "resource", MANDATORY, (RDS_INSTANCE,)),
    Rule("rds-no-default-admin-username", "RDS master users never have a default admin name (postgres, root, "
         "admin...).", rds_no_default_admin, "resource", MANDATORY, (RDS_INSTANCE,)),
    Rule("sg-no-world-open-rules", "No security-group rule, ingress or egress, is open to 0.0.0.0/0 or ::/0.",
         sg_no_world_rules, "resource", MANDATORY,
         (SECURITY_GROUP, DEFAULT_SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE, SG_EGRESS_RULE)),
    Rule("secrets-encrypted-with-cmk", "Secrets Manager secrets are encrypted with a customer-managed KMS key.",
         secrets_encrypted_with_cmk, "resource", MANDATORY, (SECRET,)),
    Rule("kms-rotation-enabled", "Symmetric KMS keys rotate automatically.", kms_rotation_enabled, "resource",
         MANDATORY, (KMS_KEY,)),
    Rule("cloudtrail-hardened", "CloudTrail trails are multi-region, include global service events, validate "
         "their log files and are encrypted with a customer-managed KMS key.", cloudtrail_hardened, "resource",
         MANDATORY, (TRAIL,)),
    *_both("audit-trail-present", "stack", audit_trail_present, "The stack declares its CloudTrail trail.",
           "a dev stack may switch its trail off where the account is already audited by another trail "
           "(cruddur-db:auditTrail).", ()),
    Rule("cloudtrail-bucket-protected", "Each trail's S3 bucket blocks all public access and denies non-TLS "
         "requests.", cloudtrail_bucket_protected, "stack", MANDATORY, (TRAIL,)),
    *_both("cloudtrail-bucket-retained", "stack", cloudtrail_bucket_retained,
           "A trail's S3 bucket is never force-destroyable.",
           "a dev stack may let `pulumi destroy` empty its trail bucket (cruddur-db:trailBucketForceDestroy).",
           (TRAIL,)),
    Rule("s3-public-access-blocked", "S3 public-access blocks set all four settings.", s3_public_access_blocked,
         "resource", MANDATORY, (BUCKET_PUBLIC_ACCESS_BLOCK,)),
    Rule("s3-bucket-policy-denies-insecure-transport", "S3 bucket policies deny requests without TLS.",
         s3_bucket_policy_denies_insecure_transport, "resource", MANDATORY, (BUCKET_POLICY,)),
    *_both("guardduty-rds-protection", "stack", guardduty_rds_protection,
           "A GuardDuty detector (created here or adopted by id) has RDS Protection (RDS_LOGIN_EVENTS) enabled.",
           "a dev stack may switch GuardDuty off, e.g. where the organization's delegated administrator manages "
           "it (cruddur-db:guardDuty).", ()),
    Rule("region-allowed", "Every AWS provider and resource is in an allowed region (data residency; policy "
         f"config allowedRegions, default {', '.join(DEFAULT_ALLOWED_REGIONS)}).", region_allowed, "stack",
         MANDATORY, (), config={"allowedRegions": {"type": "array", "items": {"type": "string"},
                                                   "default": list(DEFAULT_ALLOWED_REGIONS)}}),
    Rule("lambda-permission-source-arn", "Lambda permissions name the one source (source_arn) that may invoke.",
         lambda_permission_source_arn, "resource", MANDATORY, (LAMBDA_PERMISSION,)),
    Rule("lambda-supported-runtime", "Lambda functions run a supported runtime (policy config supportedRuntimes, "
         f"default {', '.join(SUPPORTED_RUNTIMES)}).", lambda_supported_runtime, "resource", MANDATORY,
         (LAMBDA_FUNCTION,), config={"supportedRuntimes": {"type": "array", "items": {"type": "string"},
                                                           "default": list(SUPPORTED_RUNTIMES)}}),
]


def rule(name: str) -> Rule:
    return next(r for r in RULES if r.name == name)


def _reporter(r: Rule):
    def validate(args, report_violation) -> None:
        for message in r.run(args):
            report_violation(message, None)
    return validate


def build_policies() -> list:
    """Every rule as a CrossGuard policy with its enforcement level."""
    policies = []
    for r in RULES:
        cls = ResourceValidationPolicy if r.kind == "resource" else StackValidationPolicy
        schema = PolicyConfigSchema(properties=r.config) if r.config else None
        policies.append(cls(name=r.name, description=r.description, validate=_reporter(r),
                            enforcement_level=r.enforcement, config_schema=schema))
    return policies
