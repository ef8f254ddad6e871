"""Audit: the CloudTrail trail (KMS key, S3 bucket, CloudWatch Logs, role) and GuardDuty RDS Protection.

Asserted on the resources both committed stacks declare, plus the settings rules of the audit keys.
"""

import pytest

from tests.components.conftest import only, policy, trail_bucket
from tests.components.types import ACCOUNT, DETECTOR, FEATURE, KEY, LOG_GROUP, REGION, TRAIL

DETECTOR_ID = "0123456789abcdef0123456789abcdef"


def trail_arn(stack) -> str:
    return f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/cruddur-{stack.stack}-trail"


def audit_key(stack):
    return stack.one(KEY, "audit-key-key")


def child(stack, typ, name):
    resource = stack.one(typ, name)
    assert stack.parent_of(resource).type in ("cruddur:audit:Audit", "cruddur:kms:KmsKey")
    return resource


# -- the KMS key --------------------------------------------------------------------------------------------------
def test_audit_key_is_its_own_cmk_with_rotation_and_alias(stack):
    key = audit_key(stack)
    assert stack.parent_of(stack.parent_of(key)).type == "cruddur:audit:Audit"
    assert key.props["enableKeyRotation"] is True
    assert key.outputs["arn"] != stack.one(KEY, "data-key").outputs["arn"]
    alias = stack.one("aws:kms/alias:Alias", "audit-key-alias")
    assert alias.props["name"] == f"alias/cruddur-{stack.stack}-audit"


def test_key_policy_lets_cloudtrail_encrypt_for_this_trail_only(stack):
    statements = {s["Sid"]: s for s in policy(audit_key(stack))["Statement"]}
    scoped = {"aws:SourceArn": trail_arn(stack), "aws:SourceAccount": ACCOUNT}
    encrypt = statements["AllowCloudTrailToEncryptLogsForThisTrail"]
    assert encrypt["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert encrypt["Action"] == "kms:GenerateDataKey*"
    assert encrypt["Condition"]["StringEquals"] == scoped
    assert encrypt["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"}
    describe = statements["AllowCloudTrailToDescribeKeyForThisTrail"]
    assert describe["Action"] == "kms:DescribeKey"
    assert describe["Condition"] == {"StringEquals": scoped}
    logs = statements["AllowCloudWatchLogs"]
    assert logs["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    assert logs["Condition"]["ArnLike"] == {
        "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"}


# -- the bucket ---------------------------------------------------------------------------------------------------
def test_bucket_is_named_for_stack_and_account(stack):
    bucket = child(stack, "aws:s3/bucket:Bucket", "audit-bucket")
    assert bucket.props["bucket"] == trail_bucket(stack)


def test_bucket_force_destroy_follows_the_stack(dev, prod):
    assert dev.one("aws:s3/bucket:Bucket", "audit-bucket").props["forceDestroy"] is True
    assert prod.one("aws:s3/bucket:Bucket", "audit-bucket").props["forceDestroy"] is False


def test_bucket_blocks_all_public_access(stack):
    block = child(stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "audit-bucket-public-access")
    assert block.props == {"bucket": trail_bucket(stack), "blockPublicAcls": True, "blockPublicPolicy": True,
                           "ignorePublicAcls": True, "restrictPublicBuckets": True}


def test_bucket_owner_enforced_versioned_and_kms_encrypted(stack):
    ownership = child(stack, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "audit-bucket-ownership")
    assert ownership.props["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    versioning = child(stack, "aws:s3/bucketVersioning:BucketVersioning", "audit-bucket-versioning")
    assert versioning.props["versioningConfiguration"] == {"status": "Enabled"}
    encryption = child(stack, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                       "audit-bucket-encryption")
    assert encryption.props["rules"] == [{
        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms",
                                               "kmsMasterKeyId": audit_key(stack).outputs["arn"]},
        "bucketKeyEnabled": True,
    }]
    for resource in (ownership, versioning, encryption):
        assert resource.props["bucket"] == trail_bucket(stack)


@pytest.mark.parametrize("stack_name, transition, expire", [("dev", 90, 180), ("prod", 90, 2557)])
def test_lifecycle_archives_then_expires_per_stack(request, stack_name, transition, expire):
    stack = request.getfixturevalue(stack_name)
    rules = child(stack, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                  "audit-bucket-lifecycle").props["rules"]
    assert len(rules) == 2
    rule, abort = rules
    assert abort == {"id": "abort-incomplete-multipart-uploads", "status": "Enabled", "filter": {},
                     "abortIncompleteMultipartUpload": {"daysAfterInitiation": 1}}
    assert rule["status"] == "Enabled"
    assert rule["filter"] == {"prefix": "trail/"}
    assert rule["transitions"] == [{"days": transition, "storageClass": "GLACIER_IR"}]
    assert rule["expiration"] == {"days": expire}
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
    assert "abortIncompleteMultipartUpload" not in rule  # the whole bucket's rule does it


def test_bucket_policy_lets_this_trail_write_and_denies_non_tls(stack):
    resource = child(stack, "aws:s3/bucketPolicy:BucketPolicy", "audit-bucket-policy")
    assert resource.props["bucket"] == trail_bucket(stack)
    statements = {s["Sid"]: s for s in policy(resource)["Statement"]}
    assert set(statements) == {"AWSCloudTrailAclCheck", "AWSCloudTrailWrite", "DenyInsecureTransport"}
    bucket_arn = f"arn:aws:s3:::{trail_bucket(stack)}"
    acl = statements["AWSCloudTrailAclCheck"]
    assert (acl["Effect"], acl["Action"], acl["Resource"]) == ("Allow", "s3:GetBucketAcl", bucket_arn)
    assert acl["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert acl["Condition"] == {"StringEquals": {"aws:SourceArn": trail_arn(stack)}}
    write = statements["AWSCloudTrailWrite"]
    assert (write["Action"], write["Resource"]) == ("s3:PutObject", f"{bucket_arn}/trail/AWSLogs/{ACCOUNT}/*")
    assert write["Condition"] == {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control",
                                                   "aws:SourceArn": trail_arn(stack)}}
    deny = statements["DenyInsecureTransport"]
    assert (deny["Effect"], deny["Action"], deny["Principal"]) == ("Deny", "s3:*", {"AWS": "*"})
    assert deny["Resource"] == [bucket_arn, f"{bucket_arn}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_trail_arn_in_policies_is_the_declared_trails(stack):
    """The ARN built before the trail exists is the ARN AWS gives the trail."""
    assert stack.one(TRAIL).outputs["arn"] == trail_arn(stack) == stack.outputs["auditTrailArn"]


# -- CloudWatch Logs delivery ------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack_name, days", [("dev", 30), ("prod", 365)])
def test_trail_log_group_has_retention_and_the_audit_key(request, stack_name, days):
    stack = request.getfixturevalue(stack_name)
    group = child(stack, LOG_GROUP, "audit-trail-logs")
    assert group.props["name"] == f"/cruddur/{stack.stack}/cloudtrail"
    assert group.props["retentionInDays"] == days
    assert group.props["kmsKeyId"] == audit_key(stack).outputs["arn"]


def test_delivery_role_is_assumable_by_this_trail_only(stack):
    role = child(stack, "aws:iam/role:Role", "audit-trail-logs-role")
    (statement,) = policy(role, "assumeRolePolicy")["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceArn": trail_arn(stack),
                                                       "aws:SourceAccount": ACCOUNT}}
    attachments = [r for r in stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                   if r.props["role"] == role.outputs["name"]]
    assert attachments == []


def test_delivery_role_may_only_write_streams_of_its_group(stack):
    write = child(stack, "aws:iam/rolePolicy:RolePolicy", "audit-trail-logs-write")
    role = stack.one("aws:iam/role:Role", "audit-trail-logs-role")
    assert write.props["role"] == role.id
    (statement,) = policy(write)["Statement"]
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    group_arn = stack.one(LOG_GROUP, "audit-trail-logs").outputs["arn"]
    assert statement["Resource"] == f"{group_arn}:log-stream:{ACCOUNT}_CloudTrail_{REGION}*"


# -- the trail ----------------------------------------------------------------------------------------------------
def test_trail_is_multi_region_validated_encrypted_and_delivered(stack):
    trail = child(stack, TRAIL, "audit-trail")
    p = trail.props
    assert p["name"] == f"cruddur-{stack.stack}-trail"
    assert p["isMultiRegionTrail"] is True
    assert p["includeGlobalServiceEvents"] is True
    assert p["enableLogFileValidation"] is True
    assert p["enableLogging"] is True
    assert p["kmsKeyId"] == audit_key(stack).outputs["arn"]
    assert p["s3BucketName"] == trail_bucket(stack)
    assert p["s3KeyPrefix"] == "trail"
    assert p["cloudWatchLogsGroupArn"] == stack.one(LOG_GROUP, "audit-trail-logs").outputs["arn"] + ":*"
    assert p["cloudWatchLogsRoleArn"] == stack.one("aws:iam/role:Role", "audit-trail-logs-role").outputs["arn"]
    assert p["eventSelectors"] == [{"readWriteType": "All", "includeManagementEvents": True}]


def test_trail_waits_for_its_bucket_policy_and_role_policy(stack):
    trail = stack.one(TRAIL)
    needed = {stack.one("aws:s3/bucketPolicy:BucketPolicy", "audit-bucket-policy").urn,
              stack.one("aws:iam/rolePolicy:RolePolicy", "audit-trail-logs-write").urn,
              stack.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "audit-bucket-public-access").urn}
    assert needed <= set(trail.dependencies)


# -- GuardDuty ----------------------------------------------------------------------------------------------------
def test_guardduty_detector_with_rds_protection(stack):
    detector = child(stack, DETECTOR, "audit-detector")
    assert detector.props["enable"] is True
    assert detector.props["findingPublishingFrequency"] == "FIFTEEN_MINUTES"
    feature = child(stack, FEATURE, "audit-rds-protection")
    assert feature.props == {"detectorId": detector.id, "name": "RDS_LOGIN_EVENTS", "status": "ENABLED"}
    assert stack.outputs["guardDutyDetectorId"] == detector.id


def test_adopted_detector_gets_only_the_rds_feature(evaluate_with):
    stack = evaluate_with("prod", {"guardDutyDetectorId": DETECTOR_ID})
    assert stack.of_type(DETECTOR) == []
    feature = stack.one(FEATURE)
    assert feature.props == {"detectorId": DETECTOR_ID, "name": "RDS_LOGIN_EVENTS", "status": "ENABLED"}
    assert stack.outputs["guardDutyDetectorId"] == DETECTOR_ID


def test_dev_may_switch_trail_and_guardduty_off(evaluate_with):
    stack = evaluate_with("dev", {"auditTrail": False, "guardDuty": False})
    audit = stack.one("cruddur:audit:Audit")
    assert list(stack.children_of(audit)) == []
    assert not {"auditTrailArn", "auditBucketName", "guardDutyDetectorId"} & set(stack.outputs)


def test_audit_outputs_are_exported(stack):
    assert stack.outputs["auditBucketName"] == trail_bucket(stack)
    assert stack.outputs["auditLogGroupName"] == f"/cruddur/{stack.stack}/cloudtrail"
    assert stack.outputs["auditKmsKeyArn"] == audit_key(stack).outputs["arn"]


# -- settings rules -----------------------------------------------------------------------------------------------
def test_prod_may_not_switch_the_trail_off(config_problems):
    assert only(config_problems("prod", auditTrail=False)) == (
        "cruddur-db:auditTrail = False: prod must keep its CloudTrail trail on")


def test_prod_may_not_switch_guardduty_off(config_problems):
    assert only(config_problems("prod", guardDuty=False)) == (
        "cruddur-db:guardDuty = False: prod must keep GuardDuty with RDS Protection on "
        "(adopt an existing detector with guardDutyDetectorId)")


def test_prod_may_not_force_destroy_the_trail_bucket(config_problems):
    assert only(config_problems("prod", trailBucketForceDestroy=True)) == (
        "cruddur-db:trailBucketForceDestroy = True: prod never force-destroys its audit log bucket")


def test_prod_keeps_trail_logs_a_year(config_problems):
    assert only(config_problems("prod", trailLogRetentionDays=90)) == (
        "cruddur-db:trailLogRetentionDays = 90: prod keeps the trail in CloudWatch Logs at least 365 days")
    assert only(config_problems("prod", trailBucketExpireDays=180)) == (
        "cruddur-db:trailBucketExpireDays = 180: prod keeps trail log files at least 365 days")


def test_trail_log_retention_must_be_a_cloudwatch_value(config_problems):
    assert only(config_problems("dev", trailLogRetentionDays=45)).startswith(
        "cruddur-db:trailLogRetentionDays = 45: must be a CloudWatch Logs retention value: 1, 3, 5, 7,")


def test_trail_bucket_days_are_bounded_and_ordered(config_problems):
    assert only(config_problems("dev", trailBucketTransitionDays=0)) == (
        "cruddur-db:trailBucketTransitionDays = 0: must be from 1 to 3653")
    assert only(config_problems("dev", trailBucketExpireDays="soon")) == (
        "cruddur-db:trailBucketExpireDays = 'soon': must be a whole number from 2 to 3653")
    assert only(config_problems("dev", trailBucketTransitionDays=200, trailBucketExpireDays=180)) == (
        "cruddur-db:trailBucketExpireDays = 180: must be above trailBucketTransitionDays (200): logs move to "
        "the archive tier before they expire")


def test_audit_booleans_must_be_booleans(config_problems):
    assert only(config_problems("dev", auditTrail="yes")) == "cruddur-db:auditTrail = 'yes': must be true or false"
    assert only(config_problems("dev", guardDuty="on")) == "cruddur-db:guardDuty = 'on': must be true or false"
    assert only(config_problems("dev", trailBucketForceDestroy="1")) == (
        "cruddur-db:trailBucketForceDestroy = '1': must be true or false")


def test_detector_id_must_look_like_one(config_problems):
    assert only(config_problems("prod", guardDutyDetectorId="arn:aws:guardduty:eu-west-1:1:detector/x")) == (
        "cruddur-db:guardDutyDetectorId = 'arn:aws:guardduty:eu-west-1:1:detector/x': must be empty (this stack "
        "creates the detector) or an existing GuardDuty detector id (32 lower-case hex characters, "
        "`aws guardduty list-detectors`)")


def test_detector_id_without_guardduty_is_contradictory(config_problems):
    assert only(config_problems("dev", guardDuty=False, guardDutyDetectorId=DETECTOR_ID)) == (
        f"cruddur-db:guardDutyDetectorId = '{DETECTOR_ID}': is set but guardDuty is false; set guardDuty to true "
        "to manage RDS Protection on that detector, or unset it")
