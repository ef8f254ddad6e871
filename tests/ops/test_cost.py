"""The cost estimate of the committed stacks, line by line from the price file's real values (no totals pinned: the
stacks change; each line's arithmetic is what is asserted), and what a changed class, Multi-AZ or a stop/start
schedule does to it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ops.offline.cost import (
    HOURS_PER_MONTH,
    WEEKS_PER_MONTH,
    Assumptions,
    CostError,
    default_prices_dir,
    estimate,
    money,
    runs_per_month,
)
from ops.offline.stack_eval import evaluate
from tests.components.conftest import dev, prod  # noqa: F401 - the committed stacks' evaluations

REGION = "eu-west-1"
PRICES = json.loads((default_prices_dir() / f"{REGION}.json").read_text())["prices"]


def price(key: str) -> Decimal:
    return Decimal(str(PRICES[key]["usd"]))


def cost_of(evaluation, assumptions: Assumptions | None = None, outputs: dict | None = None):
    return estimate(evaluation.resources, evaluation.outputs if outputs is None else outputs,
                    evaluation.config["aws:region"], assumptions, stack=evaluation.stack)


def lines(result, kind: str) -> list:
    return [line for line in result.lines if line.kind == kind]


def one(result, kind: str):
    (line,) = lines(result, kind)
    return line


def prop(resource, name: str):
    return resource.props[name]


def db_hours(evaluation) -> Decimal:
    """730 a month, or what the stack's stop/start schedule output leaves (the stacks may gain one)."""
    weekly = evaluation.outputs.get("dbScheduledHoursPerWeek")
    return HOURS_PER_MONTH if weekly is None else Decimal(str(weekly)) * WEEKS_PER_MONTH


# dev with every optional part on (the committed dev file may turn the dashboard and the restore drill off).
FULL = {"restoreDrill": True, "dashboard": True}


@pytest.fixture(scope="module")
def dev_full():
    return evaluate("dev", overrides=FULL)


@pytest.fixture(scope="module")
def dev_small():
    return evaluate("dev", overrides={**FULL, "instanceClass": "db.t4g.small"})


@pytest.fixture(scope="module")
def dev_multi_az():
    return evaluate("dev", overrides={"multiAz": True})


def test_the_known_eu_west_1_figures_are_in_the_price_file():
    assert price("rds.instance.db.t4g.micro") == Decimal("0.017")
    assert money(HOURS_PER_MONTH * price("rds.instance.db.t4g.micro")) == Decimal("12.41")
    assert price("vpc.interface_endpoint.az_hour") == Decimal("0.011")
    assert price("rds.storage.gp3") == Decimal("0.127")
    assert money(20 * price("rds.storage.gp3")) == Decimal("2.54")
    assert price("cloudwatch.dashboard.month") == Decimal("3.00")
    assert price("kms.key.month") == Decimal("1.00")


@pytest.mark.parametrize("region", ["eu-west-1", "eu-central-1"])
def test_every_price_says_where_and_when_it_was_read_and_every_allowed_class_is_priced(region):
    prices = json.loads((default_prices_dir() / f"{region}.json").read_text())["prices"]
    for key, entry in prices.items():
        assert set(entry) >= {"usd", "unit", "source", "read"}, key
        assert entry["source"].startswith(("https://", "http://", "AWS Price List Query API")), key
        assert len(entry["read"]) == 10 and entry["read"] <= "2026-12-06", key
    for family, sizes in (("t4g", ("micro", "small", "medium", "large", "xlarge")), ("m7g", ("large", "xlarge")),
                          ("r7g", ("large", "xlarge"))):
        for size in sizes:
            entry = prices[f"rds.instance.db.{family}.{size}"]
            assert entry["usd"] > 0 and entry["vcpu"] in (2, 4), (family, size)


def test_dev_rds_lines_come_from_the_price_file(dev):  # noqa: F811 - the imported fixture, by name
    result = cost_of(dev)
    instance = dev.one("aws:rds/instance:Instance")
    rds = one(result, "rds instance")
    assert (rds.item, rds.quantity, rds.unit, rds.resource) == (
        "RDS db.t4g.micro (Single-AZ)", db_hours(dev), "instance-hours", instance.name)
    assert rds.unit_usd == price("rds.instance.db.t4g.micro")
    assert rds.monthly_usd == money(db_hours(dev) * price("rds.instance.db.t4g.micro"))
    storage = one(result, "rds storage")
    assert storage.quantity == prop(instance, "allocatedStorage") == 20
    assert storage.monthly_usd == money(20 * price("rds.storage.gp3")) == Decimal("2.54")


def test_interface_endpoint_is_priced_per_az_hour_per_subnet(dev, prod):  # noqa: F811
    endpoints = [
        {"type": "aws:ec2/vpcEndpoint:VpcEndpoint", "name": "ssm", "props": {
            "vpcEndpointType": "Interface", "serviceName": "com.amazonaws.eu-west-1.ssm", "subnetIds": ["a", "b"]}},
        {"type": "aws:ec2/vpcEndpoint:VpcEndpoint", "name": "s3", "props": {
            "vpcEndpointType": "Gateway", "serviceName": "com.amazonaws.eu-west-1.s3"}}]
    (line,) = estimate(endpoints, {}, REGION).lines  # the gateway endpoint has no charge
    assert (line.item, line.quantity, line.resource) == ("Interface endpoint (ssm) x 2 AZ", 2 * 730, "ssm")
    assert line.monthly_usd == Decimal("16.06")  # 2 AZ x 730 h x $0.011
    for evaluation in (dev, prod):  # the committed stacks' interface endpoints, however many they keep
        result = cost_of(evaluation)
        for endpoint in evaluation.of_type("aws:ec2/vpcEndpoint:VpcEndpoint"):
            if prop(endpoint, "vpcEndpointType") == "Interface":
                (line,) = [x for x in lines(result, "interface endpoint") if x.resource == endpoint.name]
                azs = len(prop(endpoint, "subnetIds"))
                assert line.monthly_usd == money(azs * 730 * price("vpc.interface_endpoint.az_hour"))


def test_keys_secrets_dashboard_and_alarms_each_get_their_line(dev_full):
    dev = dev_full  # noqa: F811 - here dev has its optional parts on
    result = cost_of(dev)

    def names(kind: str) -> list[str]:
        return sorted(line.resource for line in lines(result, kind))

    assert names("KMS customer managed key") == sorted(r.name for r in dev.of_type("aws:kms/key:Key"))
    assert names("Secrets Manager secret") == sorted(r.name for r in dev.of_type("aws:secretsmanager/secret:Secret"))
    assert names("CloudWatch dashboard") == [dev.one("aws:cloudwatch/dashboard:Dashboard").name]
    alarms = dev.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert names("CloudWatch alarm (standard resolution)") == sorted(r.name for r in alarms)
    for line in result.lines:
        expected = {"KMS customer managed key": price("kms.key.month"),
                    "Secrets Manager secret": price("secretsmanager.secret.month"),
                    "CloudWatch dashboard": price("cloudwatch.dashboard.month"),
                    "CloudWatch alarm (standard resolution)": price("cloudwatch.alarm.standard.month")}.get(line.kind)
        if expected is not None:
            assert (line.quantity, line.monthly_usd) == (1, expected)


def test_restore_test_runs_the_instance_class_for_restore_plus_validation_window_each_scheduled_run(dev_full):
    dev = dev_full  # noqa: F811 - here dev has its optional parts on
    result = cost_of(dev, Assumptions(restore_hours=Decimal("1.5")))
    plan = dev.one("aws:backup/restoreTestingPlan:RestoreTestingPlan")
    selection = dev.one("aws:backup/restoreTestingSelection:RestoreTestingSelection")
    assert prop(plan, "scheduleExpression") == "cron(0 6 ? * MON *)"  # weekly: 730/168 runs a month
    runs = WEEKS_PER_MONTH
    hours = Decimal("1.5") + Decimal(str(prop(selection, "validationWindowHours")))
    (arn,) = prop(selection, "protectedResourceArns")
    copy = one(result, f"restore test instance {arn}")
    assert copy.resource == plan.name and copy.quantity == runs * hours
    assert copy.monthly_usd == money(runs * hours * price("rds.instance.db.t4g.micro"))
    jobs = one(result, f"restore test jobs {arn}")
    assert jobs.monthly_usd == money(runs * price("backup.restore_testing.job"))
    storage = one(result, f"restore test storage {arn}")
    assert storage.monthly_usd == money(20 * runs * hours / 730 * price("rds.storage.gp3"))


def test_guardduty_rds_protection_is_the_classes_vcpus_every_hour(prod):  # noqa: F811
    line = one(cost_of(prod), "guardduty rds protection db-instance")
    instance_class = prop(prod.one("aws:rds/instance:Instance"), "instanceClass")
    vcpu = PRICES[f"rds.instance.{instance_class}"]["vcpu"]
    assert line.item == f"GuardDuty RDS Protection: {instance_class} ({vcpu} vCPU)"
    assert (line.quantity, line.unit) == (vcpu * db_hours(prod), "vCPU-hours")
    assert line.monthly_usd == money(vcpu * db_hours(prod) * price("guardduty.rds.vcpu_hour"))


def test_fixed_total_is_the_sum_of_its_lines_and_reads_as_one_line(dev, prod):  # noqa: F811
    for evaluation in (dev, prod):
        result = cost_of(evaluation)
        assert result.fixed_total == sum(line.monthly_usd for line in result.lines)
        assert result.fixed_line() == f"fixed: ${result.fixed_total:,.2f}/month"
        assert result.unpriced == []  # every fixed charge of today's stacks has a rule
        assert all(line.monthly_usd > 0 for line in result.lines)


def test_a_changed_instance_class_moves_the_total_by_exactly_its_lines(dev_full, dev_small):
    dev = dev_full  # noqa: F811 - here dev has its optional parts on
    micro, small = cost_of(dev), cost_of(dev_small)
    by_kind = {line.kind: line for line in micro.lines}
    changed = {}
    for line in small.lines:
        before = by_kind[line.kind]
        if line.monthly_usd != before.monthly_usd:
            changed[line.kind] = line.monthly_usd - before.monthly_usd
    arn = prop(dev.one("aws:backup/restoreTestingSelection:RestoreTestingSelection"), "protectedResourceArns")[0]
    assert set(changed) == {"rds instance", f"restore test instance {arn}"}  # GuardDuty: same 2 vCPU
    assert changed["rds instance"] == (money(db_hours(dev) * price("rds.instance.db.t4g.small"))
                                       - money(db_hours(dev) * price("rds.instance.db.t4g.micro")))
    assert small.fixed_total - micro.fixed_total == sum(changed.values())
    assert one(small, "rds instance").item == "RDS db.t4g.small (Single-AZ)"


def test_multi_az_doubles_instance_hours_and_storage(dev, dev_multi_az):  # noqa: F811
    single, multi = cost_of(dev), cost_of(dev_multi_az)
    for kind in ("rds instance", "rds storage"):
        assert one(multi, kind).quantity == 2 * one(single, kind).quantity
        assert one(multi, kind).monthly_usd == money(2 * one(single, kind).quantity * one(single, kind).unit_usd)
    assert one(multi, "rds instance").item == "RDS db.t4g.micro (Multi-AZ)"
    assert one(multi, "rds instance").quantity == 2 * db_hours(dev)


def test_a_stop_start_schedule_output_reduces_the_instance_hours(dev):  # noqa: F811
    scheduled = cost_of(dev, outputs={**dev.outputs, "dbScheduledHoursPerWeek": 60})
    hours = Decimal(60) * 730 / 168  # 260.71 hours a month
    rds = one(scheduled, "rds instance")
    assert rds.quantity == hours
    assert rds.monthly_usd == money(hours * price("rds.instance.db.t4g.micro")) == Decimal("4.43")
    assert one(scheduled, "guardduty rds protection db-instance").quantity == 2 * hours
    assert one(scheduled, "rds storage").quantity == 20  # storage is billed while stopped
    assert any("60 hours a week" in note for note in scheduled.notes)
    assert cost_of(dev).fixed_total - scheduled.fixed_total == (
        one(cost_of(dev), "rds instance").monthly_usd - rds.monthly_usd
        + one(cost_of(dev), "guardduty rds protection db-instance").monthly_usd
        - one(scheduled, "guardduty rds protection db-instance").monthly_usd)


@pytest.mark.parametrize("value", ["sixty", 169, -1, True, None])
def test_a_schedule_output_that_is_not_hours_a_week_is_one_line(dev, value):  # noqa: F811
    with pytest.raises(CostError) as caught:
        cost_of(dev, outputs={**dev.outputs, "dbScheduledHoursPerWeek": value})
    assert str(caught.value) == (f"stack output dbScheduledHoursPerWeek is {value!r}; it must be a number of hours "
                                 "from 0 to 168")


def test_a_region_without_a_price_file_is_one_line_naming_the_file(dev):  # noqa: F811
    with pytest.raises(CostError) as caught:
        estimate(dev.resources, dev.outputs, "us-east-1")
    assert str(caught.value) == ("no prices for region us-east-1: add ops/offline/prices/us-east-1.json "
                                 "(cruddur prices refresh --region us-east-1 writes it)")


def test_what_cannot_be_priced_is_listed_never_zero():
    resources = [
        {"type": "aws:ec2/natGateway:NatGateway", "name": "nat", "props": {}},
        {"type": "aws:rds/instance:Instance", "name": "big",
         "props": {"instance_class": "db.x2g.large", "allocated_storage": 100, "storage_type": "gp3"}},
        {"type": "aws:iam/role:Role", "name": "role", "props": {}},  # no charge of its own: no line
        {"type": "aws:ssm/parameter:Parameter", "name": "standard", "props": {"tier": "Standard"}},  # free
        {"type": "aws:ssm/parameter:Parameter", "name": "advanced", "props": {"tier": "Advanced"}},
        {"type": "cruddur:database:Database", "name": "database", "props": {}, "custom": False},
    ]
    result = estimate(resources, {}, REGION)
    assert [(u.resource, u.type, u.reason) for u in result.unpriced] == [
        ("nat", "aws:ec2/natGateway:NatGateway", "no pricing rule for this type: add one to ops/offline/cost.py, or "
                                                 "list it as having no charge of its own"),
        ("big", "aws:rds/instance:Instance", "instance class db.x2g.large: no price in eu-west-1.json (add "
                                             "rds.instance.db.x2g.large)"),
        ("advanced", "aws:ssm/parameter:Parameter", "Advanced SSM parameter")]
    (storage,) = result.lines  # the storage of the unpriced class is still priced (snake_case props read too)
    assert (storage.kind, storage.monthly_usd) == ("rds storage", money(100 * price("rds.storage.gp3")))


def test_budgets_beyond_the_free_ones_are_priced_per_day():
    budgets = [{"type": "aws:budgets/budget:Budget", "name": f"budget-{i}", "props": {"name": f"b{i}"}}
               for i in range(3)]
    assert estimate(budgets[:2], {}, REGION).lines == []  # the account's first two are free
    (line,) = estimate(budgets, {}, REGION).lines
    assert (line.resource, line.unit, line.quantity) == ("budget-2", "budget-days", HOURS_PER_MONTH / 24)
    assert line.monthly_usd == money(HOURS_PER_MONTH / 24 * price("budgets.budget.day"))
    assert len(estimate(budgets, {}, REGION, Assumptions(other_budgets=2)).lines) == 3
    assert "AWS Budgets: the account's first two budgets are free" in estimate(budgets, {}, REGION).free_tiers


def test_usage_lines_state_their_assumption_and_free_tiers_are_listed_not_subtracted(dev):  # noqa: F811
    result = cost_of(dev, Assumptions(monthly_active_users=2000, log_gb=Decimal(3)))
    usage = {line.item: line for line in result.usage}
    cognito = usage["Cognito monthly active users (essentials)"]
    assert (cognito.assumption, cognito.quantity) == ("2,000 MAU (--mau)", 2000)
    assert cognito.monthly_usd == money(2000 * price("cognito.mau.essentials")) == Decimal("30.00")
    assert "Cognito Lite and Essentials: 10,000 monthly active users free" in result.free_tiers
    logs = usage["CloudWatch Logs ingestion"]
    assert logs.monthly_usd == money(3 * price("logs.ingestion.gb"))
    assert "CloudTrail: the first copy of management events in each region is free" in result.free_tiers
    assert "CloudTrail management events (additional copy)" not in usage
    assert "EC2 Instance Connect Endpoint has no charge of its own" in result.free_tiers
    assert result.usage_total == sum(line.monthly_usd for line in result.usage)
    second_copy = {line.item: line for line in cost_of(dev, Assumptions(other_trails=1)).usage}
    trail = second_copy["CloudTrail management events (additional copy)"]
    assert trail.monthly_usd == money(Decimal(100_000) / 100_000 * price("cloudtrail.management_copy.100k"))


def test_a_scheduler_schedule_is_priced_per_invocation_from_its_expression():
    schedule = {"type": "aws:scheduler/schedule:Schedule", "name": "db-stop",
                "props": {"scheduleExpression": "cron(0 19 ? * MON-FRI *)"}}
    (line,) = estimate([schedule], {}, REGION).usage
    assert line.quantity == 5 * WEEKS_PER_MONTH / 1_000_000
    assert line.unit_usd == price("scheduler.invocation.million")
    assert "EventBridge Scheduler: 14 million invocations a month free" in estimate([schedule], {}, REGION).free_tiers


@pytest.mark.parametrize(("expression", "runs"), [
    ("cron(0 6 ? * MON *)", Decimal(730) / 168), ("rate(1 day)", Decimal(730) / 24),
    ("cron(0 5 * * ? *)", Decimal(730) / 24), ("cron(0 7,19 ? * MON-FRI *)", 10 * Decimal(730) / 168),
    ("rate(30 minutes)", Decimal(1460)), ("cron(0 6 ? * MON#1 *)", Decimal(1)), ("at(2026-12-24T18:00:00)", 0),
    ("cron(0/15 * * * ? *)", 4 * 730)])
def test_runs_per_month(expression, runs):
    twelve_places = Decimal("1e-12")  # Decimal division rounds its 28th digit
    assert runs_per_month(expression).quantize(twelve_places) == Decimal(runs).quantize(twelve_places)


@pytest.mark.parametrize("expression", ["cron(0 6 * *)", "every monday", "cron(0 25 * * ? *)", "rate(0 days)"])
def test_an_unreadable_schedule_is_one_line(expression):
    with pytest.raises(CostError, match=r"^cannot read the schedule expression"):
        runs_per_month(expression)
