"""The stack's settings: the ONLY module that reads ``pulumi.Config``.

``Settings.load()`` reads every key declared in ``Pulumi.yaml`` (whose defaults are the secure ones), validates
all of them, and either returns a frozen, typed ``Settings`` or raises ``ConfigError`` listing every problem, one
line each, naming the key, the value and what is allowed. Nothing is declared before the settings are valid.

Each key is declared ONCE, as a field of its section (``Settings`` itself for stack-wide values), with
``setting(key, parser, check=..., prod=...)``: the parser turns the raw value into the field's value or says what
is allowed; ``check`` is a rule every stack must meet and ``prod`` one a prod stack must meet, each
``(predicate, why)`` (``must_be``/``at_least`` build the common ones). Rules that relate two keys are small
explicit checks in ``_Loader.load``.

How to add a setting
--------------------
1. Declare it in its section (a field without ``default=`` must have its default in Pulumi.yaml)::

       idle_minutes: int = setting("idleMinutes", integer(1, 60),
                                   prod=at_least(5, "prod keeps idle sessions at least 5 minutes"))
       protect: bool = setting("protect", boolean(), prod=must_be(True, "prod must keep protect on"))
       app_security_group_ids: tuple[str, ...] = setting(
           "appSecurityGroupIds", text_list(text(_SG_ID, "is not a security group id (sg-...)")))

   ``text_list()`` alone takes any strings; ``text_list(item)`` checks each one and reports every bad item.
   A new section is a frozen dataclass of such fields, a field of ``Settings`` and an entry in ``SECTIONS``.
2. Add the key with its secure default and a description to ``config:`` in Pulumi.yaml, and a row in
   docs/stacks-and-settings.md (tests hold Pulumi.yaml, the declarations and that page to the same keys, and every
   default to every rule).
3. Use it where the resource is declared: ``args.database.idle_minutes``. Add a failing-config test that asserts
   the exact message (``cruddur-db:idleMinutes = 0: must be from 1 to 60``).

Parsers: ``text(pattern_or_choices, allowed)``, ``integer(lo, hi, choices, allowed)``, ``boolean()``,
``text_list(item_parser, shape, empty)``, or any function ``raw -> value`` that raises
``Invalid((shown_value, why), ...)`` (see ``_vpc_cidr``). ``text`` refuses surrounding whitespace and matches the
whole value; ``integer`` takes ASCII digits only (one spelling for every key). Error lines show values through
``shown`` (long ones cut), in ``_Loader._bad`` only.

A key in the ``cruddur-db`` namespace that is not declared, or a key in a look-alike namespace, is a problem too
(``_Loader._unknown_keys``): declaring a setting is all it takes for its key to be known. tests/components/
test_settings_fuzz.py feeds every declared key odd values, so a new one is fuzzed as soon as it is declared.
"""

from __future__ import annotations

import difflib
import heapq
import ipaddress
import json
import re
from collections.abc import Callable, Collection
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import pulumi

from components import aws_schedule, cidrs, config_keys, pg_names, run_schedule
from components.connection_budget import instance_memory_gib
from components.naming import Naming

# The names the settings refuse, importable from here too (tests, the policy pack's copy of RESERVED_USERNAMES).
from components.pg_names import MIGRATION_ROLES, PG_RESERVED_ROLE_NAMES, PG_RESERVED_WORDS, RESERVED_USERNAMES  # noqa: F401
from components.run_schedule import RunSchedule
from components.stack_names import is_dev_stack_name, is_production_stack_name

PROJECT = "cruddur-db"

ENVIRONMENTS = ("dev", "prod")
# RDS PostgreSQL majors this program supports, and the parameter-group family of each.
ENGINE_FAMILIES = {"16": "postgres16", "17": "postgres17"}
MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)
PROD_MIN_BACKUP_DAYS = 7
# Read replicas a stack may declare (RDS allows up to 15 per PostgreSQL instance; past a handful, size the primary or
# shard instead: docs/scaling.md).
MAX_READ_REPLICAS = 5
PROD_MAX_ROTATION_DAYS = 90
PROD_MIN_LOG_RETENTION_DAYS = 90
# The audit trail: CloudWatch Logs and S3 retention floors for prod (the trail is evidence; keep it a year at least).
PROD_MIN_TRAIL_LOG_DAYS = 365
PROD_MIN_TRAIL_EXPIRE_DAYS = 365
TRAIL_MAX_DAYS = 3653

# The VPC's range: private only. AWS accepts RFC 1918 and 100.64.0.0/10 (shared address space) for a VPC, and also
# publicly routable ranges you own; this project wants private addresses only, so those four are the whole list.
VPC_RANGES = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))
# AWS allows a VPC from /16 to /28. Each private subnet is a quarter of the VPC (network.subnet_cidrs, at most a
# /20), one per AZ (up to 3): a /24 gives /26 subnets (59 usable addresses) for the instance, its Multi-AZ standby,
# the endpoints and the Lambda ENIs; smaller VPCs leave too little, so a /24 is the smallest this program takes.
VPC_PREFIXES = (16, 24)

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+$")
# RDS instance classes: db.<family><generation><attributes>.<size>, e.g. db.t4g.micro, db.m7g.large, db.r6gd.xlarge,
# db.m5.24xlarge, db.x2iedn.2xlarge, db.z1d.large. (db.serverless is Aurora's, not an RDS instance's.)
_INSTANCE_CLASS = re.compile(r"db\.[a-z]{1,2}[1-9][0-9]?[a-z-]{0,6}\."
                             r"(nano|micro|small|medium|large|([1-9][0-9]?)?xlarge)")
_INSTANCE_CLASS_OR_EMPTY = re.compile(f"({_INSTANCE_CLASS.pattern})?")
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DETECTOR_ID_OR_EMPTY = re.compile(r"^([0-9a-f]{32})?$")
_SG_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
_MAJOR_OR_EMPTY = re.compile(r"^([1-9][0-9]?)?$")

# Organizations: a policy target is an account id, an OU id or the root id (the pattern AWS's TargetId accepts).
_ORG_TARGET = re.compile(r"^(\d{12}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$")
_IAM_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$", re.ASCII)  # IAM's role-name charset: no wildcards, no paths
_IAM_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")  # service:Action, service:Prefix* or service:*


# An error shows at most this many problems, then how many more: a file of a hundred thousand bad keys is refused
# in one screen, and quickly.
MAX_PROBLEMS_SHOWN = 20


class ConfigError(pulumi.RunError):
    """Bad stack configuration. ``problems`` holds one line per problem (the first ``MAX_PROBLEMS_SHOWN``, then a
    line counting the rest); the message lists them."""

    def __init__(self, stack: str, problems: list[str], unlisted: int = 0):
        more = max(0, len(problems) - MAX_PROBLEMS_SHOWN) + unlisted
        self.problems = list(problems[:MAX_PROBLEMS_SHOWN]) + (
            [f"and {more} more problem(s) of the same kinds; fix these first"] if more > 0 else [])
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"stack '{stack}' has {len(self.problems)} configuration problem(s):\n{lines}")


# -- parsers: raw config value -> typed value, or Invalid((shown value, what is allowed), ...) ---------------------
class Invalid(ValueError):
    """A raw value a parser rejects; one ``(shown value, why)`` pair per problem."""

    def __init__(self, *problems: tuple[Any, str]):
        super().__init__(problems)
        self.problems = problems


Parser = Callable[[Any], Any]
SURROUNDING_SPACE = "has spaces or a line break around it; remove them"
Rule = tuple[Callable[[Any], bool], str]  # (what a good value satisfies, why a bad one is refused)


def _join(values: Collection) -> str:
    return ", ".join(map(str, values))


SHOWN_CHARACTERS = 80  # an error line shows at most this much of a long value


def shown(value: Any) -> str:
    """A value as an error line shows it: its repr, cut after ``SHOWN_CHARACTERS`` characters of a long one."""
    if isinstance(value, str) and len(value) > SHOWN_CHARACTERS:
        return f"{value[:SHOWN_CHARACTERS]!r}… ({len(value)} characters)"
    text = repr(value)
    if len(text) > SHOWN_CHARACTERS + 20:
        return f"{text[:SHOWN_CHARACTERS]}… ({len(text)} characters)"
    return text


def text(match: re.Pattern | Collection[str] | None = None, allowed: str = "") -> Parser:
    """A string, matching a pattern or one of some choices (``allowed`` defaults to "must be one of ...")."""
    if match is not None and not isinstance(match, re.Pattern):
        allowed = allowed or f"must be one of {_join(match)}"

    def parse(raw: Any) -> str:
        value = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw  # YAML's all-digit ids
        if isinstance(value, str) and value != value.strip():
            raise Invalid((value, SURROUNDING_SPACE))
        good = isinstance(value, str) and (match is None or (
            bool(match.fullmatch(value)) if isinstance(match, re.Pattern) else value in match))
        if not good:
            raise Invalid((value, allowed))
        return value
    return parse


# The one spelling of a whole number, for every key: ASCII digits with an optional leading minus (so that -1 gets the
# bounds message). No "_", "+", inner spaces, non-ASCII digits (Python's int() takes "1_4" and "١٤"), 0x or 1e3.
# Spaces around the number are dropped (they cannot change what it means); 19 digits is past any bound.
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,19}")


def integer(lo: int, hi: int, choices: Collection[int] = (), allowed: str = "") -> Parser:
    def parse(raw: Any) -> int:
        text = str(raw).strip() if isinstance(raw, (int, str)) and not isinstance(raw, bool) else ""
        if not _WHOLE_NUMBER.fullmatch(text):
            raise Invalid((raw, f"must be a whole number from {lo} to {hi}"))
        number = int(text)
        if not lo <= number <= hi:
            raise Invalid((number, f"must be from {lo} to {hi}"))
        if choices and number not in choices:
            raise Invalid((number, allowed or f"must be one of {_join(choices)}"))
        return number
    return parse


def boolean() -> Parser:
    def parse(raw: Any) -> bool:
        if isinstance(raw, bool):
            return raw
        word = raw.strip().lower() if isinstance(raw, str) else None
        if word not in ("true", "false"):
            raise Invalid((raw, "must be true or false"))
        return word == "true"
    return parse


def text_list(item: Parser | None = None, shape: str = "must be a list of strings, e.g. [\"a\", \"b\"]",
              empty: str = "") -> Parser:
    """A list of strings (JSON in config), each checked by ``item`` (every bad item is its own problem); when
    ``empty`` is given, an empty list is refused with that reason."""
    def parse(raw: Any) -> tuple[str, ...]:
        try:
            items = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise Invalid((raw, shape))
        if empty and not items:
            raise Invalid((items, empty))
        problems: list[tuple[Any, str]] = []
        for each in items if item else ():
            try:
                item(each)
            except Invalid as bad:
                problems.extend(bad.problems)
        if problems:
            raise Invalid(*problems)
        return tuple(items)
    return parse


def _cidr(raw: Any, why: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR in the one form AWS stores and shows: address/prefix, the address the network's own (AWS masks host
    bits, and a plan would then differ from what it reads back), no leading zeros, no netmask, the prefix written."""
    raw = text(None, why)(raw)
    try:
        net = ipaddress.ip_network(raw, strict=False)
    except ValueError:
        raise Invalid((raw, why)) from None
    address, slash, _ = raw.partition("/")
    try:
        host_bits = slash and ipaddress.ip_address(address) != net.network_address
    except ValueError:
        host_bits = False
    if host_bits:
        raise Invalid((raw, f"has host bits set; did you mean {net}?"))
    if str(net) != raw:
        raise Invalid((raw, f"is not written the way AWS takes a CIDR (address/prefix length, no leading zeros, no "
                            f"netmask); write it as {net}"))
    return net


def _vpc_cidr(raw: Any) -> str:
    net = _cidr(raw, "is not an IPv4 CIDR, e.g. 10.40.0.0/16")
    private = net.version == 4 and any(net.subnet_of(r) for r in VPC_RANGES)  # type: ignore[arg-type]
    if not private or not VPC_PREFIXES[0] <= net.prefixlen <= VPC_PREFIXES[1]:
        raise Invalid((raw, "must be a private IPv4 range from /16 to /24, e.g. 10.40.0.0/16"))
    return raw


def _operator_cidr(raw: str) -> str:
    net = _cidr(raw, "is not a CIDR, e.g. 203.0.113.0/24")
    if net.prefixlen == 0:
        raise Invalid((raw, "opens operator access to the whole internet; name your office or VPN range instead"))
    return raw


def _operator_cidrs(raw: Any) -> tuple[str, ...]:
    """Each range a CIDR, and all of them together no wider than ``cidrs.MAX_SHARE`` of an address family."""
    ranges = text_list(_operator_cidr)(raw)
    for _version, share, space in cidrs.too_wide(ranges)[:1]:
        raise Invalid((list(ranges), f"together cover {cidrs.percent(share)} of the {space} (the limit "
                                     f"is under {cidrs.MAX_SHARE_TEXT}); name your office or VPN range instead"))
    return ranges


def _pg_name(problem: Callable[[str], str | None]) -> Parser:
    """A lower-case identifier RDS accepts as a database or user name, and none that ``problem`` names
    (components/pg_names.py: reserved words, the server's and the migrations' own names)."""
    identifier = text(_IDENTIFIER, _IDENTIFIER_ALLOWED)

    def parse(raw: Any) -> str:
        name = identifier(raw)
        why = problem(name)
        if why:
            raise Invalid((name, why))
        return name
    return parse


def _exempt_actions(raw: Any) -> tuple[str, ...]:
    actions = text_list(text(_IAM_ACTION, "is not an IAM action pattern such as service:* or service:Action"),
                        shape="must be a list of IAM actions, e.g. [\"bedrock:*\"]")(raw)
    rds = [a for a in actions if a.split(":")[0] == "rds"]
    if rds:
        raise Invalid(*((a, "would let RDS run in any region; the region guardrail exists to keep the database in "
                            "allowedRegions") for a in rds))
    return actions


CLOUDWATCH_RETENTION = integer(1, 3653, LOG_RETENTION_DAYS,
                               f"must be a CloudWatch Logs retention value: {_join(LOG_RETENTION_DAYS)}")


def _run_schedule(raw: Any) -> RunSchedule | None:
    """``dbRunSchedule``: empty (always on) or when the instance runs (components/run_schedule.py)."""
    if not isinstance(raw, str):
        raise Invalid((shown(raw), f"must be a string: empty (always on) or {run_schedule.FORMAT}"))
    if not raw:
        return None
    try:
        return run_schedule.parse(raw)
    except run_schedule.BadSchedule as bad:
        raise Invalid((shown(raw), str(bad))) from None


# -- rules ----------------------------------------------------------------------------------------------------------
def must_be(expected: Any, why: str) -> Rule:
    return (lambda value: value == expected, why)


def at_least(floor: int, why: str) -> Rule:
    return (lambda value: value >= floor, why)


@dataclass(frozen=True)
class Setting:
    key: str
    parse: Parser
    check: Rule | None = None  # every stack
    prod: Rule | None = None  # prod stacks (and stacks whose environment is invalid)


def setting(key: str, parse: Parser, *, check: Rule | None = None, prod: Rule | None = None, **kwargs) -> Any:
    """Declare a field read from config ``key``. With ``default=`` the key is optional (inside an object)."""
    return field(metadata={"setting": Setting(key, parse, check, prod)}, **kwargs)


def declared(section: type) -> list[tuple[Any, Setting]]:
    """The (dataclass field, Setting) pairs of a section, in declaration order."""
    return [(f, f.metadata["setting"]) for f in fields(section) if "setting" in f.metadata]


# -- the sections ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NetworkSettings:
    vpc_cidr: str = setting("vpcCidr", _vpc_cidr)
    availability_zones: int = setting("availabilityZones", integer(2, 3))
    operator_cidrs: tuple[str, ...] = setting("operatorCidrs", _operator_cidrs)


_IDENTIFIER_ALLOWED = "must be a lower-case identifier (letters, digits, _)"


@dataclass(frozen=True)
class DatabaseSettings:
    name: str = setting("dbName", _pg_name(pg_names.database_name_problem))
    master_username: str = setting("masterUsername", _pg_name(pg_names.master_username_problem))
    engine_version: str = setting(
        "engineVersion", text(ENGINE_FAMILIES, "must be a supported RDS PostgreSQL major version: "
                                               f"{_join(ENGINE_FAMILIES)}"))
    instance_class: str = setting(
        "instanceClass", text(_INSTANCE_CLASS, "must be an RDS instance class such as db.t4g.micro or db.m7g.large"))
    allocated_storage_gb: int = setting("allocatedStorageGb", integer(20, 65536))
    max_allocated_storage_gb: int = setting("maxAllocatedStorageGb", integer(21, 65536))
    backup_retention_days: int = setting(
        "backupRetentionDays", integer(1, 35),
        prod=at_least(PROD_MIN_BACKUP_DAYS, f"prod needs at least {PROD_MIN_BACKUP_DAYS} days of backups"))
    multi_az: bool = setting("multiAz", boolean(), prod=must_be(True, "prod must run Multi-AZ"))
    master_password_rotation_days: int = setting(
        "masterPasswordRotationDays", integer(1, 365),
        prod=(lambda days: days <= PROD_MAX_ROTATION_DAYS,
              f"prod rotates the master password at least every {PROD_MAX_ROTATION_DAYS} days"))
    deletion_protection: bool = setting("deletionProtection", boolean(),
                                        prod=must_be(True, "prod must keep deletion protection on"))
    skip_final_snapshot: bool = setting("skipFinalSnapshot", boolean(),
                                        prod=must_be(False, "prod must take a final snapshot"))
    publicly_accessible: bool = setting(
        "publiclyAccessible", boolean(),
        check=must_be(False, "must be false on every stack: the database has no public path; reach it through "
                             "the operator endpoint (runbooks/break-glass.md)"))
    storage_encrypted: bool = setting(
        "storageEncrypted", boolean(),
        check=must_be(True, "must be true on every stack: storage is encrypted with the stack's KMS key"))
    performance_insights: bool = setting(
        "performanceInsights", boolean(),
        prod=must_be(True, "prod must keep Performance Insights on (what a prod incident is diagnosed with)"))
    monitoring_interval_seconds: int = setting(
        "monitoringIntervalSeconds", integer(0, 60, MONITORING_INTERVALS),
        prod=at_least(1, "prod must keep enhanced monitoring on"))
    # Set ONLY while a major-version upgrade is in progress: the major the instance runs now (runbooks/upgrade-major.md).
    # Must be exactly one major below engineVersion; empty otherwise (then no major change is allowed at all).
    upgrade_from_engine_version: str = setting(
        "upgradeFromEngineVersion", text(_MAJOR_OR_EMPTY, "must be empty (no upgrade in progress) or the major "
                                                          "version the instance runs now, e.g. 16"))
    # When a dev instance runs (stopped outside those hours: no instance-hours billed); None: always on.
    run_schedule: RunSchedule | None = setting(
        "dbRunSchedule", _run_schedule,
        prod=must_be(None, "prod runs around the clock; a run schedule is for dev stacks only (leave it empty)"))
    # Scaling out (docs/scaling.md): streaming read replicas of the instance, their class (empty: the primary's), and
    # an RDS Proxy in front of the primary. Both cost money, so both are off by default.
    read_replicas: int = setting("readReplicas", integer(0, MAX_READ_REPLICAS))
    replica_instance_class: str = setting(
        "replicaInstanceClass", text(_INSTANCE_CLASS_OR_EMPTY, "must be empty (the replicas take instanceClass) or an "
                                                               "RDS instance class such as db.t4g.small"))
    rds_proxy: bool = setting("rdsProxy", boolean())
    port: int = 5432

    @property
    def replica_class(self) -> str:
        """The read replicas' instance class: ``replicaInstanceClass``, or the primary's when it is empty."""
        return self.replica_instance_class or self.instance_class

    @property
    def family(self) -> str:
        """The parameter-group family of the engine version."""
        return ENGINE_FAMILIES[self.engine_version]

    @property
    def major_upgrade(self) -> bool:
        """A major-version upgrade is in progress (blue/green to ``engine_version``)."""
        return bool(self.upgrade_from_engine_version)


@dataclass(frozen=True)
class AuditSettings:
    trail: bool = setting("auditTrail", boolean(), prod=must_be(True, "prod must keep its CloudTrail trail on"))
    trail_log_retention_days: int = setting(
        "trailLogRetentionDays", CLOUDWATCH_RETENTION,
        prod=at_least(PROD_MIN_TRAIL_LOG_DAYS,
                      f"prod keeps the trail in CloudWatch Logs at least {PROD_MIN_TRAIL_LOG_DAYS} days"))
    trail_bucket_transition_days: int = setting("trailBucketTransitionDays", integer(1, TRAIL_MAX_DAYS))
    trail_bucket_expire_days: int = setting(
        "trailBucketExpireDays", integer(2, TRAIL_MAX_DAYS),
        prod=at_least(PROD_MIN_TRAIL_EXPIRE_DAYS,
                      f"prod keeps trail log files at least {PROD_MIN_TRAIL_EXPIRE_DAYS} days"))
    trail_bucket_force_destroy: bool = setting(
        "trailBucketForceDestroy", boolean(), prod=must_be(False, "prod never force-destroys its audit log bucket"))
    guard_duty: bool = setting(
        "guardDuty", boolean(), prod=must_be(True, "prod must keep GuardDuty with RDS Protection on "
                                                   "(adopt an existing detector with guardDutyDetectorId)"))
    # An existing detector to adopt (an account/region holds one detector); empty: this stack creates one.
    guard_duty_detector_id: str = setting(
        "guardDutyDetectorId", text(_DETECTOR_ID_OR_EMPTY, "must be empty (this stack creates the detector) or an "
                                    "existing GuardDuty detector id (32 lower-case hex characters, "
                                    "`aws guardduty list-detectors`)"))


@dataclass(frozen=True)
class OrganizationSettings:
    """Organization guardrails (service control policies), from the object ``cruddur-db:organization``.

    Off unless ``manage_guardrails``; then ``target_id`` (account, OU or root id) and ``break_glass_role_name``
    are always set. ``exempt_region_services`` are extra ``service:Action`` patterns the region-deny SCP lets
    through in any region, on top of the AWS-documented global services.
    """
    manage_guardrails: bool = setting("manageGuardrails", boolean(), default=False)
    target_id: str | None = setting(
        "targetId", text(_ORG_TARGET, "must be a 12-digit account id (quote it in the stack file so YAML keeps "
                                      "leading zeros), an OU id (ou-xxxx-yyyyyyyy) or the root id (r-xxxx)"),
        default=None)
    break_glass_role_name: str | None = setting(
        "breakGlassRoleName", text(_IAM_ROLE_NAME, "must be an IAM role name (letters, digits and +=,.@_-, at "
                                                   "most 64; no wildcards, no path)"),
        default=None)
    exempt_region_services: tuple[str, ...] = setting("exemptRegionsServices", _exempt_actions, default=())


ORGANIZATION_KEYS = tuple(spec.key for _, spec in declared(OrganizationSettings))


_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def _cron(raw: Any) -> str:
    """An EventBridge/AWS Backup cron expression in UTC (components/aws_schedule.py: AWS's grammar)."""
    try:
        return aws_schedule.check(raw, rate=False)
    except aws_schedule.BadExpression as bad:
        raise Invalid((raw, str(bad))) from None


@dataclass(frozen=True)
class MonitoringSettings:
    """CloudWatch alarms + dashboard on the instance and the confirmation function, and the alarm topic."""
    alarms: bool = setting("alarms", boolean(), prod=must_be(True, "prod must keep its CloudWatch alarms on"))
    # The dashboard of the alarmed metrics ($3/month: docs/costs.md); the alarms work without it.
    dashboard: bool = setting("dashboard", boolean())
    # The stack's AWS Budgets budget (actual and forecasted alerts at 80 % and 100 %), and the plan's cost ceiling.
    monthly_budget_usd: int = setting("monthlyBudgetUsd", integer(1, 1_000_000))
    # The stack activates its Stack cost allocation tag, which the budget filters on. Only an organization's
    # management account (or a standalone account) may: false in a member account, whose management account does it.
    activate_stack_cost_tag: bool = setting("activateStackCostTag", boolean())
    emails: tuple[str, ...] = setting(
        "alarmEmails", text_list(text(_EMAIL, "is not an email address (name@example.com)")))
    free_storage_percent: int = setting("alarmFreeStoragePercent", integer(1, 50))
    cpu_percent: int = setting("alarmCpuPercent", integer(10, 100))
    cpu_credit_balance: int = setting("alarmCpuCreditBalance", integer(1, 1000))  # db.t* classes only
    freeable_memory_percent: int = setting("alarmFreeableMemoryPercent", integer(1, 50))  # never below 64 MiB
    connections_percent: int = setting("alarmConnectionsPercent", integer(10, 100))  # of max_connections
    latency_ms: int = setting("alarmLatencyMs", integer(1, 5000))
    disk_queue_depth: int = setting("alarmDiskQueueDepth", integer(1, 1000))
    max_used_transaction_ids: int = setting("alarmMaxUsedTransactionIds", integer(250_000_000, 1_500_000_000))


@dataclass(frozen=True)
class RestoreDrillSettings:
    """AWS Backup (vault, daily + weekly rules) and the scheduled restore test validated by a Lambda."""
    enabled: bool = setting("restoreDrill", boolean(),
                            prod=must_be(True, "prod must keep its restore drill on (runbooks/restore.md)"))
    daily_retention_days: int = setting(
        "backupDailyRetentionDays", integer(1, 365),
        prod=at_least(PROD_MIN_BACKUP_DAYS,
                      f"prod keeps daily AWS Backup recovery points at least {PROD_MIN_BACKUP_DAYS} days"))
    weekly_retention_days: int = setting("backupWeeklyRetentionDays", integer(7, 3650))
    # EventBridge cron() in UTC: when Backup restores the latest recovery point for the drill.
    schedule: str = setting("restoreDrillSchedule", _cron)
    # users and activities must each hold at least this many rows in the restored copy.
    min_rows: int = setting("restoreDrillMinRows", integer(0, 1_000_000_000),
                            prod=at_least(1, "prod's restored copy must hold users and activities (at least 1)"))


@dataclass(frozen=True)
class AppAccessSettings:
    """The app's network path (existing security groups of the backend the database admits too, SG ids only) and
    its password's rotation period."""
    security_group_ids: tuple[str, ...] = setting(
        "appSecurityGroupIds", text_list(text(_SG_ID, "must be an existing security group id (sg- and 8 to 17 "
                                                      "lower-case hex characters), never a CIDR: the database "
                                                      "admits security groups only")))
    # The app secret rotates with alternating users (components/master_rotation.py AppRotation); the previous
    # user's password stays valid one more period, so the app must re-read its URL within this many days.
    password_rotation_days: int = setting(
        "appPasswordRotationDays", integer(1, 365),
        prod=(lambda days: days <= PROD_MAX_ROTATION_DAYS,
              f"prod rotates the app password at least every {PROD_MAX_ROTATION_DAYS} days"))


@dataclass(frozen=True)
class ConfirmationSettings:
    """The sign-up confirmation (Cognito user pool + post-confirmation Lambda); derived, no keys of its own."""
    user_pool_deletion_protection: bool  # prod: always on


@dataclass(frozen=True)
class Settings:
    environment: str = setting("environment", text(ENVIRONMENTS))
    allowed_regions: tuple[str, ...] = setting(
        "allowedRegions", text_list(text(_REGION, "is not an AWS region name (e.g. eu-west-1)"),
                                    empty="must name at least one region (data residency)"))
    # The stack-wide CloudWatch Logs retention: database logs, VPC flow logs and Lambda logs share it.
    log_retention_days: int = setting(
        "logRetentionDays", CLOUDWATCH_RETENTION,
        prod=at_least(PROD_MIN_LOG_RETENTION_DAYS, f"prod keeps logs at least {PROD_MIN_LOG_RETENTION_DAYS} days"))
    # Pulumi `protect` on the resources whose loss loses data (the instance, its secret, the KMS keys, the trail
    # bucket, the user pool): `pulumi destroy` and any replacement of them stop (docs/stacks-and-settings.md).
    protect_stateful_resources: bool = setting(
        "protectStatefulResources", boolean(),
        prod=must_be(True, "prod must keep its stateful resources protected; to remove one on purpose, lift its "
                           "protection alone with `pulumi state unprotect URN`"))
    # Derived, or read outside the declarations (aws:region, the organization object).
    stack: str
    region: str
    network: NetworkSettings
    database: DatabaseSettings
    audit: AuditSettings
    app_access: AppAccessSettings
    organization: OrganizationSettings
    confirmation: ConfirmationSettings
    monitoring: MonitoringSettings
    restore_drill: RestoreDrillSettings
    tags: dict[str, str] = field(hash=False)
    project: str = PROJECT

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def naming(self) -> Naming:
        """The stack's name, prod-ness and physical-name rule: what every component takes besides its section."""
        return Naming(stack=self.stack, is_prod=self.is_prod, protect=self.protect_stateful_resources)

    def name(self, part: str) -> str:
        """A physical name for this stack: ``cruddur-<stack>-<part>``."""
        return self.naming.physical_name(part)

    @classmethod
    def load(cls) -> Settings:
        return _Loader(pulumi.get_stack()).load()


# The sections read from top-level keys, by the Settings field each fills (Settings' own keys are read first).
SECTIONS = {"network": NetworkSettings, "database": DatabaseSettings, "audit": AuditSettings,
            "app_access": AppAccessSettings, "monitoring": MonitoringSettings,
            "restore_drill": RestoreDrillSettings}


TOP_LEVEL_KEYS = tuple(spec.key for cls in (Settings, *SECTIONS.values()) for _, spec in declared(cls))
# Keys read as one object outside the declarations (``_organization``); a new one must be added here to be known.
OBJECT_KEYS = ("organization",)


def _key(full: str) -> str:
    """A config key as an error line names it: as is when short and printable, else quoted and cut."""
    return full if full.isprintable() and len(full) <= SHOWN_CHARACTERS else shown(full)


class _Loader:
    """Reads every declared key, records a problem per bad value, applies the rules, and builds the settings."""

    def __init__(self, stack: str):
        self.stack = stack
        self.config = pulumi.Config(PROJECT)
        self.problems: list[str] = []
        self.unlisted = 0  # problems only counted (past the first MAX_PROBLEMS_SHOWN unknown keys)

    def _bad(self, key: str, value: Any, allowed: str) -> None:
        self.problems.append(f"{_key(f'{PROJECT}:{key}')} = {shown(value)}: {allowed}")

    def _read(self, section: type, get: Callable[[str], Any], prefix: str = "") -> dict[str, Any]:
        """Each declared field of ``section``: its parsed value (None when bad), after the every-stack check."""
        values: dict[str, Any] = {}
        for f, spec in declared(section):
            key, raw = prefix + spec.key, get(spec.key)
            values[f.name] = None if f.default is MISSING else f.default
            if raw is None and f.default is MISSING:
                self.problems.append(f"{PROJECT}:{key} is not set; it is declared with a default in Pulumi.yaml, "
                                     f"set it with `pulumi config set {key} VALUE`")
            if raw is None:
                continue
            try:
                values[f.name] = value = spec.parse(raw)
            except Invalid as bad:
                values[f.name] = None
                for shown, why in bad.problems:
                    self._bad(key, shown, why)
                continue
            if spec.check and not spec.check[0](value):
                self._bad(key, value, spec.check[1])
        return values

    def load(self) -> Settings:
        self._unknown_keys()
        read = {cls: self._read(cls, self.config.get) for cls in (Settings, *SECTIONS.values())}
        top, database, audit = read[Settings], read[DatabaseSettings], read[AuditSettings]

        environment = top["environment"]
        if environment == "dev" and is_production_stack_name(self.stack):
            self._bad("environment", environment, f"stack '{self.stack}' is a production stack by name; "
                                                  "its environment must be prod")
        elif environment == "dev" and not is_dev_stack_name(self.stack):
            self._bad("environment", environment, f"stack '{self.stack}' does not say dev in its name, and the "
                                                  "policy pack judges a stack by its name: name it with a dev word "
                                                  "(alice-dev, dev2) or set environment: prod")
        prod = environment != "dev"  # an invalid environment is judged by the strict rules
        region = self._region(top["allowed_regions"])
        # Rules that relate two keys.
        allocated, ceiling = database["allocated_storage_gb"], database["max_allocated_storage_gb"]
        if allocated is not None and ceiling is not None and ceiling <= allocated:
            self._bad("maxAllocatedStorageGb", ceiling,
                      f"must be above allocatedStorageGb ({allocated}) so storage can autoscale")
        transition, expire = audit["trail_bucket_transition_days"], audit["trail_bucket_expire_days"]
        if transition is not None and expire is not None and expire <= transition:
            self._bad("trailBucketExpireDays", expire, f"must be above trailBucketTransitionDays ({transition}): "
                                                       "logs move to the archive tier before they expire")
        self._major_upgrade(database["engine_version"], database["upgrade_from_engine_version"])
        self._replicas(database)
        if audit["guard_duty"] is False and audit["guard_duty_detector_id"]:
            self._bad("guardDutyDetectorId", audit["guard_duty_detector_id"],
                      "is set but guardDuty is false; set guardDuty to true to manage RDS Protection on that "
                      "detector, or unset it")
        monitoring, drill = read[MonitoringSettings], read[RestoreDrillSettings]
        if monitoring["alarms"] and database["instance_class"] is not None:
            try:
                instance_memory_gib(database["instance_class"])
            except ValueError:
                self._bad("instanceClass", database["instance_class"],
                          "has no known memory size, which the memory and connection alarms need "
                          "(components/connection_budget.py knows db.t*, db.m*, db.r* and db.x2* classes)")
        daily, weekly = drill["daily_retention_days"], drill["weekly_retention_days"]
        if daily is not None and weekly is not None and weekly < daily:
            self._bad("backupWeeklyRetentionDays", weekly, f"must be at least backupDailyRetentionDays ({daily}): "
                                                           "weekly backups outlive daily ones")
        # prod may not loosen anything: one loop over every declared floor.
        for cls in read if prod else ():
            for f, spec in declared(cls):
                value = read[cls][f.name]
                if spec.prod and value is not None and not spec.prod[0](value):
                    self._bad(spec.key, value, spec.prod[1])
        organization = self._organization()

        if self.problems:
            raise ConfigError(self.stack, self.problems, self.unlisted)
        if not (region and organization):  # unreachable: a missing one is a recorded problem
            raise ConfigError(self.stack, ["aws:region or organization could not be read"])
        tags = {"Project": "cruddur", "Stack": self.stack, "Environment": environment, "ManagedBy": "pulumi",
                "DataResidency": region}
        return Settings(**top, **{name: cls(**read[cls]) for name, cls in SECTIONS.items()},
                        stack=self.stack, region=region, organization=organization, tags=tags,
                        confirmation=ConfirmationSettings(user_pool_deletion_protection=environment == "prod"))

    def _unknown_keys(self) -> None:
        """Every key in this project's namespace must be a declared one, and no key may sit in a namespace that only
        looks like it (``cruddurdb:multiAz``): either would be silently ignored, with its protection."""
        known = [*TOP_LEVEL_KEYS, *OBJECT_KEYS]
        bad = config_keys.outside_the_declarations(known, PROJECT)
        # The first few get a line each (matched against the declared keys, which takes time); the rest a count.
        for full in heapq.nsmallest(MAX_PROBLEMS_SHOWN, bad):
            namespace, _, key = full.partition(":")
            if namespace == PROJECT:
                close = difflib.get_close_matches(key, known, n=1) or [k for k in known if k.lower() == key.lower()]
                hint = f"did you mean {close[0]}?" if close else "see the configuration keys in docs/stacks-and-settings.md"
                self.problems.append(f"{_key(full)} is not a setting of this project (a typo would be "
                                     f"silently ignored); {hint}")
            else:
                self.problems.append(f"{_key(full)} is not in this project's namespace, so it would be silently "
                                     f"ignored; did you mean {_key(PROJECT + ':' + key)}?")
        self.unlisted = max(0, len(bad) - MAX_PROBLEMS_SHOWN)  # counted in the error, never spelled out

    def _major_upgrade(self, target: str | None, current: str | None) -> None:
        """A major-version change goes one major up, through upgradeFromEngineVersion (runbooks/upgrade-major.md)."""
        if not target or not current:
            return
        if int(current) >= int(target):
            self._bad("upgradeFromEngineVersion", current,
                      f"is not below engineVersion ({target}): RDS cannot downgrade a major version; to go back, "
                      "restore the snapshot taken before the upgrade (runbooks/upgrade-major.md)")
        elif int(target) - int(current) > 1:
            self._bad("upgradeFromEngineVersion", current,
                      f"is {int(target) - int(current)} majors below engineVersion ({target}): upgrade one major "
                      f"at a time (set engineVersion to {int(current) + 1} first)")

    def _replicas(self, database: dict[str, Any]) -> None:
        """Read replicas need an instance that runs around the clock and a major upgrade without them."""
        replicas = database["read_replicas"]
        if database["replica_instance_class"] and replicas == 0:
            self._bad("replicaInstanceClass", database["replica_instance_class"],
                      "is set but readReplicas is 0; set readReplicas to declare replicas, or unset it")
        if not replicas:
            return
        # RDS upgrades an instance's read replicas with it in an in-place major upgrade, and a blue/green deployment
        # copies them as replicas of the green instance (RDS User Guide, "Choosing a major version for an RDS for
        # PostgreSQL upgrade" and "Creating a blue/green deployment"). But the provider's blue_green_update, which
        # upgradeFromEngineVersion turns on, cannot carry them: after the switchover each replica's state still names
        # the old "-old1" primary, which the provider deletes, leaving the old replicas billing outside the stack
        # (hashicorp/terraform-provider-aws#33702, its docs since #35488). So the upgrade runs without replicas.
        if database["upgrade_from_engine_version"]:
            self._bad("readReplicas", replicas,
                      "must be 0 while upgradeFromEngineVersion is set: the blue/green upgrade cannot carry read "
                      "replicas (they would be left on the old primary); set readReplicas to 0 for the upgrade and "
                      "back after it (runbooks/upgrade-major.md)")
        # RDS cannot stop an instance that has read replicas, so a run schedule would fail every evening.
        if database["run_schedule"] is not None:
            self._bad("readReplicas", replicas,
                      "must be 0 while dbRunSchedule is set: RDS cannot stop an instance that has read replicas; "
                      "leave dbRunSchedule empty to keep replicas")

    def _region(self, allowed: tuple[str, ...] | None) -> str | None:
        region = pulumi.Config("aws").get("region")
        if not region:
            self.problems.append("aws:region is not set: pin the stack's region in its stack file "
                                 "(`pulumi config set aws:region eu-west-1`); there is no default")
            return None
        if allowed and region not in allowed:
            self.problems.append(f"aws:region = {shown(region)}: not in {PROJECT}:allowedRegions "
                                 f"({', '.join(allowed)}); data must stay in the allowed regions")
            return None
        return region

    def _organization(self) -> OrganizationSettings | None:
        """The optional object ``organization``: absent means no guardrails. Read as one JSON value."""
        key = "organization"
        raw = self.config.get(key)
        if raw is None:
            return OrganizationSettings()
        problems_before = len(self.problems)
        try:
            value = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            self._bad(key, raw, f"must be an object with the keys {', '.join(ORGANIZATION_KEYS)} "
                                "(set them with `pulumi config set --path organization.KEY VALUE`)")
            return None
        for unknown in sorted(set(value) - set(ORGANIZATION_KEYS)):
            self._bad(f"{key}.{unknown}", value[unknown], f"unknown key; allowed: {', '.join(ORGANIZATION_KEYS)}")
        org = self._read(OrganizationSettings, value.get, prefix=f"{key}.")
        if org["manage_guardrails"]:
            if value.get("targetId") is None:
                self._bad(f"{key}.targetId", None, "must be set when organization.manageGuardrails is true: the "
                                                   "account, OU or root the guardrails attach to "
                                                   "(start with a test OU)")
            if value.get("breakGlassRoleName") is None:
                self._bad(f"{key}.breakGlassRoleName", None, "must be set when organization.manageGuardrails is "
                                                             "true: the role exempt from the guardrails "
                                                             "(runbooks/guardrails.md)")
        if len(self.problems) != problems_before:
            return None
        return OrganizationSettings(**org)
