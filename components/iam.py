"""IAM documents the components share: who may assume a role, a service principal's statement and the conditions
that scope it to this account or resource, and the TLS-only deny every bucket and topic policy carries (AWS-managed
policy ARNs: ``AwsContext``)."""

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



def service_statement(sid: str, service: str, actions: Sequence[str], resources: Sequence[pulumi.Input[str]],
                      conditions: Sequence[dict] = ()) -> dict:
    """The statement (``get_policy_document`` form) allowing one AWS service principal ``actions`` on ``resources``,
    narrowed by ``conditions`` (who it acts for: ``source_account``, ``aws:SourceArn``)."""
    statement: dict = {
        "sid": sid,
        "principals": [{"type": "Service", "identifiers": [service]}],
        "actions": list(actions),
        "resources": list(resources),
    }
    if conditions:
        statement["conditions"] = list(conditions)
    return statement


def source_account(account_id: pulumi.Input[str]) -> dict:
    """The condition that a service acts for this account only (``aws:SourceAccount``, against the confused deputy)."""
    return {"test": "StringEquals", "variable": "aws:SourceAccount", "values": [account_id]}


def source_arn(arn: pulumi.Input[str], test: str = "StringEquals") -> dict:
    """The condition that a service acts for this one resource only (``aws:SourceArn``)."""
    return {"test": test, "variable": "aws:SourceArn", "values": [arn]}


def deny_insecure_transport(actions: Sequence[str], resources: Sequence[pulumi.Input[str]]) -> dict:
    """The statement (``get_policy_document`` form) denying everyone ``actions`` on ``resources`` over a connection
    without TLS (``aws:SecureTransport`` false), whatever any Allow says."""
    return {
        "sid": "DenyInsecureTransport",
        "effect": "Deny",
        "principals": [{"type": "AWS", "identifiers": ["*"]}],
        "actions": list(actions),
        "resources": list(resources),
        "conditions": [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}],
    }


def deny_bucket_without_tls(bucket_arn: pulumi.Input[str]) -> dict:
    """Every S3 request without TLS denied, on the bucket and its objects."""
    return deny_insecure_transport(["s3:*"], [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")])


def deny_topic_without_tls(topic_arn: pulumi.Input[str]) -> dict:
    """Publishing to or subscribing to the SNS topic without TLS denied."""
    return deny_insecure_transport(["SNS:Publish", "SNS:Subscribe"], [topic_arn])
