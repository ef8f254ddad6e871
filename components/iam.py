"""IAM documents the components share: who may assume a role (AWS-managed policy ARNs: ``AwsContext``)."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws


def service_trust_policy(service: str, opts: pulumi.InvokeOutputOptions,
                         conditions: Sequence[dict] = ()) -> pulumi.Output[str]:
    """The assume-role policy letting one AWS service principal take a role, narrowed by ``conditions``
    (e.g. ``aws:SourceAccount``/``aws:SourceArn`` against the confused deputy)."""
    statement: dict = {
        "actions": ["sts:AssumeRole"],
        "principals": [{"type": "Service", "identifiers": [service]}],
    }
    if conditions:
        statement["conditions"] = list(conditions)
    return aws.iam.get_policy_document_output(statements=[statement], opts=opts).json

