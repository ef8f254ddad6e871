"""What keeps the bill in check, under mocks for both stacks: the budget and its alerts, the dev run schedule, the
engine lifecycle that never slides into paid Extended Support, and the optional dashboard; with each new setting's
failing configuration named by its key."""

import json

import pytest

from components.run_schedule import BadSchedule, parse
from tests.components.types import BUDGET, INSTANCE, SCHEDULE

WORKDAYS = "Mon-Fri 08:00-19:00 Europe/Dublin"


def only(problems: list[str]) -> str:
    assert len(problems) == 1, problems
    return problems[0]


# -- the budget -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("stack_name", "limit"), [("dev", "25"), ("prod", "120")])
def test_each_stack_has_a_monthly_budget_over_its_own_resources(request, stack_name, limit):
    stack = request.getfixturevalue(stack_name)
    budget = stack.one(BUDGET).props
    assert (budget["budgetType"], budget["timeUnit"], budget["limitUnit"], budget["limitAmount"]) == (
        "COST", "MONTHLY", "USD", limit)
    assert budget["name"] == f"cruddur-{stack_name}-monthly" == stack.outputs["budgetName"]
    assert budget["costFilters"] == [{"name": "TagKeyValue", "values": [f"user:Stack${stack_name}"]}]
    tag = stack.one("aws:costexplorer/costAllocationTag:CostAllocationTag").props
    assert tag == {"tagKey": "Stack", "status": "Active"}


def test_the_budget_alerts_on_actual_and_forecasted_spend_at_80_and_100_percent(prod):
    topic = prod.outputs["alarmTopicArn"]
    alerts = prod.one(BUDGET).props["notifications"]
    assert sorted((a["notificationType"], a["threshold"]) for a in alerts) == [
        ("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 80), ("FORECASTED", 100)]
    assert all(a["subscriberSnsTopicArns"] == [topic] and a["comparisonOperator"] == "GREATER_THAN"
               and a["thresholdType"] == "PERCENTAGE" for a in alerts)


def test_the_budget_alerts_reach_the_alarm_emails_too(evaluate_with):
    stack = evaluate_with("dev", overrides={"alarmEmails": ["ops@example.com"]})
    alerts = stack.one(BUDGET).props["notifications"]
    assert len(alerts) == 4 and all(a["subscriberEmailAddresses"] == ["ops@example.com"] for a in alerts)


def test_aws_budgets_may_publish_to_the_encrypted_alarm_topic(prod):
    topic_policy = json.loads(prod.one("aws:sns/topicPolicy:TopicPolicy", "monitoring-topic-policy").props["policy"])
    budgets = next(s for s in topic_policy["Statement"] if s["Sid"] == "BudgetsOfThisAccountPublish")
    assert budgets["Principal"] == {"Service": "budgets.amazonaws.com"} and budgets["Action"] == "sns:Publish"
    assert budgets["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    key_policy = json.loads(prod.one("aws:kms/key:Key", "data-key").props["policy"])
    assert any(s.get("Sid") == "AllowBudgetsToEncryptedTopics" for s in key_policy["Statement"])


@pytest.mark.parametrize("value", [0, -5, "lots", 2_000_000])
def test_a_bad_budget_is_refused_naming_the_key(config_problems, value):
    assert only(config_problems("dev", monthlyBudgetUsd=value)).startswith(f"cruddur-db:monthlyBudgetUsd = {value!r}")


def test_a_member_account_leaves_the_tag_to_its_management_account(evaluate_with):
    stack = evaluate_with("prod", overrides={"activateStackCostTag": False})
    assert stack.of_type("aws:costexplorer/costAllocationTag:CostAllocationTag") == []
    assert stack.one(BUDGET).props["costFilters"] == [{"name": "TagKeyValue", "values": ["user:Stack$prod"]}]


def test_a_bad_tag_activation_value_is_refused_naming_the_key(config_problems):
    assert only(config_problems("dev", activateStackCostTag="perhaps")).startswith(
        "cruddur-db:activateStackCostTag = 'perhaps'")


# -- the engine lifecycle -------------------------------------------------------------------------------------------
def test_the_instance_never_slides_into_paid_extended_support(stack):
    instance = stack.one(INSTANCE).props
    assert instance["engineLifecycleSupport"] == "open-source-rds-extended-support-disabled"


# -- the dashboard ----------------------------------------------------------------------------------------------------
def test_dev_goes_without_the_dashboard_and_prod_keeps_it(dev, prod):
    assert dev.of_type("aws:cloudwatch/dashboard:Dashboard") == [] and "dashboardName" not in dev.outputs
    assert prod.one("aws:cloudwatch/dashboard:Dashboard").props["dashboardName"] == "cruddur-prod-database"
    # the alarms do not depend on it
    assert len(dev.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")) == len(
        prod.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"))


def test_a_bad_dashboard_value_is_refused_naming_the_key(config_problems):
    assert only(config_problems("dev", dashboard="sometimes")).startswith("cruddur-db:dashboard = 'sometimes'")


# -- the dev run schedule ---------------------------------------------------------------------------------------------
def test_without_a_run_schedule_the_instance_is_always_on(stack):
    assert stack.of_type(SCHEDULE) == [] and "dbScheduledHoursPerWeek" not in stack.outputs


def test_a_run_schedule_starts_and_stops_the_instance_without_a_function(evaluate_with):
    stack = evaluate_with("dev", overrides={"dbRunSchedule": WORKDAYS})
    schedules = {s.props["name"]: s.props for s in stack.of_type(SCHEDULE)}
    assert set(schedules) == {"cruddur-dev-db-start", "cruddur-dev-db-stop"}
    start, stop = schedules["cruddur-dev-db-start"], schedules["cruddur-dev-db-stop"]
    assert start["scheduleExpression"] == "cron(0 8 ? * MON,TUE,WED,THU,FRI *)"
    assert stop["scheduleExpression"] == "cron(0 19 ? * MON,TUE,WED,THU,FRI *)"
    assert start["scheduleExpressionTimezone"] == stop["scheduleExpressionTimezone"] == "Europe/Dublin"
    assert start["target"]["arn"] == "arn:aws:scheduler:::aws-sdk:rds:startDBInstance"
    assert stop["target"]["arn"] == "arn:aws:scheduler:::aws-sdk:rds:stopDBInstance"
    assert json.loads(stop["target"]["input"]) == {"DbInstanceIdentifier": "cruddur-dev-db"}
    assert stack.of_type("aws:lambda/function:Function") == [
        f for f in stack.of_type("aws:lambda/function:Function") if "schedule" not in f.name]
    assert stack.outputs["dbScheduledHoursPerWeek"] == 55.0


def test_the_schedule_role_may_only_start_and_stop_this_instance(evaluate_with):
    stack = evaluate_with("dev", overrides={"dbRunSchedule": WORKDAYS})
    role = stack.one("aws:iam/role:Role", "db-schedule-role").props
    trust = json.loads(role["assumeRolePolicy"])["Statement"]
    assert trust == [{"Effect": "Allow", "Action": "sts:AssumeRole",
                      "Principal": {"Service": "scheduler.amazonaws.com"},
                      "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}]
    statements = json.loads(stack.one("aws:iam/rolePolicy:RolePolicy", "db-schedule-policy").props["policy"])
    assert statements["Statement"] == [{
        "Sid": "StartAndStopTheDatabase", "Effect": "Allow",
        "Action": ["rds:StartDBInstance", "rds:StopDBInstance"],
        "Resource": "arn:aws:rds:eu-west-1:123456789012:db:cruddur-dev-db"}]


def test_prod_refuses_a_run_schedule(config_problems):
    assert only(config_problems("prod", dbRunSchedule=WORKDAYS)) == (
        f"cruddur-db:dbRunSchedule = {WORKDAYS!r}: prod runs around the clock; a run schedule is for dev "
        "stacks only (leave it empty)")


@pytest.mark.parametrize(("value", "why"), [
    ("weekdays 8-19", "is not a run schedule"),
    ("Mon-Fri 19:00-08:00 UTC", "the stop time must come after the start time"),
    ("Fri-Mon 08:00-19:00 UTC", "must be a range of weekdays in week order"),
    ("Mon,Mon 08:00-19:00 UTC", "without repeats"),
    ("Mon-Fri 08:00-24:00 UTC", "24:00 is not a time of day"),
    ("Mon-Fri 08:00-19:00 Mars/Olympus", "is not an IANA time zone"),
    ("Mon-Fri 08:00-19:00\tUTC", "control character"),
    (42, "is not a run schedule"),
])
def test_a_bad_run_schedule_is_refused_naming_the_key(config_problems, value, why):
    problem = only(config_problems("dev", dbRunSchedule=value))
    assert problem.startswith("cruddur-db:dbRunSchedule = ") and why in problem


@pytest.mark.parametrize(("text", "days", "hours"), [
    ("daily 07:30-22:00 UTC", ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"), 101.5),
    ("mon,wed,fri 09:00-17:00 Europe/Berlin", ("MON", "WED", "FRI"), 24.0),
    ("Tue-Thu 10:15-13:45 America/New_York", ("TUE", "WED", "THU"), 10.5),
])
def test_run_schedules_read_as_days_times_and_hours(text, days, hours):
    schedule = parse(text)
    assert schedule.days == days and schedule.hours_per_week == hours


def test_a_scheduled_instance_is_backed_up_and_maintained_inside_its_run_hours(evaluate_with, dev):
    assert (dev.one(INSTANCE).props["backupWindow"], dev.one(INSTANCE).props["maintenanceWindow"]) == (
        "02:00-03:00", "sun:03:30-sun:04:30")
    scheduled = evaluate_with("dev", overrides={"dbRunSchedule": WORKDAYS}).one(INSTANCE).props
    # Dublin is UTC in winter: backups from 09:00, maintenance Monday from 10:00, both inside 08:00-19:00
    assert (scheduled["backupWindow"], scheduled["maintenanceWindow"]) == ("09:00-09:30", "mon:10:00-mon:11:00")
    tokyo = parse("daily 09:00-17:00 Asia/Tokyo")  # UTC+9: 10:00 local is 01:00 UTC
    assert (tokyo.backup_window, tokyo.maintenance_window) == ("01:00-01:30", "mon:02:00-mon:03:00")


def test_a_run_too_short_for_the_backup_is_refused(config_problems):
    assert "must run at least 3 hours a day" in only(config_problems("dev", dbRunSchedule="Mon 08:00-10:30 UTC"))


def test_run_schedule_errors_are_one_line():
    with pytest.raises(BadSchedule) as caught:
        parse("Mon-Fri 08:00-19:00 Nowhere/Atall")
    assert "\n" not in str(caught.value)
