"""Practices every stack holds, checked on the evaluated program: confused-deputy conditions on what AWS services
may do for this stack, X-Ray and reserved concurrency on the functions, and the whole-bucket abort of incomplete
multipart uploads on every bucket."""

from __future__ import annotations

import json

import pytest

from components.function import ONE_AT_A_TIME

ACCOUNT = "123456789012"  # the mocks' account


def _statements(document: str) -> list[dict]:
    return json.loads(document)["Statement"]


def _conditions(statement: dict) -> dict:
    return {f"{test}:{key}": value for test, pairs in statement.get("Condition", {}).items()
            for key, value in pairs.items()}


def _role(stack, part: str):
    found = [r for r in stack.of_type("aws:iam/role:Role") if r.name.endswith(part)]
    assert len(found) == 1, [r.name for r in stack.of_type("aws:iam/role:Role")]
    return found[0]


def test_enhanced_monitoring_role_is_for_this_instance_of_this_account(prod):
    (statement,) = _statements(_role(prod, "-monitoring-role").props["assumeRolePolicy"])
    assert statement["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    instance = prod.one("aws:rds/instance:Instance").props["identifier"]
    assert _conditions(statement) == {
        "StringEquals:aws:SourceAccount": ACCOUNT,
        "ArnLike:aws:SourceArn": f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:{instance}"}


def test_backup_role_is_for_this_account(prod):
    (statement,) = _statements(_role(prod, "-backup-role").props["assumeRolePolicy"])
    assert statement["Principal"] == {"Service": "backup.amazonaws.com"}
    assert _conditions(statement) == {"StringEquals:aws:SourceAccount": ACCOUNT}


def test_backup_may_publish_to_the_alarm_topic_and_use_the_data_key_for_this_account_only(prod):
    topic = _statements(prod.one("aws:sns/topicPolicy:TopicPolicy", "monitoring-topic-policy").props["policy"])
    keys = [s for k in prod.of_type("aws:kms/key:Key") for s in _statements(k.props["policy"])]
    backup = [s for s in [*topic, *keys] if s.get("Principal") == {"Service": "backup.amazonaws.com"}]
    assert {s["Sid"] for s in backup} == {"BackupVaultNotificationsPublish", "AllowBackupNotificationsToEncryptedTopics"}
    assert all(_conditions(s) == {"StringEquals:aws:SourceAccount": ACCOUNT} for s in backup)


@pytest.mark.parametrize("part", ["restore-probe", "restore-report"])
def test_the_restore_functions_are_traced(prod, part):
    function = next(f for f in prod.of_type("aws:lambda/function:Function") if f.props["name"].endswith(part))
    assert function.props["tracingConfig"] == {"mode": "Active"}


@pytest.mark.parametrize("part", ["restore-probe", "restore-report", "migrator", "migrator-db", "rotate-master",
                                  "rotate-master-db", "rotate-app", "rotate-app-db"])
def test_functions_with_bounded_callers_run_one_at_a_time(prod, part):
    names = {f.props["name"]: f for f in prod.of_type("aws:lambda/function:Function")}
    function = names[f"cruddur-prod-{part}"]
    assert function.props["reservedConcurrentExecutions"] == ONE_AT_A_TIME


def test_every_bucket_aborts_incomplete_multipart_uploads_over_the_whole_bucket(stack):
    buckets = {b.props["bucket"] for b in stack.of_type("aws:s3/bucket:Bucket") if "bucket" in b.props}
    lifecycles = stack.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert len(lifecycles) == len(stack.of_type("aws:s3/bucket:Bucket")) >= 3, buckets
    for lifecycle in lifecycles:
        whole = [rule for rule in lifecycle.props["rules"] if rule.get("abortIncompleteMultipartUpload")
                 and rule["status"] == "Enabled" and not any((rule.get("filter") or {}).values())]
        assert len(whole) == 1, (lifecycle.name, lifecycle.props["rules"])
        assert whole[0]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] <= 7
