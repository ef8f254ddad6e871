"""``KmsKey``: a customer-managed KMS key with rotation on, an alias, and a key policy built as a document.

The key policy always lets the account's IAM administer and use the key (so IAM policies decide who may use it,
which is how RDS, Secrets Manager and Performance Insights use it); callers add service statements such as
CloudWatch Logs or CloudTrail, each scoped by conditions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.aws_context import AwsContext
from components.iam import service_statement, source_account


@dataclass
class KmsKeyArgs:
    description: str
    alias: str
    aws_context: AwsContext
    deletion_window_days: int = 30
    # Pulumi `protect` on the key (``naming.protect``): everything encrypted with it is lost with it.
    protect: bool = False
    # Extra key-policy statements: callables (account_id, partition, region) -> statement dict, so they can name
    # the account and partition without the caller resolving them.
    statements: Sequence = field(default_factory=tuple)


def logs_statement(account_id: str, partition: str, region: str) -> dict:
    """Lets CloudWatch Logs in this region use the key for this account's log groups only."""
    return service_statement(
        "AllowCloudWatchLogs", f"logs.{region}.amazonaws.com",
        ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"], ["*"],
        [{"test": "ArnLike", "variable": "kms:EncryptionContext:aws:logs:arn",
          "values": [f"arn:{partition}:logs:{region}:{account_id}:log-group:*"]}])



# Publishing to an SNS topic encrypted with this key: the publishing service needs GenerateDataKey* and Decrypt
# (SNS "compatibility between event sources from AWS services and encrypted topics").
SNS_PUBLISH_KEY_ACTIONS = ["kms:GenerateDataKey*", "kms:Decrypt"]


def topic_publisher_statement(sid: str, service: str, conditions: Sequence[dict] = ()) -> dict:
    """Lets ``service`` publish to SNS topics encrypted with the key, narrowed by ``conditions``."""
    return service_statement(sid, service, SNS_PUBLISH_KEY_ACTIONS, ["*"], conditions)


def cloudwatch_alarms_statement(account_id: str, partition: str, region: str) -> dict:
    """Lets CloudWatch alarms of this account publish to topics encrypted with the key (alarm topic)."""
    return topic_publisher_statement("AllowCloudWatchAlarmsToEncryptedTopics", "cloudwatch.amazonaws.com",
                                     [source_account(account_id)])


def budgets_notifications_statement(account_id: str, partition: str, region: str) -> dict:
    """Lets AWS Budgets of this account publish its alerts to topics encrypted with the key (alarm topic)."""
    return topic_publisher_statement("AllowBudgetsToEncryptedTopics", "budgets.amazonaws.com",
                                     [source_account(account_id)])


def backup_notifications_statement(account_id: str, partition: str, region: str) -> dict:
    """Lets AWS Backup of this account publish vault notifications to topics encrypted with the key
    (``aws:SourceAccount``, against the confused deputy, as the alarm topic's own policy says too)."""
    return topic_publisher_statement("AllowBackupNotificationsToEncryptedTopics", "backup.amazonaws.com",
                                     [source_account(account_id)])

class KmsKey(pulumi.ComponentResource):
    key: aws.kms.Key
    arn: pulumi.Output[str]
    key_id: pulumi.Output[str]

    def __init__(self, name: str, args: KmsKeyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:kms:KmsKey", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        ctx = args.aws_context

        def statements(values: list[str]) -> list[dict]:
            account_id, part, reg = values
            admin = {
                "sid": "AccountAdministersAndUsesKeyThroughIam",
                "principals": [{"type": "AWS", "identifiers": [f"arn:{part}:iam::{account_id}:root"]}],
                "actions": ["kms:*"],
                "resources": ["*"],
            }
            return [admin] + [make(account_id, part, reg) for make in args.statements]

        statement_list = pulumi.Output.all(ctx.account_id, ctx.partition, ctx.region).apply(statements)
        policy = aws.iam.get_policy_document_output(statements=statement_list, opts=invoke)

        self.key = aws.kms.Key(
            f"{name}-key",
            description=args.description,
            enable_key_rotation=True,
            deletion_window_in_days=args.deletion_window_days,
            policy=policy.json,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        aws.kms.Alias(f"{name}-alias", name=f"alias/{args.alias}", target_key_id=self.key.key_id, opts=child)
        self.arn = self.key.arn
        self.key_id = self.key.key_id
        self.register_outputs({"arn": self.arn, "key_id": self.key_id})
