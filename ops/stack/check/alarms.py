"""Alarms and budget: every alarm components/monitoring.py declares for this stack's settings exists and none is in
ALARM (``DescribeAlarms``), the alarm topic has a confirmed subscription (``ListSubscriptionsByTopic``), and the
monthly budget exists (``DescribeBudget``, components/budget.py)."""

from __future__ import annotations

from ops.stack.check.context import Context
from ops.stack.check.result import ALARMS, NotChecked, fail, ok, promise


def expected_alarms(ctx: Context) -> list[str]:
    from components.monitoring import alarm_specs

    settings = ctx.setting(lambda s: s)
    if not settings.monitoring.alarms:
        raise NotChecked("alarms is false in the stack file: this stack has no alarms")
    specs = alarm_specs(settings.monitoring, settings.database.instance_class,
                        settings.database.allocated_storage_gb)
    return [settings.name(f"alarm-{spec.part}") for spec in specs]


def _described(ctx: Context, names: list[str]) -> list[dict]:
    found: list[dict] = []
    for start in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
        token = None
        while True:
            page = ctx.call("cloudwatch", "describe_alarms", AlarmNames=names[start:start + 100],
                            AlarmTypes=["MetricAlarm"], **({"NextToken": token} if token else {}))
            found += page.get("MetricAlarms", [])
            token = page.get("NextToken")
            if not token:
                break
    return found


@promise(ALARMS, "every alarm of the stack exists and notifies the alarm topic")
def alarms_exist(ctx: Context):
    names = expected_alarms(ctx)
    topic = str(ctx.output("alarmTopicArn"))
    alarms = {a["AlarmName"]: a for a in ctx.once("alarms", lambda: _described(ctx, names))}
    missing = [n for n in names if n not in alarms]
    if missing:
        return fail(f"missing: {', '.join(missing)}: run `pulumi up -s {ctx.stack}`")
    silent = [n for n in names if topic not in alarms[n].get("AlarmActions", [])]
    if silent:
        return fail(f"{', '.join(silent)} do not notify {topic}: run `pulumi up -s {ctx.stack}`")
    return ok(f"{len(names)} alarms -> {topic.rsplit(':', 1)[-1]}")


@promise(ALARMS, "no alarm is in ALARM")
def none_firing(ctx: Context):
    names = expected_alarms(ctx)
    firing = [a["AlarmName"] for a in ctx.once("alarms", lambda: _described(ctx, names))
              if a.get("StateValue") == "ALARM"]
    if firing:
        return fail(f"in ALARM: {', '.join(firing)}: read each alarm's reason (`aws cloudwatch describe-alarms "
                    f"--alarm-names {firing[0]}`) and docs/operations.md")
    return ok("none in ALARM")


@promise(ALARMS, "the alarm topic has a confirmed subscription")
def subscribed(ctx: Context):
    if not ctx.outputs.get("alarmTopicArn"):
        expected_alarms(ctx)  # not checked when the stack has no alarms
    topic = str(ctx.output("alarmTopicArn"))
    subscriptions, token = [], None
    while True:
        page = ctx.call("sns", "list_subscriptions_by_topic", TopicArn=topic, **({"NextToken": token} if token else {}))
        subscriptions += page.get("Subscriptions", [])
        token = page.get("NextToken")
        if not token:
            break
    confirmed = [s for s in subscriptions if s.get("SubscriptionArn", "").startswith("arn:")]
    if not confirmed:
        pending = len(subscriptions)
        return fail(f"no confirmed subscription ({pending} pending): each alarmEmails address must click the link in "
                    f"AWS's \"Subscription Confirmation\" e-mail; set alarmEmails and run `pulumi up -s {ctx.stack}` "
                    "if there are none")
    return ok(f"{len(confirmed)} confirmed")


@promise(ALARMS, "the monthly budget exists with the amount the stack file sets")
def budget(ctx: Context):
    from botocore.exceptions import ClientError

    name = str(ctx.output("budgetName"))
    wanted = ctx.setting(lambda s: s.monitoring.monthly_budget_usd)
    account = ctx.call("sts", "get_caller_identity")["Account"]
    try:
        found = ctx.call("budgets", "describe_budget", AccountId=account, BudgetName=name)["Budget"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NotFoundException":
            return fail(f"no budget {name} in account {account}: run `pulumi up -s {ctx.stack}`")
        raise
    amount = float(found.get("BudgetLimit", {}).get("Amount", 0))
    if int(amount) != wanted:
        return fail(f"budget {name} is {amount:g} USD a month, the stack file says {wanted}: run `pulumi up -s "
                    f"{ctx.stack}`")
    return ok(f"{name}: {wanted} USD a month")


CHECKS = (alarms_exist, none_firing, subscribed, budget)
