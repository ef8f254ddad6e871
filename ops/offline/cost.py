"""What a stack costs a month, from what it declares: fixed charges line by line, then usage under stated assumptions.

Pure: the standard library and the region's price file (``ops/offline/prices/<region>.json``), nothing else, so the
policy pack can import it as well as ``cruddur plan``. ``estimate(resources, outputs, region, assumptions)`` takes
what an evaluation recorded (objects or dicts with ``type``, ``name`` and ``props``; props in the provider's
camelCase or the SDK's snake_case) and returns an ``Estimate``:

- ``lines``: every FIXED monthly charge (item, quantity, unit, unit price, USD/month, the resource's name), each
  computed from the price file; ``fixed_total`` is their sum;
- ``usage``: charges that depend on traffic, each under a stated assumption (``Assumptions``, the CLI's flags);
- ``free_tiers``: the free allowances that apply, listed and NOT subtracted (they are per account, not per stack);
- ``unpriced``: resources that have (or may have) a charge the estimator cannot price: an AWS type it has no rule
  for, an instance class missing from the price file. Never silently $0.

Months are 730 hours (AWS's convention); a stack exporting ``dbScheduledHoursPerWeek`` runs its database that many
hours a week, i.e. ``x * 730 / 168`` hours a month. Money is ``Decimal``; each line is rounded to the cent and the
totals are sums of the rounded lines, so a table adds up and a changed line moves the total by exactly its delta.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

PRICES_SUBDIR = ("ops", "offline", "prices")  # under the project folder (ops.paths.PROJECT_ROOT)
HOURS_PER_MONTH = Decimal(730)
HOURS_PER_WEEK = Decimal(168)
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
WEEKS_PER_MONTH = HOURS_PER_MONTH / HOURS_PER_WEEK
CENT = Decimal("0.01")
SCHEDULE_OUTPUT = "dbScheduledHoursPerWeek"
PROXY_MIN_VCPUS = 2  # RDS Proxy bills provisioned instances for at least 2 vCPUs (RDS Proxy pricing page)


class CostError(Exception):
    """Something the estimate cannot be made from; the message is one line naming what to fix."""


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _n(value: Decimal) -> str:
    """A number as written by hand: 5.0 -> 5, 40 -> 40, 0.50 -> 0.5."""
    return f"{Decimal(value).normalize():f}"


def usd(value: Decimal) -> str:
    """``$46.50``."""
    return f"${money(value):,.2f}"


# -- prices ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Price:
    key: str
    usd: Decimal
    unit: str
    source: str
    read: str
    note: str = ""
    free_tier: str = ""
    vcpu: int | None = None

    @property
    def confirmed(self) -> bool:
        return not self.note.startswith("unconfirmed")


@dataclass(frozen=True)
class PriceBook:
    region: str
    path: Path
    prices: dict[str, Price]

    def get(self, key: str) -> Price | None:
        return self.prices.get(key)

    def need(self, key: str) -> Price:
        price = self.prices.get(key)
        if price is None:
            raise CostError(f"{self.path.name} has no price '{key}'; add it (cruddur prices refresh --region "
                            f"{self.region}, or by hand with its source and read date)")
        return price


def default_prices_dir() -> Path:
    """``ops/offline/prices`` of this checkout. Imported late: the module itself needs nothing but the standard
    library, so a caller without ``ops`` (the policy pack) passes its own folder."""
    from ops.paths import PROJECT_ROOT

    return PROJECT_ROOT.joinpath(*PRICES_SUBDIR)


def price_file(region: str, directory: Path | None = None) -> Path:
    return (directory or default_prices_dir()) / f"{region}.json"


def load_prices(region: str, directory: Path | None = None) -> PriceBook:
    """The region's price file, or ``CostError`` naming the region and the file to add."""
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region or ""):
        raise CostError(f"'{region}' is not an AWS region name (e.g. eu-west-1)")
    path = price_file(region, directory)
    if not path.exists():
        raise CostError(f"no prices for region {region}: add {_shown(path)} (cruddur prices refresh --region "
                        f"{region} writes it)")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        entries = document["prices"]
        prices = {}
        for key, entry in entries.items():
            prices[key] = Price(key=key, usd=Decimal(str(entry["usd"])), unit=str(entry["unit"]),
                                source=str(entry["source"]), read=str(entry["read"]), note=str(entry.get("note", "")),
                                free_tier=str(entry.get("free_tier", "")),
                                vcpu=int(entry["vcpu"]) if "vcpu" in entry else None)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CostError(f"{_shown(path)} is not a price file ({type(exc).__name__}: {exc}); each price needs usd, "
                        "unit, source and read") from None
    return PriceBook(region, path, prices)


def _shown(path: Path) -> str:
    """The price file as the project names it (``ops/offline/prices/eu-west-1.json``) when it is this checkout's."""
    try:
        from ops.paths import PROJECT_ROOT

        return path.relative_to(PROJECT_ROOT).as_posix()
    except (ImportError, ValueError):
        return str(path)


# -- assumptions ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Assumptions:
    """The traffic the usage lines are priced for; each is a flag of ``cruddur plan`` (the name in brackets)."""

    monthly_active_users: int = 1000  # --mau: Cognito users who sign in during a month
    data_gb: Decimal = Decimal(5)  # --data-gb: the database's data, as backups and snapshots hold it
    log_gb: Decimal = Decimal(2)  # --log-gb: CloudWatch Logs ingested a month, all log groups together
    trail_events: int = 100_000  # --trail-events: CloudTrail management events a month
    other_trails: int = 0  # --other-trails: trails already recording management events in the account
    lambda_invocations: int = 10_000  # --lambda-invocations: all functions together, a month
    lambda_ms: int = 300  # --lambda-ms: average duration of an invocation
    sns_publishes: int = 1000  # --sns-publishes: messages published to the stack's topics a month
    sqs_requests: int = 1000  # --sqs-requests: requests to the stack's queues a month
    endpoint_gb: Decimal = Decimal(1)  # --endpoint-gb: data through the interface endpoints a month
    s3_gb: Decimal = Decimal(2)  # --s3-gb: what the stack's buckets hold (trail logs, packages)
    restore_hours: Decimal = Decimal(1)  # --restore-hours: time a restore test takes before its validation window
    other_budgets: int = 0  # --other-budgets: budgets the account has besides the stack's (they use the free ones)

    def to_dict(self) -> dict[str, Any]:
        return {k: (int(v) if v == v.to_integral_value() else float(v)) if isinstance(v, Decimal) else v
                for k, v in asdict(self).items()}


# -- the estimate ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    """A fixed monthly charge of one resource."""

    item: str
    quantity: Decimal
    unit: str
    unit_usd: Decimal
    monthly_usd: Decimal
    resource: str
    type: str
    note: str = ""
    kind: str = ""  # what the line charges for, stable across a change of class or size (compares base and head)


@dataclass(frozen=True)
class UsageLine:
    """A charge that depends on traffic, priced under ``assumption``."""

    item: str
    assumption: str
    quantity: Decimal
    unit: str
    unit_usd: Decimal
    monthly_usd: Decimal
    resource: str


@dataclass(frozen=True)
class Unpriced:
    resource: str
    type: str
    reason: str


@dataclass
class Estimate:
    region: str
    price_file: str
    assumptions: Assumptions
    lines: list[Line] = field(default_factory=list)
    usage: list[UsageLine] = field(default_factory=list)
    unpriced: list[Unpriced] = field(default_factory=list)
    free_tiers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unconfirmed_prices: list[str] = field(default_factory=list)
    stack: str = ""

    @property
    def fixed_total(self) -> Decimal:
        return sum((line.monthly_usd for line in self.lines), Decimal("0.00"))

    @property
    def usage_total(self) -> Decimal:
        return sum((line.monthly_usd for line in self.usage), Decimal("0.00"))

    def fixed_line(self) -> str:
        """The one line CI and people read: ``fixed: $46.50/month``."""
        return f"fixed: {usd(self.fixed_total)}/month"

    def to_dict(self) -> dict[str, Any]:
        def number(v: Decimal) -> float | int:
            return int(v) if v == v.to_integral_value() else float(v)

        return {
            "stack": self.stack, "region": self.region, "price_file": self.price_file,
            "fixed": {"total_usd": float(self.fixed_total),
                      "lines": [{"item": x.item, "quantity": number(x.quantity), "unit": x.unit,
                                 "unit_usd": float(x.unit_usd), "monthly_usd": float(x.monthly_usd),
                                 "resource": x.resource, "type": x.type, "kind": x.kind, "note": x.note}
                                for x in self.lines]},
            "usage": {"total_usd": float(self.usage_total),
                      "lines": [{"item": x.item, "assumption": x.assumption, "quantity": number(x.quantity),
                                 "unit": x.unit, "unit_usd": float(x.unit_usd), "monthly_usd": float(x.monthly_usd),
                                 "resource": x.resource} for x in self.usage]},
            "unpriced": [asdict(x) for x in self.unpriced],
            "free_tiers": list(self.free_tiers), "notes": list(self.notes),
            "unconfirmed_prices": list(self.unconfirmed_prices),
            "assumptions": self.assumptions.to_dict(),
        }


# -- reading resources ----------------------------------------------------------------------------------------------
def _field(resource: Any, name: str, default: Any = None) -> Any:
    if isinstance(resource, dict):
        return resource.get(name, default)
    return getattr(resource, name, default)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def prop(props: dict, name: str, default: Any = None) -> Any:
    """``props[name]`` in camelCase (the engine's inputs) or snake_case (the SDK's names)."""
    if name in props:
        return props[name]
    return props.get(_snake(name), default)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


@dataclass(frozen=True)
class _Resource:
    type: str
    name: str
    props: dict
    custom: bool


def _resources(resources: list) -> list[_Resource]:
    out = []
    for r in resources:
        props = _field(r, "props")
        if props is None and not isinstance(r, dict):
            props = _field(r, "inputs", {})
        out.append(_Resource(str(_field(r, "type", "")), str(_field(r, "name", "")), dict(props or {}),
                             bool(_field(r, "custom", True))))
    return out


# -- schedules ------------------------------------------------------------------------------------------------------
_DOW = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
_MONTHS = {name: i for i, name in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                                             "NOV", "DEC"), start=1)}


def _count(field_text: str, low: int, high: int, names: dict[str, int] | None = None) -> int:
    """How many values a cron field selects (``*``, ``5``, ``1-5``, ``MON-FRI``, ``0/15``, ``*/6``, lists)."""
    values: set[int] = set()

    def value(text: str) -> int:
        text = text.upper()
        if names and text in names:
            return names[text]
        if not text.isdigit():
            raise ValueError(text)
        return int(text)

    for part in field_text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
            if part in ("*", ""):
                part = f"{low}-{high}"
            elif "-" not in part:
                part = f"{part}-{high}"
        if part == "*":
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = value(a), value(b)
        else:
            start = end = value(part)
        if not (low <= start <= end <= high) or step < 1:
            raise ValueError(part)
        values.update(range(start, end + 1, step))
    return len(values)


def runs_per_month(expression: str) -> Decimal:
    """How often a schedule expression (EventBridge, Scheduler and AWS Backup share the syntax) fires in a 730-hour
    month: ``rate(1 day)`` ~30.42, ``cron(0 6 ? * MON *)`` 730/168 ~4.35, ``at(...)`` 0 (once, not monthly).
    ``CostError`` for what it cannot read."""
    text = (expression or "").strip()
    try:
        rate = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", text)
        if rate:
            minutes = int(rate[1]) * {"m": 1, "h": 60, "d": 1440}[rate[2][0]]
            if minutes < 1:
                raise ValueError(text)
            return HOURS_PER_MONTH * 60 / minutes
        if re.fullmatch(r"at\(.+\)", text):
            return Decimal(0)
        cron = re.fullmatch(r"cron\((.+)\)", text)
        if not cron:
            raise ValueError(text)
        fields = cron[1].split()
        if len(fields) != 6:
            raise ValueError(text)
        minute, hour, dom, month, dow, _year = fields
        per_day = _count(minute, 0, 59) * _count(hour, 0, 23)
        if dom == "?":
            days = Decimal(_day_of_week_count(dow)) * WEEKS_PER_MONTH
        elif dom in ("L", "LW") or dom.endswith("W"):
            days = Decimal(1)
        else:
            days = DAYS_PER_MONTH if dom == "*" else Decimal(_count(dom, 1, 31))
        months = Decimal(12) if month == "*" else Decimal(_count(month, 1, 12, _MONTHS))
        return per_day * days * months / 12
    except (ValueError, KeyError, ZeroDivisionError):
        raise CostError(f"cannot read the schedule expression '{expression}' (expected rate(...), cron(...) or "
                        "at(...))") from None


def _day_of_week_count(dow: str) -> Decimal:
    if "#" in dow or dow.endswith("L"):  # "MON#1", "5L": each entry fires once a month
        return Decimal(len(dow.split(","))) / WEEKS_PER_MONTH
    return Decimal(_count(dow, 1, 7, _DOW))


# -- pricing rules --------------------------------------------------------------------------------------------------
# Types with no charge of their own (their cost, if any, is another resource's line or a usage line).
NO_CHARGE_TYPES = frozenset({
    "aws:backup/plan:Plan", "aws:backup/selection:Selection", "aws:backup/vault:Vault",
    "aws:backup/vaultNotifications:VaultNotifications", "aws:backup/vaultPolicy:VaultPolicy",
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration",
    "aws:backup/restoreTestingSelection:RestoreTestingSelection",  # priced with its restore testing plan
    "aws:budgets/budgetAction:BudgetAction",  # makes its budget action-enabled (priced on the budget)
    "aws:costexplorer/costAllocationTag:CostAllocationTag",  # activating a cost allocation tag is free
    "aws:cloudwatch/eventRule:EventRule", "aws:cloudwatch/eventTarget:EventTarget",
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy", "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter",
    "aws:cloudwatch/logMetricFilter:LogMetricFilter",
    "aws:cognito/userPoolClient:UserPoolClient", "aws:cognito/userPoolDomain:UserPoolDomain",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl",
    "aws:ec2/defaultRouteTable:DefaultRouteTable", "aws:ec2/flowLog:FlowLog", "aws:ec2/routeTable:RouteTable",
    "aws:ec2/routeTableAssociation:RouteTableAssociation", "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/securityGroupRule:SecurityGroupRule", "aws:ec2/subnet:Subnet", "aws:ec2/vpc:Vpc",
    "aws:ec2/networkAcl:NetworkAcl", "aws:ec2/networkAclRule:NetworkAclRule",
    "aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint",
    "aws:guardduty/detector:Detector", "aws:iam/policy:Policy", "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
    "aws:iam/instanceProfile:InstanceProfile", "aws:iam/serviceLinkedRole:ServiceLinkedRole",
    "aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy", "aws:lambda/functionUrl:FunctionUrl",
    "aws:kms/alias:Alias", "aws:kms/grant:Grant", "aws:kms/keyPolicy:KeyPolicy",
    "aws:lambda/codeSigningConfig:CodeSigningConfig", "aws:lambda/eventSourceMapping:EventSourceMapping",
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig", "aws:lambda/invocation:Invocation",
    "aws:lambda/layerVersion:LayerVersion", "aws:lambda/permission:Permission", "aws:lambda/alias:Alias",
    "aws:organizations/policy:Policy", "aws:organizations/policyAttachment:PolicyAttachment",
    "aws:rds/parameterGroup:ParameterGroup", "aws:rds/subnetGroup:SubnetGroup",
    "aws:rds/optionGroup:OptionGroup",
    # billed through the proxy itself (_Pricer.rds_proxy): a target group and its target have no charge of their own
    "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup", "aws:rds/proxyTarget:ProxyTarget",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "aws:s3/bucketLogging:BucketLogging",
    "aws:s3/bucketObjectv2:BucketObjectv2", "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketPolicy:BucketPolicy", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketNotification:BucketNotification",
    "aws:scheduler/scheduleGroup:ScheduleGroup",
    "aws:secretsmanager/secretPolicy:SecretPolicy", "aws:secretsmanager/secretRotation:SecretRotation",
    "aws:secretsmanager/secretVersion:SecretVersion",
    "aws:signer/signingJob:SigningJob", "aws:signer/signingProfile:SigningProfile",  # free for Lambda code signing
    "aws:sns/topicPolicy:TopicPolicy", "aws:sns/topicSubscription:TopicSubscription",
    "aws:sqs/queuePolicy:QueuePolicy", "aws:sqs/redrivePolicy:RedrivePolicy",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
})
# Types whose whole cost is traffic: they get usage lines, never a fixed line.
USAGE_TYPES = frozenset({
    "aws:cloudtrail/trail:Trail", "aws:cloudwatch/logGroup:LogGroup", "aws:cognito/userPool:UserPool",
    "aws:lambda/function:Function", "aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2",
    "aws:scheduler/schedule:Schedule", "aws:sns/topic:Topic", "aws:sqs/queue:Queue",
})


class _Pricer:
    def __init__(self, resources: list[_Resource], outputs: dict, book: PriceBook, assumptions: Assumptions,
                 estimate: Estimate):
        self.resources = resources
        self.outputs = outputs or {}
        self.book = book
        self.a = assumptions
        self.e = estimate
        self.used: dict[str, Price] = {}
        self.db_hours = self._db_hours()

    # -- helpers
    def price(self, key: str) -> Price:
        price = self.book.need(key)
        self.used[key] = price
        return price

    def fixed(self, r: _Resource, item: str, quantity: Decimal, unit: str, price: Price, note: str = "",
              kind: str = "") -> None:
        self.e.lines.append(Line(item, quantity, unit, price.usd, money(quantity * price.usd), r.name, r.type, note,
                                 kind or item))

    def use(self, item: str, assumption: str, quantity: Decimal, unit: str, price: Price, resource: str) -> None:
        self.e.usage.append(UsageLine(item, assumption, quantity, unit, price.usd, money(quantity * price.usd),
                                      resource))

    def unpriced(self, r: _Resource, reason: str) -> None:
        self.e.unpriced.append(Unpriced(r.name, r.type, reason))

    def instance_price(self, instance_class: str) -> Price | None:
        price = self.book.get(f"rds.instance.{instance_class}")
        if price is not None:
            self.used[price.key] = price
        return price

    def _db_hours(self) -> Decimal:
        if SCHEDULE_OUTPUT not in self.outputs:
            return HOURS_PER_MONTH
        value = self.outputs[SCHEDULE_OUTPUT]
        hours = _number(value)
        if hours is None or not (0 <= hours <= HOURS_PER_WEEK):
            raise CostError(f"stack output {SCHEDULE_OUTPUT} is {value!r}; it must be a number of hours from 0 to 168")
        self.e.notes.append(f"the database runs {_n(hours)} hours a week (output {SCHEDULE_OUTPUT}): "
                            f"{_n(hours)} x 730/168 = {hours * WEEKS_PER_MONTH:.2f} instance-hours a month")
        return hours * WEEKS_PER_MONTH

    def of_type(self, typ: str) -> list[_Resource]:
        return [r for r in self.resources if r.type == typ and r.custom]

    # -- one rule per type
    def _instance_by_identifier(self, identifier: Any) -> _Resource | None:
        return next((i for i in self.of_type("aws:rds/instance:Instance")
                     if identifier and prop(i.props, "identifier") == identifier), None)

    def rds_instance(self, r: _Resource) -> None:
        cls = str(prop(r.props, "instanceClass", ""))
        multi_az = bool(prop(r.props, "multiAz", False))
        copies = Decimal(2 if multi_az else 1)
        deployment = "Multi-AZ" if multi_az else "Single-AZ"
        # A read replica is billed as an instance of its own class, with storage the size of its source's.
        source = self._instance_by_identifier(prop(r.props, "replicateSourceDb", None))
        if source is not None:
            deployment = f"read replica of {prop(source.props, 'identifier')}"
        price = self.instance_price(cls)
        if price is None:
            self.unpriced(r, f"instance class {cls or '(none)'}: no price in {self.book.path.name} "
                             f"(add rds.instance.{cls})")
        else:
            hours = self.db_hours * copies
            self.fixed(r, f"RDS {cls} ({deployment})", hours, "instance-hours", price,
                       "2 instances (primary + standby)" if multi_az else "", kind="rds instance")
        storage_type = str(prop(r.props, "storageType", "") or "gp2")
        gb = _number(prop(r.props, "allocatedStorage", 0)) or Decimal(0)
        if not gb and source is not None:
            gb = _number(prop(source.props, "allocatedStorage", 0)) or Decimal(0)
        storage = self.book.get(f"rds.storage.{storage_type}")
        if storage is None:
            self.unpriced(r, f"storage type {storage_type}: no rds.storage.{storage_type} in {self.book.path.name}")
        elif gb:
            self.used[storage.key] = storage
            self.fixed(r, f"RDS {storage_type} storage ({deployment})", gb * copies, "GB-months", storage,
                       "storage is billed while the instance is stopped", kind="rds storage")
        iops = _number(prop(r.props, "iops", None))
        if iops and storage_type != "gp3":
            self.unpriced(r, f"{_n(iops)} provisioned IOPS on {storage_type}")
        elif iops and gp3_above_baseline(gb, iops, _number(prop(r.props, "storageThroughput", None))):
            self.unpriced(r, f"gp3 IOPS/throughput above the included baseline ({_n(iops)} IOPS)")
        if prop(r.props, "performanceInsightsEnabled", False):
            retention = _number(prop(r.props, "performanceInsightsRetentionPeriod", 7)) or Decimal(7)
            if retention > 7:
                self.unpriced(r, f"Performance Insights kept {_n(retention)} days (beyond the free 7)")
            else:
                self._free("rds.performance_insights")
        self._free("rds.backup_storage")
        if prop(r.props, "publiclyAccessible", False):  # a public instance holds a public IPv4 address
            self.fixed(r, "Public IPv4 address (publicly accessible instance)", self.db_hours, "address-hours",
                       self.price("vpc.public_ipv4.hour"), kind="rds public ipv4")
        if (_number(prop(r.props, "monitoringInterval", 0)) or 0) > 0:
            self.e.notes.append(f"{r.name}: Enhanced Monitoring writes RDSOSMetrics to CloudWatch Logs (in --log-gb)")

    def rds_proxy(self, r: _Resource) -> None:
        """RDS Proxy: per vCPU-hour of the instance it fronts, at least ``rds.proxy.vcpu_hour``'s minimum (2 vCPUs
        for provisioned instances); the standby of a Multi-AZ instance is not counted."""
        name = prop(r.props, "name")
        targets = [prop(t.props, "dbInstanceIdentifier") for t in self.of_type("aws:rds/proxyTarget:ProxyTarget")
                   if name and prop(t.props, "dbProxyName") == name]
        instances = [self._instance_by_identifier(target) for target in targets]
        if not instances or any(i is None for i in instances):
            self.unpriced(r, "RDS Proxy whose target instance is not in this stack (its vCPUs price it)")
            return
        vcpus = Decimal(0)
        for instance in instances:
            cls = str(prop(instance.props, "instanceClass", ""))
            price = self.instance_price(cls)
            if price is None or price.vcpu is None:
                self.unpriced(r, f"RDS Proxy in front of {cls or '(no class)'}: no vCPU count in "
                                 f"{self.book.path.name} (add rds.instance.{cls} with its vcpu)")
                return
            vcpus += price.vcpu
        billed = max(vcpus, Decimal(PROXY_MIN_VCPUS))
        self.fixed(r, f"RDS Proxy ({_n(billed)} vCPUs)", billed * HOURS_PER_MONTH, "vCPU-hours",
                   self.price("rds.proxy.vcpu_hour"),
                   f"{_n(vcpus)} vCPUs of its target, billed for at least {PROXY_MIN_VCPUS}", kind="rds proxy")

    def vpc_endpoint(self, r: _Resource) -> None:
        kind = str(prop(r.props, "vpcEndpointType", "Gateway") or "Gateway")
        if kind == "Gateway":
            return  # gateway endpoints (S3, DynamoDB) have no charge
        if kind != "Interface":
            self.unpriced(r, f"{kind} endpoint")
            return
        azs = Decimal(len(prop(r.props, "subnetIds", None) or []))
        service = str(prop(r.props, "serviceName", "")).rsplit(".", 1)[-1] or "?"
        self.fixed(r, f"Interface endpoint ({service}) x {_n(azs)} AZ", azs * HOURS_PER_MONTH, "AZ-hours",
                   self.price("vpc.interface_endpoint.az_hour"), kind="interface endpoint")

    def restore_testing_plan(self, r: _Resource) -> None:
        plan_name = prop(r.props, "name")
        runs = runs_per_month(str(prop(r.props, "scheduleExpression", "")))
        selections = [s for s in self.of_type("aws:backup/restoreTestingSelection:RestoreTestingSelection")
                      if prop(s.props, "restoreTestingPlanName") == plan_name]
        for selection in selections:
            kind = prop(selection.props, "protectedResourceType")
            arns = prop(selection.props, "protectedResourceArns", None) or []
            if kind != "RDS" or not arns or "*" in arns:
                self.unpriced(selection, f"restore test of {kind} resources {arns or '(by conditions)'}")
                continue
            window = _number(prop(selection.props, "validationWindowHours", 0)) or Decimal(0)
            hours_each = self.a.restore_hours + window
            for arn in arns:
                instance = self._instance_by_arn(arn)
                cls = str(prop(instance.props, "instanceClass", "")) if instance else ""
                price = self.instance_price(cls) if cls else None
                if price is None:
                    self.unpriced(r, f"restore test of {arn}: its instance class is not priced")
                    continue
                self.fixed(r, f"Restore test: {cls} copy ({runs:.2f} runs x {_n(hours_each)} h)",
                           runs * hours_each, "instance-hours", price,
                           f"{_n(self.a.restore_hours)} h restore (--restore-hours) + {_n(window)} h validation window",
                           kind=f"restore test instance {arn}")
                gb = _number(prop(instance.props, "allocatedStorage", 0)) or Decimal(0)
                storage = self.book.get(f"rds.storage.{prop(instance.props, 'storageType', '') or 'gp2'}")
                if storage is not None and gb:
                    self.used[storage.key] = storage
                    self.fixed(r, f"Restore test: {_n(gb)} GB copy storage", gb * runs * hours_each / HOURS_PER_MONTH,
                               "GB-months", storage, kind=f"restore test storage {arn}")
                job = self.price("backup.restore_testing.job")
                if job.usd:
                    self.fixed(r, "Restore test: jobs", runs, "jobs", job, kind=f"restore test jobs {arn}")

    def _instance_by_arn(self, arn: str) -> _Resource | None:
        identifier = arn.rsplit(":db:", 1)[-1] if ":db:" in arn else None
        for instance in self.of_type("aws:rds/instance:Instance"):
            if identifier and prop(instance.props, "identifier") == identifier:
                return instance
        instances = self.of_type("aws:rds/instance:Instance")
        return instances[0] if len(instances) == 1 and identifier is None else None

    def guardduty_feature(self, r: _Resource) -> None:
        if prop(r.props, "status") != "ENABLED":
            return
        name = prop(r.props, "name")
        if name != "RDS_LOGIN_EVENTS":
            self.unpriced(r, f"GuardDuty feature {name}")
            return
        price = self.price("guardduty.rds.vcpu_hour")
        for instance in self.of_type("aws:rds/instance:Instance"):
            cls = str(prop(instance.props, "instanceClass", ""))
            cls_price = self.instance_price(cls)
            if cls_price is None or cls_price.vcpu is None:
                self.unpriced(r, f"RDS Protection of {instance.name}: vCPUs of {cls} unknown")
                continue
            vcpu_hours = Decimal(cls_price.vcpu) * self.db_hours
            self.fixed(r, f"GuardDuty RDS Protection: {cls} ({cls_price.vcpu} vCPU)", vcpu_hours, "vCPU-hours",
                       price, "usage-priced per vCPU-hour; fixed given the instance class (primary only)",
                       kind=f"guardduty rds protection {instance.name}")

    def kms_key(self, r: _Resource) -> None:
        self.fixed(r, "KMS customer managed key", Decimal(1), "key-months", self.price("kms.key.month"),
                   "each automatic rotation adds $1/month for the first two rotations" if
                   prop(r.props, "enableKeyRotation", False) else "")

    def secret(self, r: _Resource) -> None:
        self.fixed(r, "Secrets Manager secret", Decimal(1), "secret-months", self.price("secretsmanager.secret.month"))

    def dashboard(self, r: _Resource) -> None:
        self.fixed(r, "CloudWatch dashboard", Decimal(1), "dashboard-months", self.price("cloudwatch.dashboard.month"))

    def metric_alarm(self, r: _Resource) -> None:
        queries = prop(r.props, "metricQueries", None) or []
        metrics = Decimal(sum(1 for q in queries if prop(q, "metric", None)) or 1)
        period = _number(prop(r.props, "period", None))
        if not queries and period is not None and period < 60:
            kind, key = "high resolution", "cloudwatch.alarm.high_resolution.month"
        else:
            kind, key = "standard resolution", "cloudwatch.alarm.standard.month"
        if any(prop(q, "expression", "") and "ANOMALY_DETECTION_BAND" in str(prop(q, "expression", ""))
               for q in queries):
            self.unpriced(r, "anomaly detection alarm")
            return
        self.fixed(r, f"CloudWatch alarm ({kind})", metrics, "alarm metric-months", self.price(key))

    def ssm_parameter(self, r: _Resource) -> None:
        tier = str(prop(r.props, "tier", "Standard") or "Standard")
        if tier != "Standard":  # Advanced (and Intelligent-Tiering, which may become Advanced) are charged
            self.unpriced(r, f"{tier} SSM parameter")

    def composite_alarm(self, r: _Resource) -> None:
        self.fixed(r, "CloudWatch composite alarm", Decimal(1), "alarm-months",
                   self.price("cloudwatch.alarm.composite.month"))

    def budgets(self, budgets: list[_Resource]) -> None:
        actions = {prop(a.props, "budgetName") for a in self.of_type("aws:budgets/budgetAction:BudgetAction")}
        free_left = max(0, 2 - self.a.other_budgets)
        plain = [b for b in budgets if prop(b.props, "name") not in actions]
        with_actions = [b for b in budgets if prop(b.props, "name") in actions]
        for group, key in ((plain, "budgets.budget.day"), (with_actions, "budgets.action_budget.day")):
            price = self.price(key) if group else None
            for i, budget in enumerate(group):
                if i < free_left:
                    self._free(key)
                    continue
                self.fixed(budget, "AWS Budgets budget beyond the free ones", DAYS_PER_MONTH, "budget-days", price,
                           f"{self.a.other_budgets} other budget(s) in the account (--other-budgets)")

    def _free(self, key: str) -> None:
        price = self.book.get(key)
        if price is not None:
            self.used[key] = price

    # -- usage
    def usage_lines(self) -> None:
        a = self.a
        lambdas = self.of_type("aws:lambda/function:Function")
        if lambdas:
            per = Decimal(a.lambda_invocations) / len(lambdas)
            self.use("Lambda requests", f"{a.lambda_invocations:,} invocations a month (--lambda-invocations)",
                     Decimal(a.lambda_invocations) / 1_000_000, "million requests", self.price("lambda.request.million"),
                     f"{len(lambdas)} functions")
            by_arch: dict[str, Decimal] = {}
            for fn in lambdas:
                arch = (prop(fn.props, "architectures", None) or ["x86_64"])[0]
                memory = _number(prop(fn.props, "memorySize", 128)) or Decimal(128)
                gb_s = per * Decimal(a.lambda_ms) / 1000 * memory / 1024
                by_arch[arch] = by_arch.get(arch, Decimal(0)) + gb_s
            for arch, gb_s in sorted(by_arch.items()):
                self.use(f"Lambda compute ({arch})", f"{a.lambda_ms} ms each, spread evenly over the functions "
                         "(--lambda-ms)", gb_s, "GB-seconds", self.price(f"lambda.gb_second.{arch}"),
                         f"{len(lambdas)} functions")
        if self.of_type("aws:cloudwatch/logGroup:LogGroup"):
            groups = self.of_type("aws:cloudwatch/logGroup:LogGroup")
            self.use("CloudWatch Logs ingestion", f"{_n(a.log_gb)} GB ingested a month (--log-gb)", a.log_gb, "GB",
                     self.price("logs.ingestion.gb"), f"{len(groups)} log groups")
            retention = max((_number(prop(g.props, "retentionInDays", 0)) or Decimal(0) for g in groups),
                            default=Decimal(0))
            months = min(retention / Decimal("30.4"), Decimal(12)) if retention else Decimal(12)
            self.use("CloudWatch Logs storage", f"{_n(a.log_gb)} GB a month kept up to {months:.1f} months "
                     "(the longest retention, at most a year in view)", a.log_gb * months, "GB-months",
                     self.price("logs.storage.gb_month"), f"{len(groups)} log groups")
        for pool in self.of_type("aws:cognito/userPool:UserPool"):
            tier = str(prop(pool.props, "userPoolTier", "ESSENTIALS") or "ESSENTIALS").lower()
            self.use(f"Cognito monthly active users ({tier})", f"{a.monthly_active_users:,} MAU (--mau)",
                     Decimal(a.monthly_active_users), "MAU", self.price(f"cognito.mau.{tier}"), pool.name)
        topics = self.of_type("aws:sns/topic:Topic")
        if topics:
            self.use("SNS publishes", f"{a.sns_publishes:,} messages a month (--sns-publishes)",
                     Decimal(a.sns_publishes) / 1_000_000, "million requests", self.price("sns.publish.million"),
                     f"{len(topics)} topics")
        queues = self.of_type("aws:sqs/queue:Queue")
        if queues:
            self.use("SQS requests", f"{a.sqs_requests:,} requests a month (--sqs-requests)",
                     Decimal(a.sqs_requests) / 1_000_000, "million requests", self.price("sqs.request.million"),
                     f"{len(queues)} queues")
        for schedule in self.of_type("aws:scheduler/schedule:Schedule"):
            runs = runs_per_month(str(prop(schedule.props, "scheduleExpression", "")))
            self.use("EventBridge Scheduler invocations", f"{runs:.2f} a month from its schedule expression",
                     runs / 1_000_000, "million invocations", self.price("scheduler.invocation.million"),
                     schedule.name)
        self._trails()
        if self.of_type("aws:guardduty/detector:Detector"):
            self.use("GuardDuty foundational: CloudTrail events analysed", f"{a.trail_events:,} management events "
                     "a month (--trail-events); VPC flow and DNS logs not estimated",
                     Decimal(a.trail_events) / 1_000_000, "million events",
                     self.price("guardduty.cloudtrail_events.million"), "guardduty detector")
        endpoints = [e for e in self.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
                     if prop(e.props, "vpcEndpointType") == "Interface"]
        if endpoints:
            self.use("Interface endpoint data processed", f"{_n(a.endpoint_gb)} GB a month (--endpoint-gb)",
                     a.endpoint_gb, "GB", self.price("vpc.interface_endpoint.gb"), f"{len(endpoints)} endpoints")
        buckets = self.of_type("aws:s3/bucket:Bucket") + self.of_type("aws:s3/bucketV2:BucketV2")
        if buckets:
            self.use("S3 Standard storage", f"{a.s3_gb:g} GB held (--s3-gb)", a.s3_gb, "GB-months",
                     self.price("s3.standard.gb_month"), f"{len(buckets)} buckets")
        if self.of_type("aws:rds/instance:Instance"):
            self.use("RDS backup and snapshot storage", f"{_n(a.data_gb)} GB of data, one full copy kept (--data-gb)",
                     a.data_gb, "GB-months", self.price("rds.backup_storage"), "database backups")

    def _trails(self) -> None:
        a = self.a
        for i, trail in enumerate(self.of_type("aws:cloudtrail/trail:Trail")):
            selectors = prop(trail.props, "eventSelectors", None) or []
            management = not selectors or any(prop(s, "includeManagementEvents", True) for s in selectors)
            copy_number = a.other_trails + i + 1
            if management and copy_number == 1:
                self._free("cloudtrail.management_copy.100k")
            elif management:
                self.use("CloudTrail management events (additional copy)",
                         f"{a.trail_events:,} events a month (--trail-events); copy {copy_number} in the account "
                         f"(--other-trails {a.other_trails})", Decimal(a.trail_events) / 100_000, "100,000 events",
                         self.price("cloudtrail.management_copy.100k"), trail.name)
            data = [s for s in selectors if prop(s, "dataResources", None)]
            if data or prop(trail.props, "advancedEventSelectors", None):
                self.use("CloudTrail data events", f"{a.trail_events:,} events a month assumed (--trail-events)",
                         Decimal(a.trail_events) / 100_000, "100,000 events",
                         self.price("cloudtrail.data_events.100k"), trail.name)


def gp3_above_baseline(gb: Decimal, iops: Decimal, throughput: Decimal | None) -> bool:
    """RDS gp3 includes 3,000 IOPS / 125 MiB/s below 400 GB and 12,000 / 500 from 400 GB."""
    big = gb >= 400
    return iops > (12_000 if big else 3_000) or (throughput or 0) > (500 if big else 125)


_RULES = {
    "aws:rds/instance:Instance": _Pricer.rds_instance,
    "aws:rds/proxy:Proxy": _Pricer.rds_proxy,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _Pricer.vpc_endpoint,
    "aws:backup/restoreTestingPlan:RestoreTestingPlan": _Pricer.restore_testing_plan,
    "aws:guardduty/detectorFeature:DetectorFeature": _Pricer.guardduty_feature,
    "aws:kms/key:Key": _Pricer.kms_key,
    "aws:kms/replicaKey:ReplicaKey": _Pricer.kms_key,
    "aws:secretsmanager/secret:Secret": _Pricer.secret,
    "aws:cloudwatch/dashboard:Dashboard": _Pricer.dashboard,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _Pricer.metric_alarm,
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": _Pricer.composite_alarm,
    "aws:ssm/parameter:Parameter": _Pricer.ssm_parameter,
}
_FREE_MARKERS = {  # a type present -> the free allowance listed with the estimate
    "aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint": "ec2.instance_connect_endpoint",
    "aws:kms/key:Key": "kms.key.month", "aws:secretsmanager/secret:Secret": "secretsmanager.secret.month",
    "aws:cloudwatch/dashboard:Dashboard": "cloudwatch.dashboard.month",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "cloudwatch.alarm.standard.month",
    "aws:guardduty/detectorFeature:DetectorFeature": "guardduty.rds.vcpu_hour",
}


def estimate(resources: list, outputs: dict | None, region: str, assumptions: Assumptions | None = None,
             prices_dir: Path | None = None, stack: str = "") -> Estimate:
    """The monthly estimate of ``resources`` (what a stack declares) in ``region``. ``CostError`` when the region
    has no price file, a price the rules need is missing, or an input cannot be read."""
    book = load_prices(region, prices_dir)
    assumptions = assumptions or Assumptions()
    result = Estimate(region=region, price_file=_shown(book.path), assumptions=assumptions, stack=stack)
    items = _resources(resources)
    pricer = _Pricer(items, outputs or {}, book, assumptions, result)
    budgets = []
    for r in items:
        if not r.custom or not r.type.startswith("aws:"):
            continue  # components, providers, random/tls values: nothing is billed for them
        if r.type in _FREE_MARKERS:
            pricer._free(_FREE_MARKERS[r.type])
        rule = _RULES.get(r.type)
        if rule is not None:
            rule(pricer, r)
        elif r.type == "aws:budgets/budget:Budget":
            budgets.append(r)
        elif r.type not in NO_CHARGE_TYPES and r.type not in USAGE_TYPES:
            pricer.unpriced(r, "no pricing rule for this type: add one to ops/offline/cost.py, or list it as having "
                               "no charge of its own")
    if budgets:
        pricer.budgets(budgets)
    pricer.usage_lines()
    result.free_tiers = [p.free_tier for p in pricer.used.values() if p.free_tier]
    result.free_tiers = list(dict.fromkeys(result.free_tiers))
    result.unconfirmed_prices = sorted(k for k, p in pricer.used.items() if not p.confirmed)
    # by type and name: the resources come in the order the engine registered them, which outputs resolving in
    # another order can change from one run to the next
    result.unpriced.sort(key=lambda u: (u.type, u.resource, u.reason))
    return result
