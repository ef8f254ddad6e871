"""Monitoring: the encrypted alarm topic and its policies, every alarm with its threshold and dimensions, the
dashboard built from the same metric list, and the settings rules of the alarm keys."""

import json

import pytest

from components.connection_budget import GIB, MIB, estimate_max_connections
from components.monitoring import alarm_specs, is_burstable, max_connections_estimate, memory_bytes
from tests.components.conftest import only, policy
from tests.components.types import ACCOUNT, ALARM, KEY, REGION, TOPIC

PROD_CONNECTIONS_THRESHOLD = 180 * 80 // 100  # db.t4g.small: about 180 connections, alarmed at 80 %


# (metric, statistic, comparison, missing data) for every alarm a db.t* and a db.m* stack must have.
COMMON = {
    "FreeStorageSpace": ("Minimum", "LessThanThreshold", "breaching"),
    "CPUUtilization": ("Average", "GreaterThanThreshold", "missing"),
    "FreeableMemory": ("Minimum", "LessThanThreshold", "breaching"),
    "DatabaseConnections": ("Maximum", "GreaterThanThreshold", "missing"),
    "ReadLatency": ("Average", "GreaterThanThreshold", "missing"),
    "WriteLatency": ("Average", "GreaterThanThreshold", "missing"),
    "DiskQueueDepth": ("Average", "GreaterThanThreshold", "missing"),
    "MaximumUsedTransactionIDs": ("Maximum", "GreaterThanThreshold", "missing"),
    "Errors": ("Sum", "GreaterThanOrEqualToThreshold", "notBreaching"),
    "Throttles": ("Sum", "GreaterThanOrEqualToThreshold", "notBreaching"),
}


def alarms(stack) -> dict:
    return {a.props["metricName"]: a.props for a in stack.of_type(ALARM)}


def topic_arn(stack) -> str:
    return stack.one(TOPIC, "monitoring-topic").outputs["arn"]


def expected_thresholds(instance_class: str, storage_gb: int) -> dict:
    return {
        "FreeStorageSpace": storage_gb * GIB // 10,
        "CPUUtilization": 80,
        "FreeableMemory": max(memory_bytes(instance_class) * 5 // 100, 64 * MIB),
        "DatabaseConnections": max_connections_estimate(instance_class) * 80 // 100,
        "ReadLatency": 0.02, "WriteLatency": 0.02,
        "DiskQueueDepth": 10,
        "MaximumUsedTransactionIDs": 1_000_000_000,
        "Errors": 1, "Throttles": 1,
    }


# -- the topic ----------------------------------------------------------------------------------------------------
def test_topic_is_encrypted_with_the_data_key_and_exported(stack):
    topic = stack.one(TOPIC, "monitoring-topic")
    assert stack.parent_of(topic).type == "cruddur:monitoring:Monitoring"
    assert topic.props["name"] == f"cruddur-{stack.stack}-alarms"
    assert topic.props["kmsMasterKeyId"] == stack.one(KEY, "data-key").outputs["arn"]
    assert stack.outputs["alarmTopicArn"] == topic_arn(stack)
    # the dashboard is a setting: prod keeps it, dev goes without (docs/costs.md)
    assert stack.outputs.get("dashboardName") == {"dev": None, "prod": "cruddur-prod-database"}[stack.stack]


def test_data_key_lets_cloudwatch_of_this_account_and_backup_use_it_for_the_topic(stack):
    statements = {s["Sid"]: s for s in policy(stack.one(KEY, "data-key"))["Statement"]}
    alarms_statement = statements["AllowCloudWatchAlarmsToEncryptedTopics"]
    assert alarms_statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms_statement["Action"] == ["kms:GenerateDataKey*", "kms:Decrypt"]
    assert alarms_statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    backup = statements["AllowBackupNotificationsToEncryptedTopics"]
    assert backup["Principal"] == {"Service": "backup.amazonaws.com"}
    assert backup["Action"] == ["kms:GenerateDataKey*", "kms:Decrypt"]
    # The earlier statements are untouched.
    assert "AllowCloudWatchLogs" in statements and "AccountAdministersAndUsesKeyThroughIam" in statements


def test_topic_policy_lets_only_cloudwatch_budgets_and_backup_publish_over_tls(stack):
    document = policy(stack.one("aws:sns/topicPolicy:TopicPolicy", "monitoring-topic-policy"))
    assert stack.one("aws:sns/topicPolicy:TopicPolicy", "monitoring-topic-policy").props["arn"] == topic_arn(stack)
    allows = [s for s in document["Statement"] if s["Effect"] == "Allow"]
    assert [s["Principal"] for s in allows] == [{"Service": "cloudwatch.amazonaws.com"},
                                                {"Service": "budgets.amazonaws.com"},
                                                {"Service": "backup.amazonaws.com"}]
    assert all(s["Action"] == "sns:Publish" and s["Resource"] == topic_arn(stack) for s in allows)
    assert allows[0]["Condition"] == allows[1]["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    deny = next(s for s in document["Statement"] if s["Effect"] == "Deny")
    assert (deny["Principal"], deny["Action"], deny["Resource"]) == (
        {"AWS": "*"}, ["SNS:Publish", "SNS:Subscribe"], topic_arn(stack))
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_committed_stacks_have_no_email_subscriptions_until_configured(stack):
    assert stack.of_type("aws:sns/topicSubscription:TopicSubscription") == []


def test_alarm_emails_become_email_subscriptions(evaluate_with):
    stack = evaluate_with("dev", overrides={"alarmEmails": ["oncall@example.com", "dba@example.org"]})
    subscriptions = stack.of_type("aws:sns/topicSubscription:TopicSubscription")
    # Registration order is not fixed: compared sorted.
    assert sorted((s.props["protocol"], s.props["endpoint"], s.props["topic"]) for s in subscriptions) == [
        ("email", "dba@example.org", topic_arn(stack)), ("email", "oncall@example.com", topic_arn(stack))]


# -- the alarms ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, instance_class, storage_gb", [("dev", "db.t4g.micro", 20),
                                                              ("prod", "db.t4g.small", 20)])
def test_every_alarm_has_its_threshold_dimensions_and_actions(request, name, instance_class, storage_gb):
    stack = request.getfixturevalue(name)
    found = alarms(stack)
    expected = dict(COMMON)
    if is_burstable(instance_class):
        expected["CPUCreditBalance"] = ("Minimum", "LessThanThreshold", "missing")
    assert set(found) == set(expected)
    thresholds = expected_thresholds(instance_class, storage_gb)
    thresholds["CPUCreditBalance"] = 20
    for metric, (statistic, comparison, missing) in expected.items():
        alarm = found[metric]
        assert (alarm["statistic"], alarm["comparisonOperator"], alarm["treatMissingData"]) == (
            statistic, comparison, missing), metric
        assert alarm["threshold"] == pytest.approx(thresholds[metric]), metric
        assert alarm["alarmActions"] == [topic_arn(stack)] and alarm["okActions"] == [topic_arn(stack)], metric
        if metric in ("Errors", "Throttles"):
            assert alarm["namespace"] == "AWS/Lambda"
            assert alarm["dimensions"] == {"FunctionName": f"cruddur-{name}-post-confirmation"}
        else:
            assert alarm["namespace"] == "AWS/RDS"
            assert alarm["dimensions"] == {"DBInstanceIdentifier": f"cruddur-{name}-db"}


def test_cpu_alarm_needs_15_minutes_above_threshold(stack):
    cpu = alarms(stack)["CPUUtilization"]
    assert (cpu["period"], cpu["evaluationPeriods"], cpu["datapointsToAlarm"]) == (300, 3, 3)


def test_concrete_thresholds_for_the_committed_classes(dev, prod, evaluate_with):
    # db.t4g.micro: 1 GiB -> about 79 connections, 5% is below the 64 MiB floor; db.t4g.small: 2 GiB -> about 189.
    assert alarms(dev)["DatabaseConnections"]["threshold"] == 63
    assert alarms(dev)["FreeableMemory"]["threshold"] == 64 * MIB
    assert alarms(dev)["FreeStorageSpace"]["threshold"] == 2 * GIB
    assert alarms(prod)["DatabaseConnections"]["threshold"] == PROD_CONNECTIONS_THRESHOLD
    assert alarms(prod)["FreeableMemory"]["threshold"] == 2 * GIB * 5 // 100
    assert alarms(prod)["FreeStorageSpace"]["threshold"] == 2 * GIB
    # a larger class moves them: db.m7g.large, 8 GiB -> about 789 connections
    large = evaluate_with("prod", overrides={"instanceClass": "db.m7g.large", "allocatedStorageGb": 50})
    assert alarms(large)["DatabaseConnections"]["threshold"] == 631
    assert alarms(large)["FreeableMemory"]["threshold"] == 8 * GIB * 5 // 100
    assert alarms(large)["FreeStorageSpace"]["threshold"] == 5 * GIB


def test_cpu_credit_balance_only_for_burstable_classes(dev, prod, evaluate_with):
    assert "CPUCreditBalance" in alarms(dev) and "CPUCreditBalance" in alarms(prod)  # both burstable (t4g)
    assert "CPUCreditBalance" not in alarms(evaluate_with("prod", overrides={"instanceClass": "db.m7g.large"}))
    assert "CPUCreditBalance" not in alarms(evaluate_with("dev", overrides={"instanceClass": "db.r7g.large"}))
    assert "CPUCreditBalance" in alarms(evaluate_with("prod", overrides={"instanceClass": "db.t4g.large"}))


def test_thresholds_follow_the_settings(evaluate_with):
    stack = evaluate_with("dev", overrides={
        "alarmFreeStoragePercent": 25, "alarmCpuPercent": 90, "alarmCpuCreditBalance": 50,
        "alarmFreeableMemoryPercent": 20, "alarmConnectionsPercent": 50, "alarmLatencyMs": 100,
        "alarmDiskQueueDepth": 5, "alarmMaxUsedTransactionIds": 500_000_000})
    found = alarms(stack)
    assert found["FreeStorageSpace"]["threshold"] == 5 * GIB
    assert found["CPUUtilization"]["threshold"] == 90
    assert found["CPUCreditBalance"]["threshold"] == 50
    assert found["FreeableMemory"]["threshold"] == GIB * 20 // 100
    assert found["DatabaseConnections"]["threshold"] == 39
    assert found["ReadLatency"]["threshold"] == pytest.approx(0.1)
    assert found["WriteLatency"]["threshold"] == pytest.approx(0.1)
    assert found["DiskQueueDepth"]["threshold"] == 5
    assert found["MaximumUsedTransactionIDs"]["threshold"] == 500_000_000


def test_connections_alarm_uses_the_connection_budgets_conservative_estimate():
    for instance_class in ("db.t4g.micro", "db.m7g.large", "db.r7g.16xlarge"):
        assert max_connections_estimate(instance_class) == estimate_max_connections(instance_class)[0]
    assert max_connections_estimate("db.r7g.16xlarge") == 5000  # the ceiling
    assert memory_bytes("db.t4g.micro") == GIB


# -- the dashboard ------------------------------------------------------------------------------------------------
def test_dashboard_shows_every_alarmed_metric_with_its_threshold(evaluate_with, stack):
    stack = evaluate_with(stack.stack, overrides={"dashboard": True})
    body = json.loads(stack.one("aws:cloudwatch/dashboard:Dashboard", "monitoring-dashboard").props["dashboardBody"])
    drawn = {}
    for widget in body["widgets"]:
        props = widget["properties"]
        (metric,) = props["metrics"]
        assert props["region"] == REGION
        drawn[metric[1]] = (metric[0], metric[2:4], props["annotations"]["horizontal"][0]["value"])
    for name, alarm in alarms(stack).items():
        namespace, dimension, threshold = drawn[name]
        assert namespace == alarm["namespace"]
        assert dict([dimension]) == alarm["dimensions"]
        assert threshold == pytest.approx(alarm["threshold"])
    assert set(drawn) == set(alarms(stack))


def test_alarm_specs_are_pure_and_shared(prod):
    from components.settings import MonitoringSettings
    settings = MonitoringSettings(alarms=True, dashboard=True, monthly_budget_usd=100, activate_stack_cost_tag=True,
                                  emails=(),
                                  free_storage_percent=10, cpu_percent=80,
                                  cpu_credit_balance=20, freeable_memory_percent=5, connections_percent=80,
                                  latency_ms=20, disk_queue_depth=10, max_used_transaction_ids=1_000_000_000)
    assert [s.metric for s in alarm_specs(settings, "db.m7g.large", 50)] == list(COMMON)


# -- settings -----------------------------------------------------------------------------------------------------
def test_prod_cannot_switch_alarms_off(config_problems):
    assert only(config_problems("prod", alarms=False)) == (
        "cruddur-db:alarms = False: prod must keep its CloudWatch alarms on")


def test_dev_may_switch_alarms_off(evaluate_with):
    stack = evaluate_with("dev", overrides={"alarms": False})
    assert stack.of_type(ALARM) == [] and [t.name for t in stack.of_type(TOPIC)] == ["audit-trail-topic"]
    assert "alarmTopicArn" not in stack.outputs


def test_alarm_emails_must_be_email_addresses(config_problems):
    assert only(config_problems("dev", alarmEmails=["oncall@example.com", "not-an-address"])) == (
        "cruddur-db:alarmEmails = 'not-an-address': is not an email address (name@example.com)")
    assert only(config_problems("dev", alarmEmails="oncall@example.com")) == (
        "cruddur-db:alarmEmails = 'oncall@example.com': must be a list of strings, e.g. [\"a\", \"b\"]")


@pytest.mark.parametrize("key, low, high, bad_low, bad_high", [
    ("alarmFreeStoragePercent", 1, 50, 0, 51),
    ("alarmCpuPercent", 10, 100, 9, 101),
    ("alarmCpuCreditBalance", 1, 1000, 0, 1001),
    ("alarmFreeableMemoryPercent", 1, 50, 0, 51),
    ("alarmConnectionsPercent", 10, 100, 9, 101),
    ("alarmLatencyMs", 1, 5000, 0, 5001),
    ("alarmDiskQueueDepth", 1, 1000, 0, 1001),
    ("alarmMaxUsedTransactionIds", 250_000_000, 1_500_000_000, 249_999_999, 1_500_000_001),
])
def test_threshold_bounds_name_the_key(config_problems, key, low, high, bad_low, bad_high):
    for bad in (bad_low, bad_high):
        assert only(config_problems("dev", **{key: bad})) == f"cruddur-db:{key} = {bad}: must be from {low} to {high}"
    assert only(config_problems("dev", **{key: "many"})) == (
        f"cruddur-db:{key} = 'many': must be a whole number from {low} to {high}")


def test_alarms_need_a_known_instance_class(config_problems):
    assert only(config_problems("dev", instanceClass="db.z1d.large")) == (
        "cruddur-db:instanceClass = 'db.z1d.large': has no known memory size, which the memory and connection "
        "alarms need (components/connection_budget.py knows db.t*, db.m*, db.r* and db.x2* classes)")
