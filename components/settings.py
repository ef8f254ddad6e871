"""The stack's settings: the ONLY module that reads ``pulumi.Config``.

``Settings.load()`` reads every key declared in ``Pulumi.yaml`` (whose defaults are the secure ones), validates
all of them, and either returns a frozen, typed ``Settings`` or raises ``ConfigError`` listing every problem, one
line each, naming the key, the value and what is allowed. Nothing is declared before the settings are valid.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import pulumi

from components.naming import Naming

PROJECT = "cruddur-db"

ENVIRONMENTS = ("dev", "prod")
# RDS PostgreSQL majors this program supports, and the parameter-group family of each.
ENGINE_FAMILIES = {"16": "postgres16", "17": "postgres17"}
MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)
RESERVED_USERNAMES = ("postgres", "root", "admin", "administrator", "rdsadmin", "rdsrepladmin", "master", "user")
PROD_MIN_BACKUP_DAYS = 7
PROD_MIN_LOG_RETENTION_DAYS = 90
# The audit trail: CloudWatch Logs and S3 retention floors for prod (the trail is evidence; keep it a year at least).
PROD_MIN_TRAIL_LOG_DAYS = 365
PROD_MIN_TRAIL_EXPIRE_DAYS = 365
TRAIL_MAX_DAYS = 3653

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+$")
_INSTANCE_CLASS = re.compile(r"^db\.[a-z][a-z0-9-]*\.[a-z0-9]+$")
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DETECTOR_ID = re.compile(r"^[0-9a-f]{32}$")

# Organizations: a policy target is an account id, an OU id or the root id (the pattern AWS's TargetId accepts).
_ORG_TARGET = re.compile(r"^(\d{12}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$")
_IAM_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")  # IAM's role-name charset: no wildcards, no paths
_IAM_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")  # service:Action, service:Prefix* or service:*
ORGANIZATION_KEYS = ("manageGuardrails", "targetId", "breakGlassRoleName", "exemptRegionsServices")


class ConfigError(pulumi.RunError):
    """Bad stack configuration. ``problems`` holds one line per problem; the message lists them all."""

    def __init__(self, stack: str, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"stack '{stack}' has {len(self.problems)} configuration problem(s):\n{lines}")


@dataclass(frozen=True)
class NetworkSettings:
    vpc_cidr: str
    availability_zones: int
    operator_cidrs: tuple[str, ...]


@dataclass(frozen=True)
class DatabaseSettings:
    name: str
    master_username: str
    engine_version: str
    family: str
    instance_class: str
    allocated_storage_gb: int
    max_allocated_storage_gb: int
    backup_retention_days: int
    multi_az: bool
    deletion_protection: bool
    skip_final_snapshot: bool
    publicly_accessible: bool
    storage_encrypted: bool
    performance_insights: bool
    monitoring_interval_seconds: int
    log_retention_days: int
    port: int = 5432


@dataclass(frozen=True)
class AuditSettings:
    trail: bool
    trail_log_retention_days: int
    trail_bucket_transition_days: int
    trail_bucket_expire_days: int
    trail_bucket_force_destroy: bool
    guard_duty: bool
    # An existing detector to adopt (an account/region holds one detector); empty: this stack creates one.
    guard_duty_detector_id: str


@dataclass(frozen=True)
class OrganizationSettings:
    """Organization guardrails (service control policies), from the object ``cruddur-db:organization``.

    Off unless ``manage_guardrails``; then ``target_id`` (account, OU or root id) and ``break_glass_role_name``
    are always set. ``exempt_region_services`` are extra ``service:Action`` patterns the region-deny SCP lets
    through in any region, on top of the AWS-documented global services.
    """
    manage_guardrails: bool = False
    target_id: str | None = None
    break_glass_role_name: str | None = None
    exempt_region_services: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConfirmationSettings:
    """The sign-up confirmation (Cognito user pool + post-confirmation Lambda); derived, no keys of its own."""
    user_pool_deletion_protection: bool  # prod: always on
    log_retention_days: int  # the stack's logRetentionDays, shared with the database and flow logs


@dataclass(frozen=True)
class Settings:
    project: str
    stack: str
    environment: str
    region: str
    allowed_regions: tuple[str, ...]
    network: NetworkSettings
    database: DatabaseSettings
    tags: dict[str, str] = field(hash=False)
    audit: AuditSettings
    organization: OrganizationSettings
    confirmation: ConfirmationSettings | None = None

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def naming(self) -> Naming:
        """The stack's name, prod-ness and physical-name rule: what every component takes besides its section."""
        return Naming(stack=self.stack, is_prod=self.is_prod)

    @property
    def log_retention_days(self) -> int:
        """The stack-wide CloudWatch Logs retention (database, flow logs and Lambda logs share it)."""
        return self.database.log_retention_days

    def name(self, part: str) -> str:
        """A physical name for this stack: ``cruddur-<stack>-<part>``."""
        return f"cruddur-{self.stack}-{part}"

    @classmethod
    def load(cls) -> "Settings":
        return _Loader(pulumi.get_stack()).load()


class _Loader:
    """Reads raw config values, records a problem per bad value, and builds the settings."""

    def __init__(self, stack: str):
        self.stack = stack
        self.config = pulumi.Config(PROJECT)
        self.problems: list[str] = []

    # -- readers: each returns a parsed value, or None after recording a problem -------------------------------
    def _raw(self, key: str) -> str | None:
        value = self.config.get(key)
        if value is None:
            self.problems.append(f"{PROJECT}:{key} is not set; it is declared with a default in Pulumi.yaml, "
                                 f"set it with `pulumi config set {key} VALUE`")
        return value

    def _bad(self, key: str, value: Any, allowed: str) -> None:
        self.problems.append(f"{PROJECT}:{key} = {value!r}: {allowed}")

    def string(self, key: str, check: Callable[[str], bool] | None = None, allowed: str = "") -> str | None:
        value = self._raw(key)
        if value is not None and check is not None and not check(value):
            self._bad(key, value, allowed)
            return None
        return value

    def integer(self, key: str, lo: int, hi: int) -> int | None:
        value = self._raw(key)
        if value is None:
            return None
        try:
            number = int(str(value).strip())
        except ValueError:
            self._bad(key, value, f"must be a whole number from {lo} to {hi}")
            return None
        if not lo <= number <= hi:
            self._bad(key, number, f"must be from {lo} to {hi}")
            return None
        return number

    def boolean(self, key: str) -> bool | None:
        value = self._raw(key)
        if value is None:
            return None
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            self._bad(key, value, "must be true or false")
            return None
        return text == "true"

    def string_list(self, key: str) -> list[str] | None:
        value = self._raw(key)
        if value is None:
            return None
        try:
            items = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            self._bad(key, value, "must be a list of strings, e.g. [\"a\", \"b\"]")
            return None
        return items

    # -- the whole settings object -----------------------------------------------------------------------------
    def load(self) -> Settings:
        environment = self.string("environment", lambda v: v in ENVIRONMENTS, f"must be one of {', '.join(ENVIRONMENTS)}")
        if environment == "dev" and re.match(r"^prod", self.stack):
            self._bad("environment", environment, f"stack '{self.stack}' is a production stack by name; "
                                                   "its environment must be prod")
        prod = environment != "dev"  # an invalid environment is judged by the strict rules

        region, allowed_regions = self._region()
        network = self._network()
        database = self._database(prod)
        audit = self._audit(prod)
        organization = self._organization()

        if self.problems:
            raise ConfigError(self.stack, self.problems)
        assert environment and region and allowed_regions and network and database and audit and organization
        tags = {
            "Project": "cruddur",
            "Stack": self.stack,
            "Environment": environment,
            "ManagedBy": "pulumi",
            "DataResidency": region,
        }
        return Settings(project=PROJECT, stack=self.stack, environment=environment, region=region,
                        allowed_regions=tuple(allowed_regions), network=network, database=database, tags=tags,
                        audit=audit, organization=organization,
                        confirmation=self._confirmation(environment == "prod", database))

    def _region(self) -> tuple[str | None, list[str] | None]:
        allowed = self.string_list("allowedRegions")
        if allowed is not None:
            if not allowed:
                self._bad("allowedRegions", allowed, "must name at least one region (data residency)")
                allowed = None
            else:
                for name in allowed:
                    if not _REGION.match(name):
                        self._bad("allowedRegions", name, "is not an AWS region name (e.g. eu-west-1)")
                        allowed = None
        region = pulumi.Config("aws").get("region")
        if not region:
            self.problems.append("aws:region is not set: pin the stack's region in its stack file "
                                 "(`pulumi config set aws:region eu-west-1`); there is no default")
            return None, allowed
        if allowed is not None and region not in allowed:
            self.problems.append(f"aws:region = {region!r}: not in {PROJECT}:allowedRegions "
                                 f"({', '.join(allowed)}); data must stay in the allowed regions")
            return None, allowed
        return region, allowed

    def _network(self) -> NetworkSettings | None:
        vpc_cidr = self.string("vpcCidr")
        if vpc_cidr is not None:
            try:
                net = ipaddress.ip_network(vpc_cidr, strict=True)
                if net.version != 4 or not net.is_private or not 16 <= net.prefixlen <= 24:
                    self._bad("vpcCidr", vpc_cidr, "must be a private IPv4 range from /16 to /24, e.g. 10.40.0.0/16")
                    vpc_cidr = None
            except ValueError:
                self._bad("vpcCidr", vpc_cidr, "is not an IPv4 CIDR, e.g. 10.40.0.0/16")
                vpc_cidr = None
        azs = self.integer("availabilityZones", 2, 3)
        operator_cidrs = self._operator_cidrs()
        if vpc_cidr is None or azs is None or operator_cidrs is None:
            return None
        return NetworkSettings(vpc_cidr=vpc_cidr, availability_zones=azs, operator_cidrs=tuple(operator_cidrs))

    def _operator_cidrs(self) -> list[str] | None:
        cidrs = self.string_list("operatorCidrs")
        if cidrs is None:
            return None
        good = True
        for cidr in cidrs:
            try:
                net = ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                self._bad("operatorCidrs", cidr, "is not a CIDR, e.g. 203.0.113.0/24")
                good = False
                continue
            if net.prefixlen == 0:
                self._bad("operatorCidrs", cidr, "opens operator access to the whole internet; "
                                                 "name your office or VPN range instead")
                good = False
            elif str(net) != cidr:
                self._bad("operatorCidrs", cidr, f"has host bits set; did you mean {net}?")
                good = False
        return cidrs if good else None

    def _confirmation(self, prod: bool, database: DatabaseSettings) -> ConfirmationSettings:
        return ConfirmationSettings(user_pool_deletion_protection=prod,
                                    log_retention_days=database.log_retention_days)

    def _database(self, prod: bool) -> DatabaseSettings | None:
        problems_before = len(self.problems)
        name = self.string("dbName", _IDENTIFIER.match, "must be a lower-case identifier (letters, digits, _)")
        username = self.string("masterUsername", _IDENTIFIER.match,
                               "must be a lower-case identifier (letters, digits, _)")
        if username is not None and username in RESERVED_USERNAMES:
            self._bad("masterUsername", username, "is a default admin name attackers try first; "
                                                  "use another, e.g. cruddur_admin")
        engine = self.string("engineVersion", lambda v: v in ENGINE_FAMILIES,
                             f"must be a supported RDS PostgreSQL major version: {', '.join(ENGINE_FAMILIES)}")
        instance_class = self.string("instanceClass", _INSTANCE_CLASS.match,
                                     "must be an RDS instance class such as db.t4g.micro or db.m7g.large")
        allocated = self.integer("allocatedStorageGb", 20, 65536)
        max_allocated = self.integer("maxAllocatedStorageGb", 21, 65536)
        if allocated is not None and max_allocated is not None and max_allocated <= allocated:
            self._bad("maxAllocatedStorageGb", max_allocated,
                      f"must be above allocatedStorageGb ({allocated}) so storage can autoscale")
        backups = self.integer("backupRetentionDays", 1, 35)
        multi_az = self.boolean("multiAz")
        deletion_protection = self.boolean("deletionProtection")
        skip_final_snapshot = self.boolean("skipFinalSnapshot")
        public = self.boolean("publiclyAccessible")
        encrypted = self.boolean("storageEncrypted")
        insights = self.boolean("performanceInsights")
        monitoring = self.integer("monitoringIntervalSeconds", 0, 60)
        if monitoring is not None and monitoring not in MONITORING_INTERVALS:
            self._bad("monitoringIntervalSeconds", monitoring,
                      f"must be one of {', '.join(map(str, MONITORING_INTERVALS))}")
        log_days = self.integer("logRetentionDays", 1, 3653)
        if log_days is not None and log_days not in LOG_RETENTION_DAYS:
            self._bad("logRetentionDays", log_days, "must be a CloudWatch Logs retention value: "
                                                    f"{', '.join(map(str, LOG_RETENTION_DAYS))}")

        # Never allowed, on any stack.
        if public:
            self._bad("publiclyAccessible", True, "must be false on every stack: the database has no public path; "
                                                  "reach it through the operator endpoint (runbooks/break-glass.md)")
        if encrypted is False:
            self._bad("storageEncrypted", False, "must be true on every stack: storage is encrypted with the "
                                                 "stack's KMS key")
        # prod may not loosen anything.
        if prod:
            prod_rules = [
                ("deletionProtection", deletion_protection is False, False, "prod must keep deletion protection on"),
                ("skipFinalSnapshot", skip_final_snapshot is True, True, "prod must take a final snapshot"),
                ("multiAz", multi_az is False, False, "prod must run Multi-AZ"),
                ("backupRetentionDays", backups is not None and backups < PROD_MIN_BACKUP_DAYS, backups,
                 f"prod needs at least {PROD_MIN_BACKUP_DAYS} days of backups"),
                ("monitoringIntervalSeconds", monitoring == 0, 0, "prod must keep enhanced monitoring on"),
                ("logRetentionDays", log_days is not None and log_days < PROD_MIN_LOG_RETENTION_DAYS, log_days,
                 f"prod keeps logs at least {PROD_MIN_LOG_RETENTION_DAYS} days"),
            ]
            for key, broken, value, why in prod_rules:
                if broken:
                    self._bad(key, value, why)

        if len(self.problems) != problems_before:
            return None
        assert name and username and engine and instance_class
        return DatabaseSettings(
            name=name, master_username=username, engine_version=engine, family=ENGINE_FAMILIES[engine],
            instance_class=instance_class, allocated_storage_gb=allocated, max_allocated_storage_gb=max_allocated,
            backup_retention_days=backups, multi_az=multi_az, deletion_protection=deletion_protection,
            skip_final_snapshot=skip_final_snapshot, publicly_accessible=bool(public),
            storage_encrypted=bool(encrypted), performance_insights=insights,
            monitoring_interval_seconds=monitoring, log_retention_days=log_days,
        )

    def _audit(self, prod: bool) -> AuditSettings | None:
        problems_before = len(self.problems)
        trail = self.boolean("auditTrail")
        log_days = self.integer("trailLogRetentionDays", 1, TRAIL_MAX_DAYS)
        if log_days is not None and log_days not in LOG_RETENTION_DAYS:
            self._bad("trailLogRetentionDays", log_days, "must be a CloudWatch Logs retention value: "
                                                         f"{', '.join(map(str, LOG_RETENTION_DAYS))}")
        transition = self.integer("trailBucketTransitionDays", 1, TRAIL_MAX_DAYS)
        expire = self.integer("trailBucketExpireDays", 2, TRAIL_MAX_DAYS)
        if transition is not None and expire is not None and expire <= transition:
            self._bad("trailBucketExpireDays", expire,
                      f"must be above trailBucketTransitionDays ({transition}): logs move to the archive tier "
                      "before they expire")
        force_destroy = self.boolean("trailBucketForceDestroy")
        guard_duty = self.boolean("guardDuty")
        detector_id = self.string("guardDutyDetectorId", lambda v: v == "" or bool(_DETECTOR_ID.match(v)),
                                  "must be empty (this stack creates the detector) or an existing GuardDuty "
                                  "detector id (32 lower-case hex characters, `aws guardduty list-detectors`)")
        if guard_duty is False and detector_id:
            self._bad("guardDutyDetectorId", detector_id, "is set but guardDuty is false; set guardDuty to true "
                                                          "to manage RDS Protection on that detector, or unset it")
        if prod:
            prod_rules = [
                ("auditTrail", trail is False, False, "prod must keep its CloudTrail trail on"),
                ("guardDuty", guard_duty is False, False, "prod must keep GuardDuty with RDS Protection on "
                                                          "(adopt an existing detector with guardDutyDetectorId)"),
                ("trailBucketForceDestroy", force_destroy is True, True,
                 "prod never force-destroys its audit log bucket"),
                ("trailLogRetentionDays", log_days is not None and log_days < PROD_MIN_TRAIL_LOG_DAYS, log_days,
                 f"prod keeps the trail in CloudWatch Logs at least {PROD_MIN_TRAIL_LOG_DAYS} days"),
                ("trailBucketExpireDays", expire is not None and expire < PROD_MIN_TRAIL_EXPIRE_DAYS, expire,
                 f"prod keeps trail log files at least {PROD_MIN_TRAIL_EXPIRE_DAYS} days"),
            ]
            for key, broken, value, why in prod_rules:
                if broken:
                    self._bad(key, value, why)
        if len(self.problems) != problems_before:
            return None
        return AuditSettings(
            trail=bool(trail), trail_log_retention_days=log_days, trail_bucket_transition_days=transition,
            trail_bucket_expire_days=expire, trail_bucket_force_destroy=bool(force_destroy),
            guard_duty=bool(guard_duty), guard_duty_detector_id=detector_id or "",
        )
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

        manage = value.get("manageGuardrails", False)
        if isinstance(manage, str) and manage.strip().lower() in ("true", "false"):
            manage = manage.strip().lower() == "true"
        if not isinstance(manage, bool):
            self._bad(f"{key}.manageGuardrails", manage, "must be true or false")
            manage = False

        target = value.get("targetId")
        if isinstance(target, int) and not isinstance(target, bool):
            target = str(target)  # `config set --path` stores an all-digit id as a number
        if target is not None and (not isinstance(target, str) or not _ORG_TARGET.match(target)):
            self._bad(f"{key}.targetId", target, "must be a 12-digit account id (quote it in the stack file so "
                                                "YAML keeps leading zeros), an OU id (ou-xxxx-yyyyyyyy) or the "
                                                "root id (r-xxxx)")
            target = None
        elif manage and target is None:
            self._bad(f"{key}.targetId", None, "must be set when organization.manageGuardrails is true: the "
                                               "account, OU or root the guardrails attach to (start with a test OU)")

        role = value.get("breakGlassRoleName")
        if role is not None and (not isinstance(role, str) or not _IAM_ROLE_NAME.match(role)):
            self._bad(f"{key}.breakGlassRoleName", role, "must be an IAM role name (letters, digits and +=,.@_-, "
                                                         "at most 64; no wildcards, no path)")
            role = None
        elif manage and role is None:
            self._bad(f"{key}.breakGlassRoleName", None, "must be set when organization.manageGuardrails is true: "
                                                         "the role exempt from the guardrails "
                                                         "(runbooks/guardrails.md)")

        exempt = value.get("exemptRegionsServices", [])
        if not isinstance(exempt, list) or not all(isinstance(a, str) for a in exempt):
            self._bad(f"{key}.exemptRegionsServices", exempt, "must be a list of IAM actions, e.g. [\"bedrock:*\"]")
            exempt = []
        for action in exempt:
            if not _IAM_ACTION.match(action) or action in ("*", "*:*"):
                self._bad(f"{key}.exemptRegionsServices", action,
                          "is not an IAM action pattern such as service:* or service:Action")

        if len(self.problems) != problems_before:
            return None
        return OrganizationSettings(manage_guardrails=manage, target_id=target, break_glass_role_name=role,
                                    exempt_region_services=tuple(exempt))
