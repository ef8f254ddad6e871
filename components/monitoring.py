"""``Monitoring``: the alarm topic, CloudWatch alarms on the database and the sign-up function, and a dashboard.

- the topic (``cruddur-<stack>-alarms``): SNS encrypted with the stack's data CMK (whose key policy lets CloudWatch
  alarms of this account and AWS Backup use it: ``components.kms.cloudwatch_alarms_statement`` and
  ``backup_notifications_statement``); its policy lets only CloudWatch (this account's alarms, ``aws:SourceAccount``)
  and AWS Backup publish, and denies any request without TLS; one email subscription per ``alarmEmails`` address;
- the alarms: one per entry of ``alarm_specs()`` (thresholds from the settings, the instance class's memory and
  connection budget from ``components.connection_budget``), each sending its ALARM and OK transitions to the topic;
- the dashboard: one widget per alarm, built from the SAME ``alarm_specs()`` list (``dashboard_body``), each with
  its threshold drawn as an annotation, so the dashboard cannot drift from the alarms.

FreeStorageSpace is measured against ``allocatedStorageGb`` (the initial size): storage autoscaling only grows the
volume, so the alarm fires early rather than late; autoscaling itself triggers at 10% free.

Missing data (``treat_missing_data``), chosen per metric:
- ``breaching`` for FreeStorageSpace and FreeableMemory: RDS reports them every minute while the instance runs, so
  silence means the instance is down or gone; that must page; the same for each read replica's ReplicaLag
  (``replica_lag_specs``: one alarm per replica, more than 60 s behind for 5 minutes);
- ``missing`` (keep the current state) for the load metrics (CPU, credits, connections, latencies, queue depth,
  transaction ids): a gap is no evidence either way, and a down instance already pages through the two above;
- ``notBreaching`` for the function's Errors and Throttles: Lambda publishes them only when it is invoked, so no
  data means no sign-ups, not failures.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws_context import AwsContext
from components.connection_budget import GIB, MIB, estimate_max_connections, instance_memory_gib
from components.iam import deny_topic_without_tls, service_statement, source_account
from components.naming import Naming
from components.settings import MonitoringSettings

RDS = "AWS/RDS"
LAMBDA = "AWS/Lambda"
MIN_FREEABLE_MEMORY_BYTES = 64 * MIB
# A read replica more than a minute behind for five minutes: the feed it serves is stale (components/read_replicas.py).
REPLICA_LAG_SECONDS = 60
REPLICA = "replica:"  # AlarmSpec.target prefix: "replica:<identifier>"


def is_burstable(instance_class: str) -> bool:
    """``db.t*`` classes run on CPU credits (CPUCreditBalance exists only for them)."""
    return instance_class.split(".")[1].startswith("t")


def memory_bytes(instance_class: str) -> int:
    return int(instance_memory_gib(instance_class) * GIB)


def max_connections_estimate(instance_class: str) -> int:
    """The conservative estimate of RDS's default max_connections (``components.connection_budget``): the alarm
    fires early rather than late."""
    return estimate_max_connections(instance_class)[0]


@dataclass(frozen=True)
class AlarmSpec:
    """One alarmed metric: what the alarm watches and the dashboard draws."""
    part: str  # resource name part and alarm-name suffix
    namespace: str
    metric: str
    statistic: str
    comparison: str
    threshold: float
    period: int  # seconds
    evaluation_periods: int
    treat_missing_data: str
    description: str
    target: str  # "db" (DBInstanceIdentifier), "function" (FunctionName) or "replica:<identifier>"


def alarm_specs(settings: MonitoringSettings, instance_class: str, allocated_storage_gb: int) -> list[AlarmSpec]:
    """Every alarm for this instance class and storage, thresholds from the settings (pure: tested directly)."""
    s = settings
    storage_bytes = allocated_storage_gb * GIB * s.free_storage_percent // 100
    memory_floor = max(memory_bytes(instance_class) * s.freeable_memory_percent // 100, MIN_FREEABLE_MEMORY_BYTES)
    connections = max_connections_estimate(instance_class) * s.connections_percent // 100
    latency_s = s.latency_ms / 1000
    specs = [
        AlarmSpec("free-storage", RDS, "FreeStorageSpace", "Minimum", "LessThanThreshold", storage_bytes, 300, 1,
                  "breaching", f"Free storage below {s.free_storage_percent}% of the allocated "
                               f"{allocated_storage_gb} GiB ({storage_bytes} bytes)", "db"),
        AlarmSpec("cpu", RDS, "CPUUtilization", "Average", "GreaterThanThreshold", s.cpu_percent, 300, 3,
                  "missing", f"CPU above {s.cpu_percent}% for 15 minutes", "db"),
    ]
    if is_burstable(instance_class):
        specs.append(AlarmSpec("cpu-credits", RDS, "CPUCreditBalance", "Minimum", "LessThanThreshold",
                               s.cpu_credit_balance, 300, 1, "missing",
                               f"CPU credit balance below {s.cpu_credit_balance} ({instance_class} is burstable)",
                               "db"))
    specs += [
        AlarmSpec("freeable-memory", RDS, "FreeableMemory", "Minimum", "LessThanThreshold", memory_floor, 300, 2,
                  "breaching", f"Freeable memory below {memory_floor // MIB} MiB "
                               f"({s.freeable_memory_percent}% of {instance_class}, at least 64 MiB)", "db"),
        AlarmSpec("connections", RDS, "DatabaseConnections", "Maximum", "GreaterThanThreshold", connections, 300, 2,
                  "missing", f"Connections above {connections} ({s.connections_percent}% of the "
                             f"{max_connections_estimate(instance_class)} max_connections of {instance_class})",
                  "db"),
        AlarmSpec("read-latency", RDS, "ReadLatency", "Average", "GreaterThanThreshold", latency_s, 300, 3,
                  "missing", f"Read latency above {s.latency_ms} ms for 15 minutes", "db"),
        AlarmSpec("write-latency", RDS, "WriteLatency", "Average", "GreaterThanThreshold", latency_s, 300, 3,
                  "missing", f"Write latency above {s.latency_ms} ms for 15 minutes", "db"),
        AlarmSpec("disk-queue", RDS, "DiskQueueDepth", "Average", "GreaterThanThreshold", s.disk_queue_depth, 300, 3,
                  "missing", f"Disk queue depth above {s.disk_queue_depth} for 15 minutes", "db"),
        AlarmSpec("transaction-ids", RDS, "MaximumUsedTransactionIDs", "Maximum", "GreaterThanThreshold",
                  s.max_used_transaction_ids, 3600, 1, "missing",
                  f"Transaction ids used above {s.max_used_transaction_ids}: vacuum before wraparound "
                  "(about 2.1 billion)", "db"),
        AlarmSpec("function-errors", LAMBDA, "Errors", "Sum", "GreaterThanOrEqualToThreshold", 1, 300, 1,
                  "notBreaching", "The post-confirmation function failed (users may be missing: cruddur users sync)",
                  "function"),
        AlarmSpec("function-throttles", LAMBDA, "Throttles", "Sum", "GreaterThanOrEqualToThreshold", 1, 300, 1,
                  "notBreaching", "The post-confirmation function was throttled", "function"),
    ]
    return specs


def replica_lag_specs(replica_identifiers: Sequence[str]) -> list[AlarmSpec]:
    """One ``ReplicaLag`` alarm per read replica. ``breaching`` when missing: a running replica reports its lag every
    minute, so silence means it is down or gone, and its readers are failing."""
    return [AlarmSpec(f"replica-lag-{number}", RDS, "ReplicaLag", "Maximum", "GreaterThanThreshold",
                      REPLICA_LAG_SECONDS, 60, 5, "breaching",
                      f"Read replica {identifier} more than {REPLICA_LAG_SECONDS} s behind the primary for 5 minutes "
                      "(or not reporting): its readers see stale data (runbooks/promote-replica.md)",
                      REPLICA + identifier)
            for number, identifier in enumerate(replica_identifiers, 1)]


def dimensions(spec: AlarmSpec, instance_id: str, function_name: str) -> dict[str, str]:
    if spec.target.startswith(REPLICA):
        return {"DBInstanceIdentifier": spec.target[len(REPLICA):]}
    return {"DBInstanceIdentifier": instance_id} if spec.target == "db" else {"FunctionName": function_name}


def _title(spec: AlarmSpec, function_name: str) -> str:
    if spec.target.startswith(REPLICA):
        return f"{spec.target[len(REPLICA):]} {spec.metric}"
    return spec.metric if spec.target == "db" else f"{function_name} {spec.metric}"


def dashboard_body(specs: list[AlarmSpec], region: str, instance_id: str, function_name: str) -> str:
    """The dashboard's JSON: one metric widget per alarm, its threshold as a horizontal annotation."""
    widgets = []
    for index, spec in enumerate(specs):
        dims = dimensions(spec, instance_id, function_name)
        metric = [spec.namespace, spec.metric] + [x for pair in dims.items() for x in pair]
        widgets.append({
            "type": "metric",
            "x": (index % 3) * 8, "y": (index // 3) * 6, "width": 8, "height": 6,
            "properties": {
                "title": _title(spec, function_name),
                "region": region,
                "metrics": [metric + [{"stat": spec.statistic, "period": spec.period}]],
                "view": "timeSeries",
                "annotations": {"horizontal": [{"label": spec.description, "value": spec.threshold}]},
            },
        })
    return json.dumps({"widgets": widgets}, sort_keys=True)


@dataclass
class MonitoringArgs:
    monitoring: MonitoringSettings
    naming: Naming
    aws_context: AwsContext
    kms_key_arn: pulumi.Input[str]  # the data CMK (its policy must carry the two SNS statements of kms.py)
    db_instance_identifier: pulumi.Input[str]  # the RDS identifier (cruddur-<stack>-db)
    instance_class: str
    allocated_storage_gb: int
    function_name: pulumi.Input[str]  # the post-confirmation function's name
    replica_identifiers: Sequence[str] = ()  # the read replicas' identifiers: one ReplicaLag alarm each


class Monitoring(pulumi.ComponentResource):
    topic: aws.sns.Topic
    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    dashboard: aws.cloudwatch.Dashboard | None
    specs: list[AlarmSpec]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:monitoring:Monitoring", name, None, opts)
        m, naming = args.monitoring, args.naming
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account_id, region = args.aws_context.account_id, args.aws_context.region

        # -- the topic: encrypted, published to only by CloudWatch (this account) and AWS Backup, TLS only -------
        self.topic = aws.sns.Topic(
            f"{name}-topic",
            name=naming.physical_name("alarms"),
            display_name=f"Cruddur {naming.stack} alarms",
            kms_master_key_id=args.kms_key_arn,
            opts=child,
        )

        def publisher(sid: str, service: str, *conditions: dict) -> dict:
            return service_statement(sid, service, ["sns:Publish"], [self.topic.arn], conditions)

        topic_policy = aws.iam.get_policy_document_output(statements=[
            publisher("CloudWatchAlarmsOfThisAccountPublish", "cloudwatch.amazonaws.com", source_account(account_id)),
            publisher("BudgetsOfThisAccountPublish", "budgets.amazonaws.com", source_account(account_id)),
            publisher("BackupVaultNotificationsPublish", "backup.amazonaws.com", source_account(account_id)),
            deny_topic_without_tls(self.topic.arn),
        ], opts=invoke)
        aws.sns.TopicPolicy(f"{name}-topic-policy", arn=self.topic.arn, policy=topic_policy.json, opts=child)
        for index, email in enumerate(m.emails):
            aws.sns.TopicSubscription(f"{name}-email-{index}", topic=self.topic.arn, protocol="email",
                                      endpoint=email, opts=child)

        # -- the alarms and the dashboard, from one list ---------------------------------------------------------
        self.specs = alarm_specs(m, args.instance_class, args.allocated_storage_gb) \
            + replica_lag_specs(args.replica_identifiers)
        self.alarms = {}
        for spec in self.specs:
            self.alarms[spec.part] = aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.part}",
                name=naming.physical_name(f"alarm-{spec.part}"),
                alarm_description=spec.description,
                namespace=spec.namespace,
                metric_name=spec.metric,
                dimensions=dimensions(spec, args.db_instance_identifier, args.function_name),
                statistic=spec.statistic,
                comparison_operator=spec.comparison,
                threshold=spec.threshold,
                period=spec.period,
                evaluation_periods=spec.evaluation_periods,
                datapoints_to_alarm=spec.evaluation_periods,
                treat_missing_data=spec.treat_missing_data,
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
                opts=child,
            )
        self.dashboard = None
        if m.dashboard:  # $3/month; the alarms above work without it
            self.dashboard = aws.cloudwatch.Dashboard(
                f"{name}-dashboard",
                dashboard_name=naming.physical_name("database"),
                dashboard_body=pulumi.Output.all(region, args.db_instance_identifier, args.function_name).apply(
                    lambda v: dashboard_body(self.specs, v[0], v[1], v[2])),
                opts=child,
            )
        self.register_outputs({"topic_arn": self.topic.arn})
