"""``Audit``: who did what to the stack's account (CloudTrail) and who is attacking the database (GuardDuty).

- a customer-managed KMS key for the audit data (rotation on) whose key policy lets CloudTrail encrypt only for this
  stack's trail (``aws:SourceArn``/``aws:SourceAccount``) and CloudWatch Logs use it for this account's log groups;
- the trail's S3 bucket: all four public-access blocks, bucket-owner-enforced ownership (no ACLs), versioning, KMS
  default encryption with a bucket key, a lifecycle rule (archive tier, then expiry) and a bucket policy holding
  CloudTrail's AclCheck/Write statements scoped to this trail plus a Deny of every non-TLS request;
  ``force_destroy`` only where the stack allows it (never prod);
- the trail bucket's S3 server access logs, in a dedicated ``PrivateBucket`` ``cruddur-<stack>-trail-access-<account>``
  (same region): public access blocked, bucket-owner-enforced, versioned, SSE-S3 (S3 delivers server access logs only
  to a destination whose default encryption is SSE-S3/AES256; SSE-KMS is not supported there), expiring logs after
  the trail bucket's expiry and aborting incomplete multipart uploads, with a policy letting only the S3 logging
  service write under ``ACCESS_LOG_PREFIX`` for the trail bucket of this account (and under their own prefixes for
  the buckets named in ``access_log_sources``: the code-signing artifacts bucket), and denying non-TLS requests;
- a CloudWatch Logs group (retention, KMS) the trail delivers to through a role that may only create streams and
  put events in that one group, assumable by CloudTrail for this trail only;
- the trail: multi-region, global service events, log file validation, KMS-encrypted, publishing a notification
  per delivered log file to its SNS topic ``cruddur-<stack>-trail-notifications``: encrypted with the audit key
  (whose policy lets CloudTrail use it for this trail only), with a topic policy letting only CloudTrail publish, for
  this trail only (``aws:SourceArn``), and denying requests without TLS. The topic is for downstream consumers
  (a SIEM, an SQS queue, a Lambda that ingests new log files); it has no subscription here: an operator subscribes
  what reads it (docs/security.md);
- GuardDuty: a detector with RDS Protection (``RDS_LOGIN_EVENTS``) enabled, or, because an account and region hold
  only one detector, an existing detector adopted by id, in which case only the RDS Protection feature is managed.

The trail's ARN is built from its name, region and account before the trail exists: the bucket policy and the key
policy name it, and the trail depends on both, so there is no cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws_context import AwsContext
from components.iam import (
    deny_bucket_without_tls,
    deny_topic_without_tls,
    service_statement,
    service_trust_policy,
    source_account,
    source_arn,
)
from components.kms import KmsKey, KmsKeyArgs, logs_statement, topic_publisher_statement
from components.log_group import encrypted_log_group
from components.naming import Naming
from components.private_bucket import PrivateBucket, PrivateBucketArgs, abort_multipart_rule, bucket_baseline
from components.settings import AuditSettings

TRAIL_PREFIX = "trail"
ARCHIVE_STORAGE_CLASS = "GLACIER_IR"
RDS_PROTECTION = "RDS_LOGIN_EVENTS"
ACCESS_LOG_PREFIX = "trail-bucket/"  # where the trail bucket's server access logs land in the log bucket
S3_LOGGING_SERVICE = "logging.s3.amazonaws.com"
CLOUDTRAIL = "cloudtrail.amazonaws.com"


@dataclass
class AuditArgs:
    audit: AuditSettings
    naming: Naming
    aws_context: AwsContext
    # Other buckets whose server access logs the log bucket admits too: (statement sid, source bucket ARN, prefix).
    access_log_sources: Sequence[tuple[str, pulumi.Input[str], str]] = ()


def trail_arn(partition: str, region: str, account_id: str, trail_name: str) -> str:
    return f"arn:{partition}:cloudtrail:{region}:{account_id}:trail/{trail_name}"


def access_log_write_statement(source_bucket_arn: pulumi.Input[str], account_id: pulumi.Input[str],
                               prefix: str = ACCESS_LOG_PREFIX, sid: str = "S3ServerAccessLogsFromTheTrailBucket"):
    """The log bucket's statement (a callable taking its ARN) letting only S3's logging service write the source
    bucket's server access logs under ``prefix``, for that bucket in this account."""

    def make(log_bucket_arn: pulumi.Input[str]) -> dict:
        return service_statement(sid, S3_LOGGING_SERVICE, ["s3:PutObject"],
                                 [pulumi.Output.concat(log_bucket_arn, f"/{prefix}*")],
                                 [source_arn(source_bucket_arn, "ArnEquals"), source_account(account_id)])

    return make


def cloudtrail_key_statements(trail_name: str) -> list:
    """Key-policy statements (callables for ``KmsKeyArgs.statements``) letting CloudTrail use the key for one trail."""

    def scoped(account_id: str, partition: str, region: str) -> list[dict]:
        return [source_arn(trail_arn(partition, region, account_id, trail_name)), source_account(account_id)]

    def encrypt(account_id: str, partition: str, region: str) -> dict:
        return service_statement(
            "AllowCloudTrailToEncryptLogsForThisTrail", CLOUDTRAIL, ["kms:GenerateDataKey*"], ["*"],
            scoped(account_id, partition, region) + [{
                "test": "StringLike",
                "variable": "kms:EncryptionContext:aws:cloudtrail:arn",
                "values": [f"arn:{partition}:cloudtrail:*:{account_id}:trail/*"],
            }])

    def describe(account_id: str, partition: str, region: str) -> dict:
        return service_statement("AllowCloudTrailToDescribeKeyForThisTrail", CLOUDTRAIL, ["kms:DescribeKey"], ["*"],
                                 scoped(account_id, partition, region))

    def notify(account_id: str, partition: str, region: str) -> dict:
        # CloudTrail publishing to an SNS topic encrypted with this key (CloudTrail user guide, "Amazon SNS topic
        # policy for CloudTrail": kms:GenerateDataKey* and kms:Decrypt), for this trail only.
        return topic_publisher_statement("AllowCloudTrailToPublishToItsEncryptedTopic", CLOUDTRAIL,
                                         scoped(account_id, partition, region))

    return [encrypt, describe, notify]


class Audit(pulumi.ComponentResource):
    key: KmsKey | None = None
    bucket: aws.s3.Bucket | None = None
    log_group: aws.cloudwatch.LogGroup | None = None
    trail: aws.cloudtrail.Trail | None = None
    access_log_bucket: PrivateBucket | None = None  # the server access log bucket; only with the trail
    detector: aws.guardduty.Detector | None = None
    rds_protection: aws.guardduty.DetectorFeature | None = None
    trail_arn: pulumi.Output[str] | None = None
    topic: aws.sns.Topic | None = None
    detector_id: pulumi.Input[str] | None = None

    def __init__(self, name: str, args: AuditArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:audit:Audit", name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)

        outputs: dict = {}
        if args.audit.trail:
            self._trail(name, args, child, invoke)
            outputs.update(trail_arn=self.trail.arn, bucket=self.bucket.bucket, log_group=self.log_group.name,
                           key_arn=self.key.arn, access_log_bucket=self.access_log_bucket.name,
                           topic_arn=self.topic.arn)
        if args.audit.guard_duty:
            self._guard_duty(name, args, child)
            outputs.update(detector_id=self.detector_id)
        self.register_outputs(outputs)

    # -- CloudTrail ---------------------------------------------------------------------------------------------
    def _trail(self, name: str, args: AuditArgs, child, invoke) -> None:
        a, naming = args.audit, args.naming
        ctx = args.aws_context
        account_id, partition, region = ctx.account_id, ctx.partition, ctx.region
        trail_name = naming.physical_name("trail")
        arn = pulumi.Output.all(partition, region, account_id).apply(
            lambda v: trail_arn(v[0], v[1], v[2], trail_name))

        self.key = KmsKey(f"{name}-key", KmsKeyArgs(
            description=f"Cruddur {naming.stack}: CloudTrail log files and their CloudWatch Logs group",
            alias=naming.physical_name("audit"),
            aws_context=args.aws_context,
            statements=[*cloudtrail_key_statements(trail_name), logs_statement],
            protect=naming.protect,
        ), opts=child)

        # -- the bucket ------------------------------------------------------------------------------------------
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=account_id.apply(lambda acct: f"{trail_name}-{acct}"),  # the guardrails' pattern
            force_destroy=a.trail_bucket_force_destroy and not naming.is_prod,
            tags={"Name": trail_name, "Purpose": "cloudtrail"},
            opts=naming.stateful(child),
        )
        bucket_name = self.bucket.bucket
        # All four public-access blocks, no ACLs, versioning, the audit key with a bucket key: as every private bucket.
        self.public_access_block, self.ownership, self.versioning, self.encryption = bucket_baseline(
            f"{name}-bucket", bucket_name, self.key.arn, child)
        self.lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{name}-bucket-lifecycle",
            bucket=bucket_name,
            rules=[{
                "id": "trail-log-files",
                "status": "Enabled",
                "filter": {"prefix": f"{TRAIL_PREFIX}/"},
                "transitions": [{"days": a.trail_bucket_transition_days, "storage_class": ARCHIVE_STORAGE_CLASS}],
                "expiration": {"days": a.trail_bucket_expire_days},
                "noncurrent_version_expiration": {"noncurrent_days": 30},
            }, abort_multipart_rule()],  # the whole bucket's, as every bucket has (scanners look for that shape)
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.versioning]),
        )
        bucket_policy = aws.iam.get_policy_document_output(statements=[
            service_statement("AWSCloudTrailAclCheck", CLOUDTRAIL, ["s3:GetBucketAcl"], [self.bucket.arn],
                              [source_arn(arn)]),
            service_statement(
                "AWSCloudTrailWrite", CLOUDTRAIL, ["s3:PutObject"],
                [pulumi.Output.concat(self.bucket.arn, f"/{TRAIL_PREFIX}/AWSLogs/", account_id, "/*")],
                [{"test": "StringEquals", "variable": "s3:x-amz-acl", "values": ["bucket-owner-full-control"]},
                 source_arn(arn)]),
            deny_bucket_without_tls(self.bucket.arn),
        ], opts=invoke)
        self.bucket_policy = aws.s3.BucketPolicy(
            f"{name}-bucket-policy",
            bucket=bucket_name,
            policy=bucket_policy.json,
            # A policy is public-looking to S3 until the block is in place; put the block first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access_block]),
        )
        self._access_logs(name, args, child)

        # -- CloudWatch Logs delivery ---------------------------------------------------------------------------
        self.log_group = encrypted_log_group(f"{name}-trail-logs", f"/cruddur/{naming.stack}/cloudtrail",
                                             a.trail_log_retention_days, self.key.arn, child)
        trust = service_trust_policy(CLOUDTRAIL, invoke, conditions=[source_arn(arn), source_account(account_id)])
        self.logs_role = aws.iam.Role(
            f"{name}-trail-logs-role",
            assume_role_policy=trust,
            description=f"CloudTrail {trail_name} delivery to its one CloudWatch Logs group",
            opts=child,
        )
        streams = pulumi.Output.all(self.log_group.arn, account_id, region).apply(
            lambda v: f"{v[0]}:log-stream:{v[1]}_CloudTrail_{v[2]}*")
        write = aws.iam.get_policy_document_output(statements=[{
            "sid": "DeliverTrailToItsLogGroup",
            "actions": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "resources": [streams],
        }], opts=invoke)
        self.logs_role_policy = aws.iam.RolePolicy(
            f"{name}-trail-logs-write", role=self.logs_role.id, policy=write.json, opts=child)

        self._topic(name, args, child, invoke, arn)

        # -- the trail -------------------------------------------------------------------------------------------
        self.trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=trail_name,
            s3_bucket_name=bucket_name,
            s3_key_prefix=TRAIL_PREFIX,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            kms_key_id=self.key.arn,
            cloud_watch_logs_group_arn=self.log_group.arn.apply(lambda group: f"{group}:*"),
            cloud_watch_logs_role_arn=self.logs_role.arn,
            event_selectors=[{"read_write_type": "All", "include_management_events": True}],
            sns_topic_name=self.topic.name,  # a name in this region (an ARN for a topic elsewhere)
            tags={"Name": trail_name},
            # CloudTrail checks the bucket policy, the key policy, the role and the topic policy when the trail is
            # created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[
                self.bucket_policy, self.public_access_block, self.ownership, self.encryption,
                self.logs_role_policy, self.key, self.topic_policy]),
        )
        self.trail_arn = self.trail.arn

    def _topic(self, name: str, args: AuditArgs, child, invoke, trail_arn_: pulumi.Input[str]) -> None:
        """The trail's log-delivery notifications: an SNS topic on the audit key that only this trail publishes to."""
        naming = args.naming
        self.topic = aws.sns.Topic(
            f"{name}-trail-topic",
            name=naming.physical_name("trail-notifications"),
            display_name=f"Cruddur {naming.stack} CloudTrail log deliveries",
            kms_master_key_id=self.key.arn,
            opts=child,
        )
        policy = aws.iam.get_policy_document_output(statements=[
            service_statement("CloudTrailPublishesForThisTrailOnly", CLOUDTRAIL, ["SNS:Publish"], [self.topic.arn],
                              [source_arn(trail_arn_)]),
            deny_topic_without_tls(self.topic.arn),
        ], opts=invoke)
        self.topic_policy = aws.sns.TopicPolicy(f"{name}-trail-topic-policy", arn=self.topic.arn,
                                                policy=policy.json, opts=child)

    def _access_logs(self, name: str, args: AuditArgs, child) -> None:
        """The trail bucket's server access logs, into their own locked-down bucket in the same region."""
        a, naming = args.audit, args.naming
        self.access_log_bucket = PrivateBucket(f"{name}-access-logs", PrivateBucketArgs(
            bucket=args.aws_context.account_id.apply(lambda acct: f"{naming.physical_name('trail-access')}-{acct}"),
            kms_key_arn=None,  # SSE-S3: S3 server access log delivery does not support SSE-KMS destinations
            force_destroy=a.trail_bucket_force_destroy and not naming.is_prod,
            protect=naming.protect,
            lifecycle_rules=[{"id": "access-logs", "status": "Enabled", "filter": {},
                              "expiration": {"days": a.trail_bucket_expire_days},
                              "noncurrent_version_expiration": {"noncurrent_days": 30}}],
            policy_statements=[access_log_write_statement(self.bucket.arn, args.aws_context.account_id),
                               *(access_log_write_statement(arn, args.aws_context.account_id, prefix, sid)
                                 for sid, arn, prefix in args.access_log_sources)],
            tags={"Name": naming.physical_name("trail-access"), "Purpose": "s3-server-access-logs"},
        ), opts=child)
        self.bucket_logging = aws.s3.BucketLogging(
            f"{name}-bucket-logging",
            bucket=self.bucket.bucket,
            target_bucket=self.access_log_bucket.name,
            target_prefix=ACCESS_LOG_PREFIX,
            # S3 checks the destination's policy when logging is turned on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.access_log_bucket.policy]),
        )

    # -- GuardDuty -----------------------------------------------------------------------------------------------
    def _guard_duty(self, name: str, args: AuditArgs, child) -> None:
        if args.audit.guard_duty_detector_id:
            # Adopted: the detector belongs to whoever created it; this stack manages only RDS Protection on it.
            self.detector_id = args.audit.guard_duty_detector_id
        else:
            self.detector = aws.guardduty.Detector(
                f"{name}-detector",
                enable=True,
                finding_publishing_frequency="FIFTEEN_MINUTES",
                tags={"Name": args.naming.physical_name("guardduty")},
                opts=child,
            )
            self.detector_id = self.detector.id
        self.rds_protection = aws.guardduty.DetectorFeature(
            f"{name}-rds-protection",
            detector_id=self.detector_id,
            name=RDS_PROTECTION,
            status="ENABLED",
            opts=child,
        )
