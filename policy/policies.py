"""The cruddur-db guardrails: one CrossGuard policy per practice, as plain, unit-testable validators.

Each rule names its resource types ONCE, in its registration, and the pack dispatches on them:

- ``@resource_rule(name, types=..., description=..., practices=...)`` registers ``validate(subject) -> list[str]``
  (the violation messages, empty when compliant). It is called only for resources of those types, with a
  ``Subject``: ``label`` ("rds Instance 'db-instance'", the start of every message), ``props`` (the resource's
  inputs with the provider's camelCase names, as plain data), ``type``, ``name``, ``config`` and the engine's
  ``args`` (``pulumi_policy.ResourceValidationArgs``);
- ``@stack_rule(name, description=..., practices=..., types=...)`` registers ``validate(args) -> list[str]`` on a
  ``pulumi_policy.StackValidationArgs`` (``resources``: ``PolicyResource`` objects whose ``props`` are the
  resources' outputs); ``types`` there only says when the rule is not applicable (none of them in the stack).

``prod_only=True`` (with ``dev_reason=``) registers a prod-only practice as two policies sharing one validator:
``<name>`` (MANDATORY, prod stacks) and ``<name>-dev`` (ADVISORY, dev stacks, the reason in its description);
with ``dev_advisory=False`` only the prod policy (the reason in its description): for what dev leaves off by design
(``protect``, the final snapshot), where an advisory would only repeat the stack file.
``RULES`` lists every policy in registration order; ``build_policies()`` wraps each in a
``ResourceValidationPolicy``/``StackValidationPolicy`` for ``__main__.py``'s ``PolicyPack``, and ``cruddur plan``
runs the same rules offline on the resources the mocks recorded. ``PRACTICES`` says which of the project's
security practices each rule enforces, next to what ``components/settings.py`` enforces (``practices_table()``,
the README's table).

Which stacks are dev: a stack is dev only when BOTH its name is not production-looking under the one rule of
``components/stack_names.py`` (``is_production_stack_name``: ``prod``, ``Prod``, ``eu-prod``, ``prodlike``,
``live``, ``prd``... are production-looking) AND its AWS provider's default tags say ``Environment: dev``. The
stack name is read from the resources' URNs (``urn:pulumi:<stack>::<project>::...``), which the engine writes and a
program cannot choose; a program can set its own tags, so tags alone never relax a rule on a production-looking
stack. Without a readable URN the tags decide, as before; without either, the stack is prod.

Unknown values (during ``pulumi preview`` a property computed from another resource's output is not known yet)
are never violations: props are read through ``plain()``, which turns the engine's unknown markers into
``UNKNOWN``, and every check skips what it cannot know. Odd shapes (a JSON policy that does not parse, a
``Condition`` that is a list, a number given as a string) never crash a validator.

This module must stay importable on its own (the pack runs in its own virtualenv): it imports only the standard
library, ``pulumi_policy`` and the pack's own ``cidrs.py`` and ``stack_names.py`` (byte-identical copies of
``components/cidrs.py`` and ``components/stack_names.py``); constants shared with ``components/settings.py`` are
repeated here and tests/policy keeps all of them equal.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cidrs import MAX_SHARE_TEXT, percent, too_wide
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
from stack_names import is_production_stack_name

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
# The Cognito user pool's password policy floor (components/confirmation.py sets at least this).
COGNITO_MIN_PASSWORD_LENGTH = 12
COGNITO_MAX_TEMPORARY_PASSWORD_DAYS = 7

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
RDS_CLUSTER_PARAMETER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
RDS_SNAPSHOT = "aws:rds/snapshot:Snapshot"
RDS_SNAPSHOT_COPY = "aws:rds/snapshotCopy:SnapshotCopy"
RDS_CLUSTER_SNAPSHOT = "aws:rds/clusterSnapshot:ClusterSnapshot"
RDS_PROXY = "aws:rds/proxy:Proxy"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
MANAGED_PREFIX_LIST = "aws:ec2/managedPrefixList:ManagedPrefixList"
SECRET = "aws:secretsmanager/secret:Secret"  # noqa: S105 - a type token, not a password
SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"  # noqa: S105 - a type token, not a password
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"  # noqa: S105 - a type token, not a password
SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"  # noqa: S105 - a type token, not a password
COGNITO_USER_POOL = "aws:cognito/userPool:UserPool"
KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
TRAIL = "aws:cloudtrail/trail:Trail"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_ACL = "aws:s3/bucketAcl:BucketAcl"
BUCKET_ACL_V2 = "aws:s3/bucketAclV2:BucketAclV2"
BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ACCOUNT_PUBLIC_ACCESS_BLOCK = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_V2 = "aws:s3/bucketV2:BucketV2"  # v7: the deprecated alias of Bucket (inline `loggings` list)
BUCKET_LOGGING = "aws:s3/bucketLogging:BucketLogging"
BUCKET_LOGGING_V2 = "aws:s3/bucketLoggingV2:BucketLoggingV2"  # v7: the deprecated alias of BucketLogging
GUARDDUTY_DETECTOR = "aws:guardduty/detector:Detector"
GUARDDUTY_FEATURE = "aws:guardduty/detectorFeature:DetectorFeature"
LAMBDA_PERMISSION = "aws:lambda/permission:Permission"
LAMBDA_FUNCTION = "aws:lambda/function:Function"
LAMBDA_FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
LAMBDA_CODE_SIGNING_CONFIG = "aws:lambda/codeSigningConfig:CodeSigningConfig"
SNS_TOPIC = "aws:sns/topic:Topic"
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


def _truthy(value: Any) -> bool:
    """Whether a known value means "on": ``True``, ``"true"`` (any case), ``1``, ``"1"``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in ("true", "1")


def _number(value: Any) -> float | None:
    """A number given as a number or a numeric string (``7``, ``"7.0"``); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _has_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_unknown(v) for v in value)
    return False


# -- which environment a resource or stack belongs to ------------------------------------------------------------
def stack_name_from_urn(urn: Any) -> str | None:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` -> ``<stack>`` (None when ``urn`` is not a Pulumi URN)."""
    prefix = "urn:pulumi:"
    if not isinstance(urn, str) or not urn.startswith(prefix):
        return None
    stack, separator, _ = urn[len(prefix):].partition("::")
    return stack if separator and stack else None


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


def _judged(stack_names: list[str], tagged_dev: bool) -> str:
    """A production-looking stack name is prod whatever the tags; otherwise the tags decide (dev only if they say)."""
    if any(is_production_stack_name(name) for name in stack_names):
        return "prod"
    return "dev" if tagged_dev else "prod"


def resource_environment(args: Any) -> str:
    """"dev" when the stack's name is not production-looking and the resource's provider is tagged
    Environment=dev; otherwise "prod" (the strict rules)."""
    name = stack_name_from_urn(getattr(args, "urn", None))
    provider = getattr(args, "provider", None)
    tagged_dev = provider is not None and environment_from_provider_props(provider.props) == "dev"
    return _judged([name] if name else [], tagged_dev)


def stack_environment(args: Any) -> str:
    """"dev" when no resource's stack name is production-looking and the stack's AWS providers are tagged
    Environment=dev (none says otherwise); else "prod"."""
    names = sorted({n for r in args.resources if (n := stack_name_from_urn(getattr(r, "urn", None)))})
    tagged = [environment_from_provider_props(r.props) for r in args.resources if r.resource_type == AWS_PROVIDER]
    tagged = [t for t in tagged if t is not None]
    return _judged(names, bool(tagged) and all(t == "dev" for t in tagged))


# -- the registry -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Subject:
    """What a resource rule's validator sees: one resource of one of the rule's types."""
    type: str
    name: str
    props: dict
    args: Any

    @property
    def label(self) -> str:
        return f"{_short(self.type)} '{self.name}'"

    @property
    def config(self) -> Mapping[str, Any]:
        return _config(self.args)


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    validate: Callable[[Any], list[str]]
    kind: str  # "resource" or "stack"
    enforcement: EnforcementLevel
    types: tuple[str, ...] = ()  # resource rules: the types dispatched to; stack rules: not applicable without any
    environments: tuple[str, ...] = ("dev", "prod")
    config: dict | None = None  # JSON-schema properties of the policy's config (defaults included)
    practices: tuple[str, ...] = ()  # keys of PRACTICES

    def applies_to(self, environment: str) -> bool:
        return environment in self.environments

    def run(self, args) -> list[str]:
        """The violations for ``args``: none where the rule does not apply (environment, resource type)."""
        if self.kind == "resource":
            if args.resource_type not in self.types or not self.applies_to(resource_environment(args)):
                return []
            props = plain(args.props)
            if not isinstance(props, dict):
                return []
            return list(self.validate(Subject(args.resource_type, args.name, props, args)))
        if not self.applies_to(stack_environment(args)):
            return []
        return list(self.validate(args))


RULES: list[Rule] = []


def _register(kind: str, name: str, description: str, practices: tuple[str, ...], types: tuple[str, ...],
              prod_only: bool, dev_reason: str, config: dict | None, dev_advisory: bool = True) -> Callable:
    if kind == "resource" and not types:
        raise ValueError(f"resource rule {name} names no resource types")
    if prod_only != bool(dev_reason):
        raise ValueError(f"rule {name}: a prod-only rule says why dev may differ (dev_reason), and only it")
    unknown = [p for p in practices if p not in PRACTICES]
    if not practices or unknown:
        raise ValueError(f"rule {name}: practices {unknown or '(none)'} are not keys of PRACTICES")

    def register(validate: Callable) -> Callable:
        common = dict(validate=validate, kind=kind, types=tuple(types), config=config, practices=tuple(practices))
        if prod_only and not dev_advisory:
            RULES.append(Rule(name, f"{description} (prod stacks only: {dev_reason})", enforcement=MANDATORY,
                              environments=("prod",), **common))
        elif prod_only:
            RULES.append(Rule(name, f"{description} (prod stacks; dev stacks: {name}-dev)", enforcement=MANDATORY,
                              environments=("prod",), **common))
            RULES.append(Rule(f"{name}-dev", f"{description} - advisory on dev stacks: {dev_reason}",
                              enforcement=ADVISORY, environments=("dev",), **common))
        else:
            RULES.append(Rule(name, description, enforcement=MANDATORY, **common))
        return validate
    return register


def resource_rule(name: str, *, types: Sequence[str], description: str, practices: Sequence[str],
                  prod_only: bool = False, dev_reason: str = "", config: dict | None = None,
                  dev_advisory: bool = True) -> Callable:
    """Register ``validate(subject) -> messages`` for resources of ``types`` (MANDATORY; see ``prod_only``)."""
    return _register("resource", name, description, tuple(practices), tuple(types), prod_only, dev_reason, config,
                     dev_advisory)


def stack_rule(name: str, *, description: str, practices: Sequence[str], types: Sequence[str] = (),
               prod_only: bool = False, dev_reason: str = "", config: dict | None = None,
               dev_advisory: bool = True) -> Callable:
    """Register ``validate(stack_args) -> messages`` (MANDATORY; see ``prod_only``)."""
    return _register("stack", name, description, tuple(practices), tuple(types), prod_only, dev_reason, config,
                     dev_advisory)


# -- what the settings enforce, what the pack enforces ----------------------------------------------------------
@dataclass(frozen=True)
class Practice:
    title: str
    settings: tuple[str, ...]  # keys of components/settings.py that enforce it (a failing config names them)
    settings_note: str = ""


PRACTICES: dict[str, Practice] = {
    "region": Practice("region pinning / data residency", ("allowedRegions",),
                       "`aws:region` must be set and in `allowedRegions`"),
    "encryption-at-rest": Practice("encryption at rest", ("storageEncrypted",), "must be true on every stack"),
    "encryption-in-transit": Practice("encryption in transit (TLS)", (), ""),
    "no-public-access": Practice("no public access", ("publiclyAccessible",), "must be false on every stack"),
    "deletion-protection": Practice("deletion protection", ("deletionProtection", "skipFinalSnapshot",
                                                            "trailBucketForceDestroy", "protectStatefulResources"),
                                    "prod may not turn them off"),
    "audit-trail": Practice("audit trail", ("auditTrail", "trailLogRetentionDays", "trailBucketExpireDays",
                                            "logRetentionDays"),
                            "prod keeps its trail and minimum retentions"),
    "guardduty": Practice("GuardDuty", ("guardDuty", "guardDutyDetectorId"), "prod keeps it on"),
    "no-world-open": Practice("no 0.0.0.0/0", ("operatorCidrs",), "no range that opens the whole internet"),
    "secrets": Practice("secrets in Secrets Manager", ("masterPasswordRotationDays", "appPasswordRotationDays"),
                        "prod rotates both at least every 90 days"),
    "least-privilege": Practice("least privilege", (), ""),
    "strong-auth": Practice("strong auth (IAM auth / scram / Cognito password policy)", ("masterUsername",),
                            "no default admin name"),
    "disposal": Practice("disposing of unused databases", ("deletionProtection", "skipFinalSnapshot"),
                         "only a dev stack may drop its protections to be decommissioned"),
    "patched-runtimes": Practice("supported runtimes and engines", ("engineVersion",),
                                 "a supported PostgreSQL major version"),
    "signed-code": Practice("signed code (Lambda code signing, enforced)", (), ""),
    "safe-upgrades": Practice("major engine upgrades that keep the database", ("upgradeFromEngineVersion",),
                              "one major up at a time, never down; blue/green only while it is set"),
}


def practices_table() -> str:
    """The README's table: each security practice, what the settings and the pack enforce, and by what."""
    lines = ["| practice | settings (`components/settings.py`) | policy pack | enforced by |",
             "| --- | --- | --- | --- |"]
    for key, practice in PRACTICES.items():
        rules = [r.name for r in RULES if key in r.practices and r.enforcement == MANDATORY]
        settings = ", ".join(f"`{k}`" for k in practice.settings)
        if practice.settings_note:
            settings = f"{settings} ({practice.settings_note})" if settings else practice.settings_note
        by = {(True, True): "both", (True, False): "settings", (False, True): "pack",
              (False, False): "neither (code only)"}[(bool(practice.settings), bool(rules))]
        pack = ", ".join(f"`{r}`" for r in rules)
        lines.append(f"| {practice.title} | {settings or '-'} | {pack or '-'} | {by} |")
    return "\n".join(lines) + "\n"


# -- RDS ----------------------------------------------------------------------------------------------------------
def _aws_managed_key(key_id: Any) -> bool:
    return isinstance(key_id, str) and "alias/aws/" in key_id


@resource_rule("rds-not-public", types=(RDS_INSTANCE, RDS_CLUSTER, RDS_CLUSTER_INSTANCE),
               description="RDS instances, clusters and cluster instances are never publicly accessible.",
               practices=("no-public-access",))
def rds_not_public(r: Subject) -> list[str]:
    value = r.props.get("publiclyAccessible")
    if known(value) and _truthy(value):
        return [f"{r.label} is publicly accessible; set publicly_accessible=False (the database lives in private "
                "subnets; operators use the Instance Connect Endpoint)"]
    return []


@resource_rule("rds-encrypted-with-cmk", types=(RDS_INSTANCE, RDS_CLUSTER),
               description="RDS storage (instances and clusters) is encrypted with a customer-managed KMS key.",
               practices=("encryption-at-rest",))
def rds_encrypted_with_cmk(r: Subject) -> list[str]:
    problems = []
    encrypted = r.props.get("storageEncrypted")
    if known(encrypted) and not _truthy(encrypted):
        problems.append(f"{r.label} has unencrypted storage; set storage_encrypted=True with the stack's KMS key")
    key = r.props.get("kmsKeyId")
    if known(key) and (not key or _aws_managed_key(key)):
        problems.append(f"{r.label} is not encrypted with a customer-managed KMS key (kms_key_id is "
                        f"{key or 'unset'}); set kms_key_id to the stack's CMK ARN")
    return problems


def _switched_off(value: Any) -> bool:
    return known(value) and not _truthy(value)


@resource_rule("rds-deletion-protection", types=(RDS_INSTANCE, RDS_CLUSTER),
               description="RDS instances and clusters have deletion protection on.",
               practices=("deletion-protection",), prod_only=True,
               dev_reason="a dev stack may turn it off to be decommissioned (cruddur-db:deletionProtection).")
def rds_deletion_protection(r: Subject) -> list[str]:
    if _switched_off(r.props.get("deletionProtection")):
        return [f"{r.label} has deletion protection off; set deletion_protection=True "
                "(cruddur-db:deletionProtection true)"]
    return []


_BACKUP_DEFAULT_DAYS = {RDS_INSTANCE: 0, RDS_CLUSTER: 1}  # what AWS keeps when the property is unset


@resource_rule("rds-backup-retention", types=(RDS_INSTANCE, RDS_CLUSTER),
               description=f"RDS instances and clusters keep at least {PROD_MIN_BACKUP_DAYS} days of automated "
                           "backups.",
               practices=("deletion-protection",), prod_only=True,
               dev_reason="dev data is throwaway seed data, so a dev stack may keep fewer days to save cost.")
def rds_backup_retention(r: Subject) -> list[str]:
    raw = r.props.get("backupRetentionPeriod")
    if not known(raw):
        return []
    fix = f"set backup_retention_period >= {PROD_MIN_BACKUP_DAYS} (cruddur-db:backupRetentionDays)"
    days = _BACKUP_DEFAULT_DAYS[r.type] if raw is None else _number(raw)
    if days is None:
        return [f"{r.label} has backup_retention_period {raw!r}, which is not a number of days; {fix}"]
    if days < PROD_MIN_BACKUP_DAYS:
        shown = int(days) if float(days).is_integer() else days
        return [f"{r.label} keeps {shown} day(s) of automated backups; {fix}"]
    return []


FINAL_SNAPSHOT_FIX = ("set skip_final_snapshot=False and a final_snapshot_identifier that is new for each instance "
                      "(components/database.py: <identifier>-final-<RandomId>)")


@resource_rule("rds-final-snapshot", types=(RDS_INSTANCE,),
               description="RDS instances keep a final snapshot when deleted or replaced (skip_final_snapshot false, "
                           "a final_snapshot_identifier that is not the fixed <identifier> or <identifier>-final).",
               practices=("deletion-protection",), prod_only=True, dev_advisory=False,
               dev_reason="a dev stack may skip it to be torn down (cruddur-db:skipFinalSnapshot)")
def rds_final_snapshot(r: Subject) -> list[str]:
    skip = r.props.get("skipFinalSnapshot", False)  # AWS's default is false; the provider's too
    if known(skip) and _truthy(skip):
        return [f"{r.label} skips its final snapshot; {FINAL_SNAPSHOT_FIX} (cruddur-db:skipFinalSnapshot false)"]
    name = r.props.get("finalSnapshotIdentifier")
    if not known(name):
        return []
    if not name:
        return [f"{r.label} has no final_snapshot_identifier, so RDS refuses to delete or replace it with a final "
                f"snapshot; {FINAL_SNAPSHOT_FIX}"]
    identifier = r.props.get("identifier")
    if isinstance(identifier, str) and identifier and name in (identifier, f"{identifier}-final"):
        return [f"{r.label} names its final snapshot '{name}', which the next teardown or replacement would "
                f"collide with; {FINAL_SNAPSHOT_FIX}"]
    return []


def _blue_green_enabled(value: Any) -> Any:
    """``blue_green_update.enabled``: True/False, or UNKNOWN when not known yet."""
    if not known(value):
        return UNKNOWN
    if not isinstance(value, dict):
        return False
    enabled = value.get("enabled", False)
    return enabled if not known(enabled) else _truthy(enabled)


@resource_rule("rds-major-upgrade-blue-green", types=(RDS_INSTANCE,),
               description="An RDS instance allows a major-version upgrade only through a blue/green deployment "
                           "(allow_major_version_upgrade needs blue_green_update.enabled).",
               practices=("safe-upgrades",))
def rds_major_upgrade_blue_green(r: Subject) -> list[str]:
    allow = r.props.get("allowMajorVersionUpgrade")
    if not known(allow) or not _truthy(allow):
        return []
    enabled = _blue_green_enabled(r.props.get("blueGreenUpdate"))
    if enabled is UNKNOWN or enabled:
        return []
    return [f"{r.label} allows a major-version upgrade in place (allow_major_version_upgrade without "
            "blue_green_update.enabled); set blue_green_update={'enabled': True} so RDS upgrades a green copy and "
            "switches over (cruddur-db:upgradeFromEngineVersion, runbooks/upgrade-major.md)"]


@resource_rule("rds-iam-auth", types=(RDS_INSTANCE, RDS_CLUSTER),
               description="RDS instances and clusters have IAM database authentication on.",
               practices=("strong-auth",))
def rds_iam_auth(r: Subject) -> list[str]:
    if _switched_off(r.props.get("iamDatabaseAuthenticationEnabled")):
        return [f"{r.label} has IAM database authentication off; set iam_database_authentication_enabled=True"]
    return []


@resource_rule("rds-log-exports", types=(RDS_INSTANCE,),
               description="RDS instances export their PostgreSQL and upgrade logs to CloudWatch Logs.",
               practices=("audit-trail",))
def rds_log_exports(r: Subject) -> list[str]:
    exports = r.props.get("enabledCloudwatchLogsExports")
    if not known(exports):
        return []
    exports = [e for e in _as_list(exports) if known(e)]
    engine = r.props.get("engine")
    wanted = RDS_LOG_EXPORTS if engine in ("postgres", None) else ()
    missing = [e for e in wanted if e not in exports]
    if missing or not exports:
        return [f"{r.label} does not export its {', '.join(missing) or 'database'} log(s) to CloudWatch Logs; set "
                f"enabled_cloudwatch_logs_exports={list(wanted or ['<engine log>'])}"]
    return []


@resource_rule("rds-no-default-admin-username", types=(RDS_INSTANCE, RDS_CLUSTER),
               description="RDS master users never have a default admin name (postgres, root, admin...).",
               practices=("strong-auth",))
def rds_no_default_admin(r: Subject) -> list[str]:
    username = r.props.get("masterUsername" if r.type == RDS_CLUSTER else "username")
    if isinstance(username, str) and username.lower() in RESERVED_USERNAMES:
        return [f"{r.label} uses the default admin name '{username}' attackers try first; set username to another "
                "name (cruddur-db:masterUsername, e.g. cruddur_admin)"]
    return []


@resource_rule("rds-snapshot-not-public", types=(RDS_SNAPSHOT, RDS_SNAPSHOT_COPY, RDS_CLUSTER_SNAPSHOT),
               description="RDS snapshots (instance, copied, cluster) are never shared with every AWS account.",
               practices=("no-public-access",))
def rds_snapshot_not_public(r: Subject) -> list[str]:
    shared = r.props.get("sharedAccounts")
    if known(shared) and any(isinstance(a, str) and a.strip().lower() == "all" for a in _as_list(shared)):
        return [f"{r.label} is shared with every AWS account (shared_accounts contains 'all'); share it with named "
                "account ids only"]
    return []


@resource_rule("rds-proxy-requires-tls", types=(RDS_PROXY,),
               description="RDS proxies accept TLS connections only (require_tls).",
               practices=("encryption-in-transit",))
def rds_proxy_requires_tls(r: Subject) -> list[str]:
    if _switched_off(r.props.get("requireTls")):
        return [f"{r.label} accepts connections without TLS; set require_tls=True"]
    return []


# -- network ------------------------------------------------------------------------------------------------------
WORLD_FIX = "allow a named security group (referenced_security_group_id) or a specific range instead"


def _world(cidr: Any) -> bool:
    if not isinstance(cidr, str):
        return False
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def _rule_cidrs(rule: dict) -> list:
    return [rule.get("cidrIpv4"), rule.get("cidrIpv6"), *_as_list(rule.get("cidrBlocks")),
            *_as_list(rule.get("ipv6CidrBlocks"))]


def _wide(cidrs: list) -> list[tuple[int, list[str], str]]:
    """(IP version, the ranges of that version, their share as text) for each family the known ranges open too
    widely."""
    strings = [c for c in cidrs if isinstance(c, str) and known(c)]
    found = []
    for version, share in too_wide(strings):
        mine = []
        for c in strings:
            try:
                if ipaddress.ip_network(c.strip(), strict=False).version == version:
                    mine.append(c)
            except ValueError:
                continue
        found.append((version, mine, percent(share)))
    return found


def _too_much(version: int, share: str) -> str:
    return f"cover {share} of the IPv{version} address space (the limit is less than {MAX_SHARE_TEXT})"


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
        for rule in _as_list(r.props.get(direction)):
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
        for version, mine, share in _wide(cidrs):
            problems.append(f"{r.label} has {direction} rules whose ranges ({', '.join(mine)}) together "
                            f"{_too_much(version, share)}; {WORLD_FIX}")
    return problems


@stack_rule("sg-rules-union-not-world-open",
            description="The separate rule resources of one security group together open "
                        f"less than {MAX_SHARE_TEXT} of each address space, per direction.",
            practices=("no-world-open",), types=(SECURITY_GROUP_RULE, SG_INGRESS_RULE, SG_EGRESS_RULE))
def sg_rules_union(args) -> list[str]:
    groups: dict[tuple[str, str], tuple[list[str], list]] = {}  # (group id, direction) -> (resource names, CIDRs)
    for resource in args.resources:
        p = plain(resource.props) or {}
        if not isinstance(p, dict):
            continue
        if resource.resource_type in (SG_INGRESS_RULE, SG_EGRESS_RULE, SECURITY_GROUP_RULE):
            group = p.get("securityGroupId")
            if resource.resource_type == SECURITY_GROUP_RULE:
                direction = p.get("type")
            else:
                direction = "ingress" if resource.resource_type == SG_INGRESS_RULE else "egress"
            entries = [(group, direction, _rule_cidrs(p))]
        else:
            continue
        for group, direction, cidrs in entries:
            if not isinstance(group, str) or not group or not isinstance(direction, str) or not cidrs:
                continue
            names, found = groups.setdefault((group, direction), ([], []))
            if any(c for c in cidrs if isinstance(c, str)):
                names.append(resource.name)
            found += cidrs
    problems = []
    for (group, direction), (names, cidrs) in groups.items():
        if len(names) < 2:
            continue  # a single resource is judged by sg-no-world-open-rules
        for version, _, share in _wide(cidrs):
            shown = ", ".join(names) if len(names) <= 3 else f"{', '.join(names[:3])}, ... {len(names)} resources"
            problems.append(f"security group '{group}' has {direction} rules ({shown}) that together "
                            f"{_too_much(version, share)}; {WORLD_FIX}")
    return problems


@resource_rule("prefix-list-not-world-open", types=(MANAGED_PREFIX_LIST,),
               description=f"Managed prefix lists cover less than {MAX_SHARE_TEXT} of each address space (a "
                           "security-group rule that references one opens all its ranges).",
               practices=("no-world-open",))
def prefix_list_not_world_open(r: Subject) -> list[str]:
    entries = r.props.get("entries")
    if not known(entries):
        return []
    cidrs = [e.get("cidr") for e in _as_list(entries) if isinstance(e, dict)]
    return [f"{r.label} holds ranges ({', '.join(mine)}) that together {_too_much(version, share)}; every "
            "security-group rule that references it opens them all: list specific ranges"
            for version, mine, share in _wide(cidrs)]


# -- secrets and keys ---------------------------------------------------------------------------------------------
@resource_rule("secrets-encrypted-with-cmk", types=(SECRET,),
               description="Secrets Manager secrets are encrypted with a customer-managed KMS key.",
               practices=("encryption-at-rest", "secrets"))
def secrets_encrypted_with_cmk(r: Subject) -> list[str]:
    key = r.props.get("kmsKeyId")
    if known(key) and (not key or _aws_managed_key(key)):
        return [f"{r.label} is encrypted with the AWS-managed aws/secretsmanager key; set kms_key_id to the "
                "stack's customer-managed KMS key"]
    return []


@resource_rule("sns-encrypted-with-cmk", types=(SNS_TOPIC,),
               description="SNS topics (the alarm topic, the trail's notifications) are encrypted with a "
                           "customer-managed KMS key (never none, never alias/aws/sns).",
               practices=("encryption-at-rest",))
def sns_encrypted_with_cmk(r: Subject) -> list[str]:
    key = r.props.get("kmsMasterKeyId")
    if not known(key):
        return []
    if not key:
        return [f"{r.label} is not encrypted; set kms_master_key_id to the stack's customer-managed KMS key ARN"]
    if _aws_managed_key(key):
        return [f"{r.label} is encrypted with the AWS-managed key {key}; set kms_master_key_id to the stack's "
                "customer-managed KMS key ARN (whose policy lets the publishing service use it)"]
    return []


@stack_rule("secrets-rotation-configured", types=(SECRET,),
            description="Every Secrets Manager secret of the stack rotates: a SecretRotation of this stack names it "
                        "(by ARN, id or name) with a schedule.",
            practices=("secrets",))
def secrets_rotation_configured(args) -> list[str]:
    rotations, undecided = [], False
    for _, p in _of_type(args, SECRET_ROTATION):
        target = p.get("secretId")
        if not known(target):
            undecided = True
            continue
        rules = p.get("rotationRules")
        scheduled = isinstance(rules, dict) and any(
            not known(rules.get(k)) or rules.get(k) for k in ("automaticallyAfterDays", "scheduleExpression"))
        if scheduled or not known(rules):
            rotations.append(target)
    if undecided:
        return []
    problems = []
    for secret, p in _of_type(args, SECRET):
        names = {p.get(k) for k in ("arn", "id", "name")} | {getattr(secret, "id", None)}
        if not names & {n for n in rotations if isinstance(n, str)}:
            problems.append(f"{_short(SECRET)} '{secret.name}' has no rotation: declare an "
                            "aws.secretsmanager.SecretRotation for it with rotation_rules (automatically_after_days), "
                            "as components/master_rotation.py does")
    return problems


@resource_rule("kms-rotation-enabled", types=(KMS_KEY,), description="Symmetric KMS keys rotate automatically.",
               practices=("encryption-at-rest",))
def kms_rotation_enabled(r: Subject) -> list[str]:
    spec = r.props.get("customerMasterKeySpec") or r.props.get("keySpec") or "SYMMETRIC_DEFAULT"
    if known(spec) and spec != "SYMMETRIC_DEFAULT":
        return []  # only symmetric encryption keys can rotate automatically
    if _switched_off(r.props.get("enableKeyRotation")):
        return [f"{r.label} has automatic key rotation off; set enable_key_rotation=True"]
    return []


# Condition keys whose fixed value narrows "Principal: *" to named accounts, organizations, sources or networks.
NARROWING_KEYS = frozenset(k.lower() for k in (
    "aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:PrincipalAccount", "aws:PrincipalArn", "aws:userid",
    "aws:SourceArn", "aws:SourceAccount", "aws:SourceOwner", "aws:SourceOrgID", "aws:SourceVpc", "aws:SourceVpce",
    "aws:SourceIp", "kms:CallerAccount"))
PUBLIC_FIX = ("name the principals, or add a condition that narrows them (aws:PrincipalOrgID, aws:PrincipalAccount, "
              "aws:SourceArn, aws:SourceAccount, aws:SourceVpce...)")


def _is_everyone(principal: Any) -> bool:
    """``"*"``, ``{"AWS": "*"}`` or a list holding ``"*"``: anyone, any account."""
    if isinstance(principal, str):
        return principal.strip() == "*"
    if isinstance(principal, dict):
        return any(isinstance(v, str) and v.strip() == "*" for v in _as_list(principal.get("AWS")))
    return False


def _narrowed(condition: Any) -> bool:
    """Whether a statement's Condition pins a narrowing key to fixed values (no wildcard, not ...IfExists)."""
    if not isinstance(condition, dict):
        return False
    for operator, pairs in condition.items():
        if not isinstance(operator, str) or not isinstance(pairs, dict) or operator.endswith("IfExists"):
            continue
        if operator.startswith("ForAllValues:"):
            continue  # true when the key is absent: it narrows nothing
        if operator.split(":")[-1] in ("Null", "StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike",
                                       "NotIpAddress", "StringNotEqualsIgnoreCase"):
            continue
        for key, values in pairs.items():
            if not isinstance(key, str) or key.lower() not in NARROWING_KEYS:
                continue
            values = _as_list(values)
            if not values or not all(isinstance(v, str) and v and "*" not in v and "?" not in v for v in values):
                continue
            if key.lower() == "aws:sourceip" and too_wide(values):
                continue
            return True
    return False


def public_statements(document: Any) -> list[tuple[str, str]]:
    """(statement label, actions) for each Allow statement of a policy document that lets anyone in."""
    document = _json(document)
    if not isinstance(document, dict):
        return []
    found = []
    for index, statement in enumerate(_as_list(document.get("Statement"))):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow" or _has_unknown(statement):
            continue
        everyone = _is_everyone(statement.get("Principal")) or "NotPrincipal" in statement
        if not everyone or _narrowed(statement.get("Condition")):
            continue
        actions = [a for a in _as_list(statement.get("Action") or statement.get("NotAction")) if isinstance(a, str)]
        sid = statement.get("Sid")
        label = f"statement '{sid}'" if isinstance(sid, str) and sid else f"statement {index + 1}"
        found.append((label, ", ".join(actions) or "anything"))
    return found


@resource_rule("resource-policy-not-public",
               types=(BUCKET_POLICY, BUCKET, SECRET, SECRET_POLICY, KMS_KEY, KMS_KEY_POLICY),
               description="Bucket, secret and KMS key policies never allow everyone ('Principal: *') without a "
                           "condition that narrows it to named accounts, organizations or sources.",
               practices=("no-public-access", "least-privilege"))
def resource_policy_not_public(r: Subject) -> list[str]:
    return [f"{r.label} policy lets anyone (Principal '*') {actions} ({label}); {PUBLIC_FIX}"
            for label, actions in public_statements(r.props.get("policy"))]


# -- CloudTrail ---------------------------------------------------------------------------------------------------
def _records_management_events(p: dict) -> bool | None:
    """Whether a trail records every management event, read and write (None when not known yet)."""
    advanced = p.get("advancedEventSelectors")
    basic = p.get("eventSelectors")
    if _has_unknown(advanced) or _has_unknown(basic):
        return None
    covered: set[str] = set()
    if _as_list(advanced):
        for selector in _as_list(advanced):
            fields = [f for f in _as_list(selector.get("fieldSelectors") if isinstance(selector, dict) else None)
                      if isinstance(f, dict)]
            category = [f for f in fields if f.get("field") == "eventCategory"]
            if not any("Management" in _as_list(f.get("equals")) for f in category):
                continue
            others = [f for f in fields if f.get("field") not in ("eventCategory", "readOnly")]
            if others:
                continue  # narrowed to some event sources
            read_only = [f for f in fields if f.get("field") == "readOnly"]
            if not read_only:
                covered |= {"read", "write"}
            for f in read_only:
                for value in _as_list(f.get("equals")):
                    covered.add("read" if str(value).lower() == "true" else "write")
        return covered == {"read", "write"}
    if not _as_list(basic):
        return True  # no selectors: CloudTrail records all management events
    for selector in _as_list(basic):
        if not isinstance(selector, dict):
            continue
        if not _truthy(selector.get("includeManagementEvents", True)):
            continue
        if _as_list(selector.get("excludeManagementEventSources")):
            continue
        kind = selector.get("readWriteType") or "All"
        covered |= {"All": {"read", "write"}, "ReadOnly": {"read"}, "WriteOnly": {"write"}}.get(kind, set())
    return covered == {"read", "write"}


@resource_rule("cloudtrail-hardened", types=(TRAIL,),
               description="CloudTrail trails are logging, record every management event, are multi-region, include "
                           "global service events, validate their log files, are encrypted with a "
                           "customer-managed KMS key and notify an SNS topic of each log file delivered.",
               practices=("audit-trail",))
def cloudtrail_hardened(r: Subject) -> list[str]:
    p = r.props
    problems = []
    if _switched_off(p.get("enableLogging", True)):
        problems.append(f"{r.label} is not logging; set enable_logging=True")
    if _records_management_events(p) is False:
        problems.append(f"{r.label} does not record every management event (read and write); record them with an "
                        "event selector (include_management_events=True, read_write_type='All') or an advanced "
                        "selector on eventCategory=Management")
    checks = [
        ("isMultiRegionTrail", False, "records one region only; set is_multi_region_trail=True"),
        ("includeGlobalServiceEvents", True, "skips global service events (IAM, STS); "
                                             "set include_global_service_events=True"),
        ("enableLogFileValidation", False, "has log file validation off; set enable_log_file_validation=True"),
    ]
    for key, default, why in checks:
        if _switched_off(p.get(key, default)):
            problems.append(f"{r.label} {why}")
    key = p.get("kmsKeyId")
    if known(key) and not key:
        problems.append(f"{r.label} log files are not encrypted with a customer-managed KMS key; set kms_key_id")
    topic = p.get("snsTopicName")
    if known(topic) and not topic:
        problems.append(f"{r.label} notifies no SNS topic of delivered log files; set sns_topic_name to the trail's "
                        "encrypted topic (components/audit.py)")
    return problems


# -- S3 -----------------------------------------------------------------------------------------------------------
def public_access_fully_blocked(props: dict) -> list[str]:
    """The public-access settings of a (bucket or account) public-access block that are not on (unknown ones are
    not reported)."""
    keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    return [k for k in keys if known(props.get(k)) and not _truthy(props.get(k))]


@resource_rule("s3-public-access-blocked", types=(BUCKET_PUBLIC_ACCESS_BLOCK, ACCOUNT_PUBLIC_ACCESS_BLOCK),
               description="S3 public-access blocks (bucket and account) set all four settings.",
               practices=("no-public-access",))
def s3_public_access_blocked(r: Subject) -> list[str]:
    off = public_access_fully_blocked(r.props)
    if off:
        return [f"{r.label} leaves {', '.join(off)} off; set all four public-access blocks to True"]
    return []


PUBLIC_CANNED_ACLS = ("public-read", "public-read-write", "authenticated-read")
PUBLIC_GRANTEE_GROUPS = ("AllUsers", "AuthenticatedUsers")


@resource_rule("s3-bucket-acl-not-public", types=(BUCKET_ACL, BUCKET_ACL_V2, BUCKET),
               description="S3 bucket ACLs never grant access to everyone (canned public ACLs, AllUsers or "
                           "AuthenticatedUsers grants).",
               practices=("no-public-access",))
def s3_bucket_acl_not_public(r: Subject) -> list[str]:
    problems = []
    acl = r.props.get("acl")
    if isinstance(acl, str) and acl in PUBLIC_CANNED_ACLS:
        problems.append(f"{r.label} makes its bucket public with the canned ACL '{acl}'; use acl='private' (or no "
                        "ACL: ownership controls BucketOwnerEnforced)")
    policy = r.props.get("accessControlPolicy")
    grants = policy.get("grants") if isinstance(policy, dict) else None
    for grant in _as_list(grants):
        grantee = grant.get("grantee") if isinstance(grant, dict) else None
        uri = grantee.get("uri") if isinstance(grantee, dict) else None
        if not isinstance(uri, str):
            continue
        group = uri.rstrip("/").rsplit("/", 1)[-1]
        if group in PUBLIC_GRANTEE_GROUPS:
            permission = grant.get("permission")
            problems.append(f"{r.label} grants {permission if isinstance(permission, str) else 'access'} to the "
                            f"{group} group; grant only named canonical users")
    return problems


def _arn_matches(pattern: Any, arn: str) -> bool:
    if not isinstance(pattern, str):
        return False
    for partition in ("arn:aws-cn:", "arn:aws-us-gov:"):
        if pattern.startswith(partition):
            pattern = "arn:aws:" + pattern[len(partition):]
    return fnmatch.fnmatchcase(arn, pattern)


def _denies_without_tls(statement: dict, bucket: Any) -> bool:
    if statement.get("Effect") != "Deny" or "NotPrincipal" in statement or "NotAction" in statement:
        return False
    if not _is_everyone(statement.get("Principal")):
        return False
    if not any(isinstance(a, str) and a.lower() in ("s3:*", "*") for a in _as_list(statement.get("Action"))):
        return False
    if isinstance(bucket, str) and bucket:
        resources = _as_list(statement.get("Resource"))
        targets = (f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*")
        if not all(any(_arn_matches(pattern, t) for pattern in resources) for t in targets):
            return False
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return False
    for operator in ("Bool", "BoolIfExists"):
        pairs = condition.get(operator)
        if not isinstance(pairs, dict):
            continue
        for key, values in pairs.items():  # condition keys are case-insensitive
            if isinstance(key, str) and key.lower() == "aws:securetransport" and any(
                    str(v).lower() == "false" for v in _as_list(values)):
                return True
    return False


def denies_insecure_transport(document: Any, bucket: Any = None) -> bool | None:
    """Whether a bucket policy document denies every non-TLS request to everyone, on ``bucket`` and its objects
    when the bucket's name is known (None when the document is not known yet)."""
    document = _json(document)
    if document is UNKNOWN:
        return None
    if not isinstance(document, dict):
        return False
    return any(isinstance(s, dict) and _denies_without_tls(s, bucket) for s in _as_list(document.get("Statement")))


@resource_rule("s3-bucket-policy-denies-insecure-transport", types=(BUCKET_POLICY,),
               description="S3 bucket policies deny requests without TLS, to everyone, on the bucket and its objects.",
               practices=("encryption-in-transit",))
def s3_bucket_policy_denies_insecure_transport(r: Subject) -> list[str]:
    bucket = r.props.get("bucket")
    if denies_insecure_transport(r.props.get("policy"), bucket if known(bucket) else None) is False:
        return [f"{r.label} does not deny non-TLS requests; add a Deny of s3:* on the bucket and its objects "
                "when aws:SecureTransport is false"]
    return []


def _inline_loggings(p: dict) -> list:
    """A bucket's inline (legacy) logging blocks: Bucket's ``logging`` object, BucketV2's ``loggings`` list."""
    return [x for x in (p.get("logging"), *_as_list(p.get("loggings"))) if x is not None]


@stack_rule("s3-bucket-access-logging", types=(BUCKET, BUCKET_V2),
            description="Every S3 bucket sends server access logs to a log bucket (aws.s3.BucketLogging), except a "
                        "bucket that is itself a log destination.",
            practices=("audit-trail",), prod_only=True,
            dev_reason="a dev stack without its audit trail (cruddur-db:auditTrail false) has no access-log bucket "
                       "to send them to.")
def s3_bucket_access_logging(args) -> list[str]:
    """Each bucket (known name) is the source of a BucketLogging (or legacy inline logging) unless some logging
    configuration of the stack targets it. Unknown names (preview) never make a violation."""
    logged, targets, unsure = set(), set(), False
    for typ in (BUCKET_LOGGING, BUCKET_LOGGING_V2):
        for _, p in _of_type(args, typ):
            for key, into in (("bucket", logged), ("targetBucket", targets)):
                value = p.get(key)
                if known(value) and isinstance(value, str):
                    into.add(value)
                else:
                    unsure = True
    buckets = [(b, p) for typ in (BUCKET, BUCKET_V2) for b, p in _of_type(args, typ)]
    for _, p in buckets:
        for block in _inline_loggings(p):
            target = block.get("targetBucket") if isinstance(block, dict) else UNKNOWN
            if known(target) and isinstance(target, str) and target:
                targets.add(target)
                if known(p.get("bucket")):
                    logged.add(p.get("bucket"))
            else:
                unsure = True
    problems = []
    for bucket, p in buckets:
        name = p.get("bucket")
        if not known(name) or not isinstance(name, str) or name in logged or name in targets or unsure:
            continue
        problems.append(f"s3 Bucket '{bucket.name}' ({name}) has no server access logging; declare an "
                        "aws.s3.BucketLogging into the audit component's access-log bucket "
                        "(PrivateBucketArgs.access_log_bucket)")
    return problems


# -- Lambda -------------------------------------------------------------------------------------------------------
@resource_rule("lambda-permission-source-arn", types=(LAMBDA_PERMISSION,),
               description="Lambda permissions name one principal and the one source (source_arn, no wildcard) that "
                           "may invoke.",
               practices=("least-privilege",))
def lambda_permission_source_arn(r: Subject) -> list[str]:
    principal = r.props.get("principal")
    if isinstance(principal, str) and principal.strip() == "*":
        return [f"{r.label} lets anyone (principal '*') invoke the function; set principal to the one service or "
                "account that may invoke it"]
    source = r.props.get("sourceArn")
    who = principal if known(principal) else "its principal"
    if known(source) and not source:
        return [f"{r.label} lets {who} invoke the function from any source; set source_arn to the one resource "
                "that may invoke it"]
    if isinstance(source, str) and ("*" in source or "?" in source):
        return [f"{r.label} lets {who} invoke the function from any source matching '{source}'; set source_arn to "
                "the one resource that may invoke it"]
    return []


@resource_rule("lambda-function-url-authenticated", types=(LAMBDA_FUNCTION_URL,),
               description="Lambda function URLs require IAM authorization (never authorization_type NONE).",
               practices=("no-public-access", "least-privilege"))
def lambda_function_url_authenticated(r: Subject) -> list[str]:
    kind = r.props.get("authorizationType")
    if isinstance(kind, str) and kind.strip().upper() == "NONE":
        return [f"{r.label} lets anyone on the internet invoke the function (authorization_type='NONE'); set "
                "authorization_type='AWS_IAM'"]
    return []


@resource_rule("lambda-supported-runtime", types=(LAMBDA_FUNCTION,),
               description="Lambda functions run a supported runtime (policy config supportedRuntimes, default "
                           f"{', '.join(SUPPORTED_RUNTIMES)}).",
               practices=("patched-runtimes",),
               config={"supportedRuntimes": {"type": "array", "items": {"type": "string"},
                                             "default": list(SUPPORTED_RUNTIMES)}})
def lambda_supported_runtime(r: Subject) -> list[str]:
    if r.props.get("packageType") == "Image":
        return []
    runtime = r.props.get("runtime")
    supported = tuple(r.config.get("supportedRuntimes") or SUPPORTED_RUNTIMES)
    if known(runtime) and runtime not in supported:
        return [f"{r.label} runs {runtime or 'no runtime'}, which is not a supported Lambda runtime; "
                f"use one of {', '.join(supported)}"]
    return []


@resource_rule("lambda-code-signing", types=(LAMBDA_FUNCTION,),
               description="Lambda functions (zip packages) carry a code signing config "
                           "(code_signing_config_arn), so Lambda checks every package and layer's signature.",
               practices=("signed-code",))
def lambda_code_signing(r: Subject) -> list[str]:
    if r.props.get("packageType") == "Image":
        return []  # Lambda code signing applies to zip packages only
    config = r.props.get("codeSigningConfigArn")
    if known(config) and not (isinstance(config, str) and config.strip()):
        return [f"{r.label} has no code signing config, so Lambda deploys unsigned code and layers; set "
                "code_signing_config_arn to the stack's (components/code_signing.py) and deploy the package from "
                "its signed copy (CodeSigning.sign)"]
    return []


@resource_rule("lambda-code-signing-enforced", types=(LAMBDA_CODE_SIGNING_CONFIG,),
               description="Lambda code signing configs reject untrusted code (untrusted_artifact_on_deployment "
                           "Enforce), not only warn (Warn, the default).",
               practices=("signed-code",))
def lambda_code_signing_enforced(r: Subject) -> list[str]:
    policies = r.props.get("policies")
    if not known(policies):
        return []
    action = policies.get("untrustedArtifactOnDeployment") if isinstance(policies, dict) else None
    if not known(action):
        return []
    if not (isinstance(action, str) and action.strip().lower() == "enforce"):
        shown = action if isinstance(action, str) and action else "Warn, the default"
        return [f"{r.label} deploys unsigned or untrusted code with only a warning (untrusted_artifact_on_deployment"
                f" is {shown}); set policies.untrusted_artifact_on_deployment='Enforce'"]
    return []


@resource_rule("lambda-environment-encrypted-with-cmk", types=(LAMBDA_FUNCTION,),
               description="Lambda functions with environment variables encrypt them with a customer-managed KMS "
                           "key (kms_key_arn), not the AWS-managed aws/lambda key.",
               practices=("encryption-at-rest",))
def lambda_environment_encrypted_with_cmk(r: Subject) -> list[str]:
    environment = r.props.get("environment")
    if not known(environment) or not isinstance(environment, dict):
        return []
    variables = environment.get("variables")
    if not variables:  # none (or unknown: judged when known)
        return []
    key = r.props.get("kmsKeyArn")
    if not known(key):
        return []
    if not (isinstance(key, str) and key.strip()):
        why = "kms_key_arn is unset"
    elif "alias/aws/" in key:
        why = f"kms_key_arn is {key.rsplit(':', 1)[-1]}"
    else:
        return []
    return [f"{r.label} encrypts its environment variables with the AWS-managed key ({why}); set kms_key_arn to "
            "the stack's customer-managed key"]


@resource_rule("cognito-password-policy", types=(COGNITO_USER_POOL,),
               description=f"Cognito user pools require passwords of at least {COGNITO_MIN_PASSWORD_LENGTH} "
                           "characters with lower- and upper-case letters, numbers and symbols, and temporary "
                           f"passwords that live at most {COGNITO_MAX_TEMPORARY_PASSWORD_DAYS} days.",
               practices=("strong-auth",))
def cognito_password_policy(r: Subject) -> list[str]:
    policy = r.props.get("passwordPolicy")
    if not known(policy):
        return []
    if policy is None:
        policy = {"minimumLength": 8, "requireLowercase": True, "requireNumbers": True, "requireSymbols": True,
                  "requireUppercase": True}  # what Cognito applies without a policy
    if not isinstance(policy, dict):
        return []
    problems = []
    length = policy.get("minimumLength", 8)
    if known(length):
        number = _number(length)
        if number is None or number < COGNITO_MIN_PASSWORD_LENGTH:
            shown = repr(length) if number is None else (int(number) if number.is_integer() else number)
            problems.append(f"{r.label} accepts passwords of {shown} characters; set password_policy.minimum_length "
                            f">= {COGNITO_MIN_PASSWORD_LENGTH}")
    classes = ("lowercase", "numbers", "symbols", "uppercase")
    missing = [c for c in classes if known(policy.get(f"require{c.capitalize()}"))
               and not _truthy(policy.get(f"require{c.capitalize()}"))]
    if missing:
        problems.append(f"{r.label} password policy does not require {', '.join(missing)}; set "
                        f"{', '.join('require_' + c for c in missing)}=True")
    days = policy.get("temporaryPasswordValidityDays", COGNITO_MAX_TEMPORARY_PASSWORD_DAYS)
    number = _number(days) if known(days) else 0
    if number is None or number > COGNITO_MAX_TEMPORARY_PASSWORD_DAYS:
        shown = repr(days) if number is None else (int(number) if number.is_integer() else number)
        problems.append(f"{r.label} lets temporary passwords live {shown} days; set "
                        f"password_policy.temporary_password_validity_days <= {COGNITO_MAX_TEMPORARY_PASSWORD_DAYS}")
    return problems


# -- stack rules --------------------------------------------------------------------------------------------------
def _of_type(args, typ: str) -> list[tuple[Any, dict]]:
    found = [(r, plain(r.props) or {}) for r in args.resources if r.resource_type == typ]
    return [(r, p) for r, p in found if isinstance(p, dict)]


_TLS_LINKS = ((RDS_INSTANCE, "parameterGroupName", RDS_PARAMETER_GROUP),
              (RDS_CLUSTER, "dbClusterParameterGroupName", RDS_CLUSTER_PARAMETER_GROUP))


def _parameter_links(args) -> list[tuple[str, str, Any, list[tuple[str, dict]]]]:
    """For each RDS instance (cluster) whose link is known: (label, "default" | "undeclared" | "linked", the
    linked name, [(group name, {parameter: value})] of the linked groups whose parameters are all known)."""
    links = []
    for database_type, link, group_type in _TLS_LINKS:
        groups = _of_type(args, group_type)
        for database, p in _of_type(args, database_type):
            label = f"{_short(database_type)} '{database.name}'"
            linked = p.get(link)
            if not known(linked):
                continue
            if not linked:
                links.append((label, "default", linked, []))
                continue
            matching = [(g, gp) for g, gp in groups if gp.get("name") == linked]
            if not matching:
                if not any(not known(gp.get("name")) for _, gp in groups):
                    links.append((label, "undeclared", linked, []))
                continue  # else: a group whose name is not known yet may be the linked one
            found = []
            for group, gp in matching:
                parameters = gp.get("parameters")
                if not known(parameters) or _has_unknown(parameters):
                    continue
                found.append((group.name, {prm.get("name"): prm.get("value") for prm in _as_list(parameters)
                                           if isinstance(prm, dict)}))
            links.append((label, "linked", linked, found))
    return links


@stack_rule("rds-tls-enforced", types=(RDS_INSTANCE, RDS_CLUSTER),
            description="Each RDS instance (and cluster) links a parameter group of this stack that forces TLS "
                        "(rds.force_ssl=1).",
            practices=("encryption-in-transit",))
def rds_tls_parameter_group(args) -> list[str]:
    """Each RDS instance/cluster links a parameter group declared in this stack that sets rds.force_ssl=1."""
    problems = []
    for label, state, linked, groups in _parameter_links(args):
        if state == "default":
            problems.append(f"{label} uses the engine's default parameter group; link a parameter group that "
                            "sets rds.force_ssl=1 (parameter_group_name)")
        elif state == "undeclared":
            problems.append(f"{label} links parameter group '{linked}', which this stack does not declare; "
                            "declare it here with rds.force_ssl=1 so TLS is enforced by code")
        for name, values in groups:
            if str(values.get("rds.force_ssl")) != "1":
                problems.append(f"{label} links parameter group '{name}' without rds.force_ssl=1; add "
                                "{name: rds.force_ssl, value: '1'} so the server refuses non-TLS connections")
    return problems


@stack_rule("rds-scram-passwords", types=(RDS_INSTANCE, RDS_CLUSTER),
            description="The parameter group each RDS instance (cluster) links stores passwords as SCRAM "
                        "(password_encryption=scram-sha-256), never md5.",
            practices=("strong-auth",))
def rds_scram_passwords(args) -> list[str]:
    """Unlinked or undeclared groups are rds-tls-enforced's to report; this rule judges the groups it can see."""
    return [f"{label} links parameter group '{name}' without password_encryption=scram-sha-256; add "
            "{name: password_encryption, value: 'scram-sha-256'} so no password is stored as md5"
            for label, _, _, groups in _parameter_links(args) for name, values in groups
            if str(values.get("password_encryption")) != "scram-sha-256"]


def postgres_family(engine_version: Any) -> str | None:
    """The parameter-group family of a PostgreSQL engine version: ``17`` / ``17.2`` -> ``postgres17``, ``9.6.24``
    -> ``postgres9.6``; None for anything that is not a version."""
    if isinstance(engine_version, (int, float)) and not isinstance(engine_version, bool):
        engine_version = str(engine_version)
    if not isinstance(engine_version, str):
        return None
    parts = engine_version.strip().split(".")
    if not parts[0].isdigit():
        return None
    major = int(parts[0])
    if major >= 10:
        return f"postgres{major}"
    if len(parts) > 1 and parts[1].isdigit():
        return f"postgres{major}.{parts[1]}"
    return None


@stack_rule("rds-parameter-group-family", types=(RDS_INSTANCE,),
            description="A PostgreSQL RDS instance links a parameter group of its engine's family "
                        "(postgres<major of engine_version>): a major upgrade declares the new family's group.",
            practices=("safe-upgrades",))
def rds_parameter_group_family(args) -> list[str]:
    """Instances whose engine, version or group is not known yet, or whose group this stack does not declare
    (rds-tls-enforced's to report), are not judged."""
    groups = _of_type(args, RDS_PARAMETER_GROUP)
    problems = []
    for database, p in _of_type(args, RDS_INSTANCE):
        engine, version, linked = p.get("engine"), p.get("engineVersion"), p.get("parameterGroupName")
        if engine != "postgres" or not isinstance(linked, str) or not linked:
            continue
        wanted = postgres_family(version)
        if wanted is None:
            continue
        for group, gp in groups:
            family = gp.get("family")
            if gp.get("name") != linked or not isinstance(family, str) or family == wanted:
                continue
            problems.append(f"rds Instance '{database.name}' runs PostgreSQL {version} but links parameter group "
                            f"'{group.name}' of family {family}; link a {wanted} group (one group per family, "
                            "components/database.py; runbooks/upgrade-major.md)")
    return problems


@stack_rule("rds-master-password-in-secrets-manager", types=(RDS_INSTANCE, RDS_CLUSTER),
            description="Each RDS instance's (cluster's) master password is kept in a Secrets Manager secret of "
                        "this stack (a SecretVersion whose JSON secret_string has it as \"password\"), or managed "
                        "by RDS (manage_master_user_password).",
            practices=("secrets",))
def rds_master_password_in_secrets_manager(args) -> list[str]:
    """Compares values in memory only: no message ever contains a password."""
    held, undecided = [], False
    for _, p in _of_type(args, SECRET_VERSION):
        secret_string = p.get("secretString")
        if not known(secret_string):
            undecided = True
            continue
        document = _json(secret_string)
        if isinstance(document, dict) and isinstance(document.get("password"), str):
            held.append(document["password"])
    problems = []
    for database_type, key in ((RDS_INSTANCE, "password"), (RDS_CLUSTER, "masterPassword")):
        for database, p in _of_type(args, database_type):
            if _truthy(p.get("manageMasterUserPassword")):
                continue
            password = p.get(key)
            if not isinstance(password, str) or not password or undecided or password in held:
                continue
            problems.append(f"{_short(database_type)} '{database.name}' has a master password that no Secrets "
                            "Manager secret of this stack holds; keep it in one (a SecretVersion whose secret_string "
                            "has it as \"password\") or set manage_master_user_password=True")
    return problems


def _for_bucket(resources: list[tuple[Any, dict]], bucket: str) -> tuple[list[dict], bool]:
    """(props of the resources whose ``bucket`` is ``bucket``, whether some resource's bucket is not known yet)."""
    definite = [p for _, p in resources if p.get("bucket") == bucket]
    maybe = any(not known(p.get("bucket")) for _, p in resources)
    return definite, maybe


@stack_rule("audit-trail-present", description="The stack declares its CloudTrail trail.",
            practices=("audit-trail",), prod_only=True,
            dev_reason="a dev stack may switch its trail off where the account is already audited by another trail "
                       "(cruddur-db:auditTrail).")
def audit_trail_present(args) -> list[str]:
    if not _of_type(args, TRAIL):
        return ["the stack declares no CloudTrail trail; compose components.audit.Audit with "
                "cruddur-db:auditTrail true"]
    return []


@stack_rule("cloudtrail-bucket-protected", types=(TRAIL,),
            description="Each trail's S3 bucket blocks all public access and denies non-TLS requests.",
            practices=("no-public-access", "encryption-in-transit", "audit-trail"))
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
        elif mine and all(denies_insecure_transport(pp.get("policy"), bucket) is False for pp in mine) and not maybe:
            problems.append(f"{label} policy does not deny non-TLS requests; add a Deny of s3:* when "
                            "aws:SecureTransport is false")
    return problems


@stack_rule("cloudtrail-bucket-retained", types=(TRAIL,), description="A trail's S3 bucket is never force-destroyable.",
            practices=("deletion-protection", "audit-trail"), prod_only=True,
            dev_reason="a dev stack may let `pulumi destroy` empty its trail bucket "
                       "(cruddur-db:trailBucketForceDestroy).")
def cloudtrail_bucket_retained(args) -> list[str]:
    """A trail's bucket is never force-destroyable (its log files are the evidence)."""
    trail_buckets = {p.get("s3BucketName") for _, p in _of_type(args, TRAIL)}
    problems = []
    for bucket, p in _of_type(args, BUCKET):
        name = p.get("bucket")
        if known(name) and name in trail_buckets and _truthy(p.get("forceDestroy")):
            problems.append(f"s3 Bucket '{bucket.name}' holds CloudTrail log files and has force_destroy on; set "
                            "force_destroy=False (cruddur-db:trailBucketForceDestroy false)")
    return problems


PROTECTED_TYPES = (RDS_INSTANCE, RDS_CLUSTER, SECRET, KMS_KEY, COGNITO_USER_POOL)


def _protect(resource) -> Any:
    """The resource's ``protect`` option: True/False, or UNKNOWN when the engine gave no options."""
    value = getattr(getattr(resource, "opts", None), "protect", None)
    return value if isinstance(value, bool) else UNKNOWN


@stack_rule("prod-stateful-protected", types=(*PROTECTED_TYPES, TRAIL),
            description="On prod, the resources whose loss loses data or access to it carry Pulumi protect: RDS "
                        "instances and clusters, Secrets Manager secrets, KMS keys, Cognito user pools and each "
                        "trail's S3 bucket.",
            practices=("deletion-protection",), prod_only=True, dev_advisory=False,
            dev_reason="a dev stack leaves them unprotected so it can be torn down "
                       "(cruddur-db:protectStatefulResources)")
def prod_stateful_protected(args) -> list[str]:
    trail_buckets = {p.get("s3BucketName") for _, p in _of_type(args, TRAIL)}
    stateful = [(r, f"{_short(r.resource_type)} '{r.name}'") for r in args.resources
                if r.resource_type in PROTECTED_TYPES]
    for bucket, p in _of_type(args, BUCKET):
        name = p.get("bucket")
        if isinstance(name, str) and name in trail_buckets:
            stateful.append((bucket, f"s3 Bucket '{bucket.name}' (CloudTrail log files)"))
    return [f"{label} is not protected; declare it with protect=True "
            "(components/naming.py stateful(); cruddur-db:protectStatefulResources true), so that no destroy or "
            "replacement deletes it until its protection is lifted on purpose (`pulumi state unprotect URN`)"
            for resource, label in stateful if _protect(resource) is False]


@stack_rule("guardduty-rds-protection",
            description="A GuardDuty detector (created here or adopted by id) has RDS Protection (RDS_LOGIN_EVENTS) "
                        "enabled.",
            practices=("guardduty",), prod_only=True,
            dev_reason="a dev stack may switch GuardDuty off, e.g. where the organization's delegated administrator "
                       "manages it (cruddur-db:guardDuty).")
def guardduty_rds_protection(args) -> list[str]:
    """A GuardDuty detector (created here or adopted by id) with RDS Protection enabled."""
    detectors = _of_type(args, GUARDDUTY_DETECTOR)
    features = [(f, p) for f, p in _of_type(args, GUARDDUTY_FEATURE)
                if p.get("name") == GUARDDUTY_RDS_FEATURE or not known(p.get("name"))]
    problems = []
    for detector, p in detectors:
        if _switched_off(p.get("enable", True)):
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


def _regions_elsewhere(resource_type: str, p: dict) -> list[tuple[str, Any]]:
    """(verb, region) for each place a resource copies or replicates its data to, besides its own region."""
    found = []
    if resource_type == RDS_SNAPSHOT_COPY:
        found.append(("copies data to", p.get("destinationRegion")))
    if resource_type == SECRET:
        for replica in _as_list(p.get("replicas")):
            if isinstance(replica, dict):
                found.append(("replicates data to", replica.get("region")))
    return found


@stack_rule("region-allowed",
            description="Every AWS provider and resource, and every copy or replica of their data (snapshot copies, "
                        "secret replicas), is in an allowed region (data residency; policy config allowedRegions, "
                        f"default {', '.join(DEFAULT_ALLOWED_REGIONS)}).",
            practices=("region",),
            config={"allowedRegions": {"type": "array", "items": {"type": "string"},
                                       "default": list(DEFAULT_ALLOWED_REGIONS)}})
def region_allowed(args) -> list[str]:
    allowed = tuple(_config(args).get("allowedRegions") or DEFAULT_ALLOWED_REGIONS)
    outside = f"outside the allowed regions ({', '.join(allowed)}); data must stay in them"
    problems = []
    for resource in args.resources:
        p = plain(resource.props) or {}
        if not isinstance(p, dict):
            continue
        label = f"{_short(resource.resource_type)} '{resource.name}'"
        region = p.get("region")
        if resource.resource_type == AWS_PROVIDER and region is None:
            problems.append(f"aws provider '{resource.name}' pins no region; set region (aws:region in the stack "
                            "file) to one of " + ", ".join(allowed))
        elif isinstance(region, str) and region not in allowed:
            problems.append(f"{label} is in {region}, {outside}")
        for verb, elsewhere in _regions_elsewhere(resource.resource_type, p):
            if isinstance(elsewhere, str) and elsewhere and elsewhere not in allowed:
                problems.append(f"{label} {verb} {elsewhere}, {outside}")
    return problems


# -- the pack -----------------------------------------------------------------------------------------------------
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
