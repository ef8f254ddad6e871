"""``PrivateBucket``: an S3 bucket nobody outside the account can read, that refuses plain HTTP, encrypted with a
customer-managed key (or SSE-S3 when no key is given), versioned, and cleaned up by lifecycle (incomplete multipart
uploads always aborted).

Used for the artifacts that code signing needs (``components/code_signing.py``) and for the trail bucket's server
access logs (``components/audit.py``: S3 delivers server access logs only to a bucket whose default encryption is
SSE-S3, so that one has no key). ``bucket_baseline`` is what every bucket has (public-access blocks, no ACLs,
versioning, default encryption): the audit trail's bucket is declared with it too. Children are named
``f"{name}-<part>"``: ``-public-access``, ``-ownership``, ``-versioning``, ``-encryption``, ``-lifecycle``, ``-policy``
and, with ``access_log_bucket``, ``-access-logging``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import pulumi
import pulumi_aws as aws

from components.iam import deny_bucket_without_tls

ABORT_MULTIPART_DAYS = 1


@dataclass
class PrivateBucketArgs:
    bucket: pulumi.Input[str]  # the physical name
    kms_key_arn: pulumi.Input[str] | None  # None: SSE-S3 (AES256), for a server access log destination
    force_destroy: bool = False
    protect: bool = False  # the bucket itself (not its configuration) is protected
    # Lifecycle rules besides the abort-multipart rule every bucket gets (S3 lifecycle rule dicts).
    lifecycle_rules: Sequence[dict] = field(default_factory=tuple)
    # Statements (get_policy_document form) besides the TLS-only deny every bucket gets; callables taking the
    # bucket ARN, so they can name it.
    policy_statements: Sequence = field(default_factory=tuple)
    access_log_bucket: pulumi.Input[str] | None = None  # server access logs go there when set
    access_log_prefix: str = ""
    tags: dict[str, str] = field(default_factory=dict)


class Baseline(NamedTuple):
    """What every bucket of the stack has besides its lifecycle and policy."""

    public_access_block: aws.s3.BucketPublicAccessBlock
    ownership: aws.s3.BucketOwnershipControls
    versioning: aws.s3.BucketVersioning
    encryption: aws.s3.BucketServerSideEncryptionConfiguration


def bucket_baseline(prefix: str, bucket: pulumi.Input[str], kms_key_arn: pulumi.Input[str] | None,
                    opts: pulumi.ResourceOptions) -> Baseline:
    """``<prefix>-public-access`` (all four blocks), ``<prefix>-ownership`` (bucket owner enforced: no ACLs),
    ``<prefix>-versioning`` and ``<prefix>-encryption`` (the key with a bucket key; SSE-S3 when ``kms_key_arn`` is
    None) for ``bucket``: PrivateBucket's, and the audit trail bucket's."""
    public_access_block = aws.s3.BucketPublicAccessBlock(
        f"{prefix}-public-access", bucket=bucket, block_public_acls=True, block_public_policy=True,
        ignore_public_acls=True, restrict_public_buckets=True, opts=opts)
    ownership = aws.s3.BucketOwnershipControls(
        f"{prefix}-ownership", bucket=bucket, rule={"object_ownership": "BucketOwnerEnforced"}, opts=opts)
    versioning = aws.s3.BucketVersioning(
        f"{prefix}-versioning", bucket=bucket, versioning_configuration={"status": "Enabled"}, opts=opts)
    if kms_key_arn is None:
        rule = {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}
    else:
        rule = {"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                            "kms_master_key_id": kms_key_arn},
                "bucket_key_enabled": True}
    encryption = aws.s3.BucketServerSideEncryptionConfiguration(
        f"{prefix}-encryption", bucket=bucket, rules=[rule], opts=opts)
    return Baseline(public_access_block, ownership, versioning, encryption)


def abort_multipart_rule(days: int = ABORT_MULTIPART_DAYS) -> dict:
    return {"id": "abort-incomplete-multipart-uploads", "status": "Enabled", "filter": {},
            "abort_incomplete_multipart_upload": {"days_after_initiation": days}}


class PrivateBucket(pulumi.ComponentResource):
    bucket: aws.s3.Bucket
    arn: pulumi.Output[str]
    name: pulumi.Output[str]
    versioning: aws.s3.BucketVersioning

    def __init__(self, name: str, args: PrivateBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:private_bucket:PrivateBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(name, bucket=args.bucket, force_destroy=args.force_destroy, tags=args.tags,
                                    opts=pulumi.ResourceOptions(parent=self, protect=args.protect))
        self.arn, self.name = self.bucket.arn, self.bucket.bucket
        self.public_access_block, self.ownership, self.versioning, self.encryption = bucket_baseline(
            name, self.name, args.kms_key_arn, child)
        self.lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=self.name, rules=[*args.lifecycle_rules, abort_multipart_rule()],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.versioning]))
        statements = [*(make(self.arn) for make in args.policy_statements), deny_bucket_without_tls(self.arn)]
        document = aws.iam.get_policy_document_output(statements=statements,
                                                      opts=pulumi.InvokeOutputOptions(parent=self))
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy", bucket=self.name, policy=document.json,
            # A policy is public-looking to S3 until the block is in place; put the block first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access_block]))
        self.access_logging = None
        if args.access_log_bucket is not None:
            self.access_logging = aws.s3.BucketLogging(
                f"{name}-access-logging", bucket=self.name, target_bucket=args.access_log_bucket,
                target_prefix=args.access_log_prefix, opts=child)
        self.register_outputs({"arn": self.arn, "name": self.name})
