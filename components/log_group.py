"""The one way the stack declares a CloudWatch Logs group: named, kept for a set number of days, encrypted with a
customer-managed key (whose policy carries ``kms.logs_statement``), so nothing is logged unencrypted or kept forever.

Used for the functions' groups (``components/function.py``), the RDS log exports (``components/database.py``), the
VPC flow logs (``components/network.py``) and the trail's delivery (``components/audit.py``).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def encrypted_log_group(resource_name: str, log_group_name: pulumi.Input[str], retention_days: pulumi.Input[int],
                        kms_key_arn: pulumi.Input[str], opts: pulumi.ResourceOptions) -> aws.cloudwatch.LogGroup:
    """The log group ``log_group_name`` (the Pulumi resource ``resource_name``), kept ``retention_days`` and
    encrypted with ``kms_key_arn``."""
    return aws.cloudwatch.LogGroup(resource_name, name=log_group_name, retention_in_days=retention_days,
                                   kms_key_id=kms_key_arn, opts=opts)
