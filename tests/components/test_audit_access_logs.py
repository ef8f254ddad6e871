"""The audit trail, complete: the trail bucket's server access logs in their own locked-down bucket, and
incomplete multipart uploads aborted by lifecycle on every bucket the stack declares.

Asserted on the resources both committed stacks declare, under the shared mocks.
"""

import pytest

from tests.components.conftest import policy, trail_bucket
from tests.components.types import ACCOUNT, BUCKET, LIFECYCLE, LOGGING


def artifacts_bucket(stack) -> str:
    return f"cruddur-{stack.stack}-artifacts-{ACCOUNT}"


def log_bucket(stack) -> str:
    return f"cruddur-{stack.stack}-trail-access-{ACCOUNT}"


def log_child(stack, typ, name):
    """A resource of the log bucket, whose component is a child of the Audit component."""
    resource = stack.one(typ, name)
    component = stack.parent_of(resource)
    assert component.type == "cruddur:private_bucket:PrivateBucket"
    assert component.name == "audit-access-logs"
    assert stack.parent_of(component).type == "cruddur:audit:Audit"
    return resource


def test_log_bucket_is_named_for_stack_and_account(stack):
    assert log_child(stack, BUCKET, "audit-access-logs").props["bucket"] == log_bucket(stack)


def test_log_bucket_is_protected_and_force_destroyed_like_the_trail_bucket(dev, prod):
    assert dev.one(BUCKET, "audit-access-logs").props["forceDestroy"] is True
    assert prod.one(BUCKET, "audit-access-logs").props["forceDestroy"] is False
    assert prod.one(BUCKET, "audit-access-logs").protect is True
    assert prod.one(BUCKET, "audit-bucket").protect is True


def test_log_bucket_is_locked_down(stack):
    block = log_child(stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "audit-access-logs-public-access")
    assert block.props == {"bucket": log_bucket(stack), "blockPublicAcls": True, "blockPublicPolicy": True,
                           "ignorePublicAcls": True, "restrictPublicBuckets": True}
    ownership = log_child(stack, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "audit-access-logs-ownership")
    assert ownership.props == {"bucket": log_bucket(stack), "rule": {"objectOwnership": "BucketOwnerEnforced"}}
    versioning = log_child(stack, "aws:s3/bucketVersioning:BucketVersioning", "audit-access-logs-versioning")
    assert versioning.props["versioningConfiguration"] == {"status": "Enabled"}
    assert versioning.props["bucket"] == log_bucket(stack)


def test_log_bucket_is_sse_s3_encrypted_because_access_logs_cannot_use_sse_kms(stack):
    encryption = log_child(stack, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                           "audit-access-logs-encryption")
    assert encryption.props == {"bucket": log_bucket(stack),
                                "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}


@pytest.mark.parametrize("stack_name, expire", [("dev", 180), ("prod", 2557)])
def test_log_bucket_lifecycle_expires_logs_with_the_trail_and_aborts_multipart(request, stack_name, expire):
    stack = request.getfixturevalue(stack_name)
    lifecycle = log_child(stack, LIFECYCLE, "audit-access-logs-lifecycle")
    assert lifecycle.props["bucket"] == log_bucket(stack)
    assert lifecycle.props["rules"] == [
        {"id": "access-logs", "status": "Enabled", "filter": {}, "expiration": {"days": expire},
         "noncurrentVersionExpiration": {"noncurrentDays": 30}},
        {"id": "abort-incomplete-multipart-uploads", "status": "Enabled", "filter": {},
         "abortIncompleteMultipartUpload": {"daysAfterInitiation": 1}},
    ]


def test_log_bucket_policy_lets_only_s3_logging_write_for_the_trail_bucket_and_denies_non_tls(stack):
    resource = log_child(stack, "aws:s3/bucketPolicy:BucketPolicy", "audit-access-logs-policy")
    assert resource.props["bucket"] == log_bucket(stack)
    statements = {s["Sid"]: s for s in policy(resource)["Statement"]}
    assert set(statements) == {"S3ServerAccessLogsFromTheTrailBucket", "S3ServerAccessLogsFromTheArtifactsBucket",
                               "DenyInsecureTransport"}
    write = statements["S3ServerAccessLogsFromTheTrailBucket"]
    assert write == {
        "Sid": "S3ServerAccessLogsFromTheTrailBucket",
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{log_bucket(stack)}/trail-bucket/*",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{trail_bucket(stack)}"},
                      "StringEquals": {"aws:SourceAccount": ACCOUNT}},
    }
    # The code-signing artifacts bucket logs here too, under its own prefix, and only it (by ARN).
    assert statements["S3ServerAccessLogsFromTheArtifactsBucket"] == {
        **write, "Sid": "S3ServerAccessLogsFromTheArtifactsBucket",
        "Resource": f"arn:aws:s3:::{log_bucket(stack)}/artifacts-bucket/*",
        "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{artifacts_bucket(stack)}"},
                      "StringEquals": {"aws:SourceAccount": ACCOUNT}}}
    deny = statements["DenyInsecureTransport"]
    assert (deny["Effect"], deny["Action"], deny["Principal"]) == ("Deny", "s3:*", {"AWS": "*"})
    assert deny["Resource"] == [f"arn:aws:s3:::{log_bucket(stack)}", f"arn:aws:s3:::{log_bucket(stack)}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # The policy goes on after the public-access block.
    block = stack.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "audit-access-logs-public-access")
    assert block.urn in resource.dependencies


def test_trail_bucket_sends_its_server_access_logs_to_the_log_bucket(stack):
    logging = stack.one(LOGGING, "audit-bucket-logging")
    assert stack.parent_of(logging).type == "cruddur:audit:Audit"
    assert logging.props == {"bucket": trail_bucket(stack), "targetBucket": log_bucket(stack),
                             "targetPrefix": "trail-bucket/"}
    policy_urn = stack.one("aws:s3/bucketPolicy:BucketPolicy", "audit-access-logs-policy").urn
    assert policy_urn in logging.dependencies


def test_the_trail_and_artifacts_buckets_log_and_the_log_bucket_logs_nowhere(stack):
    assert sorted(r.props["bucket"] for r in stack.of_type(LOGGING)) == sorted([trail_bucket(stack),
                                                                               artifacts_bucket(stack)])
    artifacts = stack.one(LOGGING, "code-signing-artifacts-access-logging")
    assert artifacts.props == {"bucket": artifacts_bucket(stack), "targetBucket": log_bucket(stack),
                               "targetPrefix": "artifacts-bucket/"}



def test_every_bucket_aborts_incomplete_multipart_uploads_by_lifecycle(stack):
    buckets = [b.props["bucket"] for b in stack.of_type(BUCKET)]
    assert sorted(buckets) == sorted([trail_bucket(stack), log_bucket(stack), artifacts_bucket(stack)])
    lifecycles = stack.of_type(LIFECYCLE)
    assert sorted(lc.props["bucket"] for lc in lifecycles) == sorted(buckets)
    for lifecycle in lifecycles:
        aborting = [r for r in lifecycle.props["rules"]
                    if r["status"] == "Enabled" and r.get("abortIncompleteMultipartUpload", {}).get("daysAfterInitiation")]
        assert aborting, f"{lifecycle.name} never aborts incomplete multipart uploads"
