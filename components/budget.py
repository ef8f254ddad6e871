"""``Budget``: the stack's monthly AWS Budgets budget, alerting before the bill surprises anyone.

- the budget (``cruddur-<stack>``): COST, monthly, ``monthlyBudgetUsd``, over the resources tagged ``Stack=<stack>``
  (every resource of the stack carries the tag through the pinned provider's default tags);
- four alerts: actual spend and forecasted spend, each at 80 % and 100 % of the budget, to the stack's alarm topic
  (when it has one: the topic's policy and the data key's policy let AWS Budgets of this account publish) and to
  ``alarmEmails``;
- the ``Stack`` tag activated as a cost allocation tag (``aws.costexplorer.CostAllocationTag``), without which a
  budget filtered by it sees nothing. Activation is account-wide and shared by every stack, so deleting a stack leaves
  it active (``retain_on_delete``). AWS takes up to 24 hours to start reporting a newly activated tag. Only a
  standalone account or an organization's management account may activate it: in a member account set
  ``activateStackCostTag`` to false, and the management account activates ``Stack`` once for the organization.

The offline plan holds the same figure as a ceiling: its cost estimate above ``monthlyBudgetUsd`` is a mandatory
policy violation on prod and an advisory one on dev (docs/costs.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.naming import Naming

STACK_TAG = "Stack"
THRESHOLDS = (80, 100)  # percent of the budget
KINDS = ("ACTUAL", "FORECASTED")


@dataclass
class BudgetArgs:
    naming: Naming
    monthly_budget_usd: int
    topic_arn: pulumi.Input[str] | None  # the alarm topic; None when the stack has no alarms
    emails: Sequence[str] = ()
    activate_tag: bool = True  # activateStackCostTag: false in an AWS Organizations member account


class Budget(pulumi.ComponentResource):
    budget: aws.budgets.Budget

    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:budget:Budget", name, None, opts)
        needs = []
        if args.activate_tag:
            needs.append(aws.costexplorer.CostAllocationTag(
                f"{name}-stack-tag", tag_key=STACK_TAG, status="Active",
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True)))
        subscribers: dict = {}
        if args.topic_arn is not None:
            subscribers["subscriber_sns_topic_arns"] = [args.topic_arn]
        if args.emails:
            subscribers["subscriber_email_addresses"] = list(args.emails)
        notifications = [
            {"comparison_operator": "GREATER_THAN", "threshold": threshold, "threshold_type": "PERCENTAGE",
             "notification_type": kind, **subscribers}
            for kind in KINDS for threshold in THRESHOLDS
        ] if subscribers else []
        self.budget = aws.budgets.Budget(
            f"{name}-budget",
            name=args.naming.physical_name("monthly"),
            budget_type="COST",
            limit_amount=f"{args.monthly_budget_usd}",
            limit_unit="USD",
            time_unit="MONTHLY",
            cost_filters=[{"name": "TagKeyValue", "values": [f"user:{STACK_TAG}${args.naming.stack}"]}],
            notifications=notifications,
            opts=pulumi.ResourceOptions(parent=self, depends_on=needs),
        )
        self.register_outputs({"budget_name": self.budget.name})
