"""``DbSchedule``: a dev instance runs only in the hours ``dbRunSchedule`` names.

Two EventBridge Scheduler schedules call RDS directly through the scheduler's universal target
(``arn:aws:scheduler:::aws-sdk:rds:startDBInstance`` / ``stopDBInstance``): no function, nothing to patch. Their role
is trusted by ``scheduler.amazonaws.com`` for this account only and may start and stop this one instance. Stopping
an already stopped instance (or starting a running one) fails harmlessly; the next run puts it right.

What it means for a developer: outside the schedule the database is stopped, so the app and the CLI get a
connection error; ``cruddur stack wake -s dev`` starts it and waits until it is available (a few minutes). RDS starts
a stopped instance by itself after seven days; the next stop time stops it again. A rotation or a ``pulumi up``
that runs while the instance is stopped fails and says it cannot reach the database: wake it, then retry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws_context import AwsContext
from components.iam import service_trust_policy, source_account
from components.naming import Naming
from components.run_schedule import RunSchedule


@dataclass
class DbScheduleArgs:
    schedule: RunSchedule
    naming: Naming
    aws_context: AwsContext
    db_instance_identifier: pulumi.Input[str]
    db_instance_arn: pulumi.Input[str]


class DbSchedule(pulumi.ComponentResource):
    hours_per_week: float

    def __init__(self, name: str, args: DbScheduleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:db_schedule:DbSchedule", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        naming, ctx, schedule = args.naming, args.aws_context, args.schedule
        role = aws.iam.Role(
            f"{name}-role",
            name=naming.physical_name("db-schedule"),
            description="EventBridge Scheduler: start and stop the Cruddur database on its run schedule",
            assume_role_policy=service_trust_policy("scheduler.amazonaws.com", invoke,
                                                    conditions=[source_account(ctx.account_id)]),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-policy", role=role.id,
            policy=aws.iam.get_policy_document_output(statements=[{
                "sid": "StartAndStopTheDatabase", "actions": ["rds:StartDBInstance", "rds:StopDBInstance"],
                "resources": [args.db_instance_arn]}], opts=invoke).json,
            opts=child)
        target_input = pulumi.Output.from_input(args.db_instance_identifier).apply(
            lambda identifier: json.dumps({"DbInstanceIdentifier": identifier}))
        for action, cron in (("start", schedule.start_cron), ("stop", schedule.stop_cron)):
            aws.scheduler.Schedule(
                f"{name}-{action}",
                name=naming.physical_name(f"db-{action}"),
                description=f"{action.capitalize()} the Cruddur database ({naming.stack}'s run schedule)",
                schedule_expression=cron,
                schedule_expression_timezone=schedule.timezone,
                flexible_time_window={"mode": "OFF"},
                target={"arn": f"arn:aws:scheduler:::aws-sdk:rds:{action}DBInstance", "role_arn": role.arn,
                        "input": target_input, "retry_policy": {"maximum_retry_attempts": 3}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
            )
        self.hours_per_week = schedule.hours_per_week
        self.register_outputs({"hours_per_week": self.hours_per_week})
