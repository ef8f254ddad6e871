"""The day-2 rules: prod's stateful resources protected, SNS topics on a CMK, major upgrades only through
blue/green to a family-matching parameter group, the final snapshot kept, the trail notifying its topic. Each passes
on the committed stacks (test_policies.py) and on a declared 16 -> 17 upgrade, and reports a real recorded resource
with exactly one property (or option) changed; unknown values are never violations."""

from __future__ import annotations

import dataclasses

import pytest
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE

from ops.offline.stack_eval import evaluate
from ops.offline.verdicts import check, resource_args, stack_args
from tests.policy.conftest import REMOVE, changed, policies, replaced, resource_violations, stack_violations
from tests.policy.test_policies import _stack_of

INSTANCE = "aws:rds/instance:Instance"
PARAMS = "aws:rds/parameterGroup:ParameterGroup"
TOPIC = "aws:sns/topic:Topic"
TRAIL = "aws:cloudtrail/trail:Trail"
DAY2_RULES = ("prod-stateful-protected", "sns-encrypted-with-cmk", "rds-major-upgrade-blue-green",
              "rds-parameter-group-family", "rds-final-snapshot")


@pytest.fixture(scope="module")
def upgrading():
    """prod declaring the 16 -> 17 upgrade (runbooks/upgrade-major.md, step 2)."""
    return evaluate("prod", overrides={"cruddur-db:engineVersion": "17",
                                            "cruddur-db:upgradeFromEngineVersion": "16"})


def unprotected(resource):
    return dataclasses.replace(resource, protect=False)


# -- registration -------------------------------------------------------------------------------------------------
def test_prod_only_rules_without_a_dev_advisory():
    names = [r.name for r in policies.RULES]
    for name in ("prod-stateful-protected", "rds-final-snapshot"):
        rule = policies.rule(name)
        assert (rule.enforcement.value, rule.environments) == ("mandatory", ("prod",))
        assert f"{name}-dev" not in names
        assert "prod stacks only: a dev stack" in rule.description
    for name in ("sns-encrypted-with-cmk", "rds-major-upgrade-blue-green", "rds-parameter-group-family"):
        assert policies.rule(name).environments == ("dev", "prod")


def test_the_upgrade_in_progress_passes_every_day2_rule(upgrading):
    instance = upgrading.one(INSTANCE)
    assert instance.props["allowMajorVersionUpgrade"] is True and instance.props["blueGreenUpdate"] == {"enabled": True}
    _, verdicts = check(upgrading)
    assert {v.policy: v.status for v in verdicts if v.policy in DAY2_RULES} == dict.fromkeys(DAY2_RULES, "pass")


# -- the offline plan feeds options as the engine does ------------------------------------------------------------
def test_policies_see_the_recorded_protect_and_timeouts(prod, dev):
    opts = resource_args(prod, prod.one(INSTANCE)).opts
    assert opts.protect is True
    assert (opts.custom_timeouts.create_seconds, opts.custom_timeouts.update_seconds,
            opts.custom_timeouts.delete_seconds) == (7200, 14400, 7200)
    assert resource_args(dev, dev.one(INSTANCE)).opts.protect is False
    by_name = {r.name: r for r in stack_args(prod).resources}
    assert by_name["db-instance"].opts.protect is True and by_name["db-params"].opts.protect is False


# -- protect ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("resource_type, name, label", [
    (INSTANCE, "db-instance", "rds Instance 'db-instance'"),
    ("aws:secretsmanager/secret:Secret", "db-master-secret", "secretsmanager Secret 'db-master-secret'"),
    ("aws:secretsmanager/secret:Secret", "app-secret", "secretsmanager Secret 'app-secret'"),
    ("aws:kms/key:Key", "data-key", "kms Key 'data-key'"),
    ("aws:kms/key:Key", "audit-key-key", "kms Key 'audit-key-key'"),
    ("aws:cognito/userPool:UserPool", "confirmation-pool", "cognito UserPool 'confirmation-pool'"),
    ("aws:s3/bucket:Bucket", "audit-bucket", "s3 Bucket 'audit-bucket' (CloudTrail log files)"),
])
def test_prod_stateful_resource_without_protect_is_a_violation(prod, resource_type, name, label):
    resource = prod.one(resource_type, name)
    assert stack_violations("prod-stateful-protected", replaced(prod, resource, unprotected(resource))) == [
        f"{label} is not protected; declare it with protect=True (components/naming.py stateful(); "
        "cruddur-db:protectStatefulResources true), so that no destroy or replacement deletes it until its "
        "protection is lifted on purpose (`pulumi state unprotect URN`)"]


def test_only_the_trails_bucket_must_be_protected(prod):
    logs = prod.one("aws:s3/bucket:Bucket", "audit-access-logs")
    assert stack_violations("prod-stateful-protected", replaced(prod, logs, unprotected(logs))) == []
    trail = prod.one(TRAIL)
    bucket = prod.one("aws:s3/bucket:Bucket", "audit-bucket")
    elsewhere = replaced(replaced(prod, bucket, unprotected(bucket)), trail, changed(trail, s3BucketName="other"))
    assert stack_violations("prod-stateful-protected", elsewhere) == []


def test_protect_is_not_required_on_dev(dev):
    assert not any(r.protect for r in dev.resources)
    assert stack_violations("prod-stateful-protected", dev) == []


def test_resources_without_known_options_are_not_judged(prod):
    assert policies.rule("prod-stateful-protected").run(_stack_of(prod)) == []  # opts=None on every resource


# -- SNS ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["monitoring-topic", "audit-trail-topic"])
@pytest.mark.parametrize("key, expected", [
    (REMOVE, "is not encrypted; set kms_master_key_id to the stack's customer-managed KMS key ARN"),
    ("", "is not encrypted; set kms_master_key_id"),
    ("alias/aws/sns", "is encrypted with the AWS-managed key alias/aws/sns; set kms_master_key_id"),
    ("arn:aws:kms:eu-west-1:123456789012:alias/aws/sns", "AWS-managed key arn:aws:kms:eu-west-1:123456789012:alias/aws/sns"),
])
def test_sns_topic_not_on_a_cmk_is_a_violation(stack, name, key, expected):
    topic = stack.one(TOPIC, name)
    (message,) = resource_violations("sns-encrypted-with-cmk", stack, changed(topic, kmsMasterKeyId=key))
    assert message.startswith(f"sns Topic '{name}' ") and expected in message


def test_sns_topic_key_unknown_at_preview_is_not_a_violation(prod):
    topic = prod.one(TOPIC, "audit-trail-topic")
    assert resource_violations("sns-encrypted-with-cmk", prod,
                               changed(topic, kmsMasterKeyId=UNKNOWN_STRING_VALUE)) == []


# -- major upgrades only through blue/green -----------------------------------------------------------------------
BLUE_GREEN_MESSAGE = (
    "rds Instance 'db-instance' allows a major-version upgrade in place (allow_major_version_upgrade without "
    "blue_green_update.enabled); set blue_green_update={'enabled': True} so RDS upgrades a green copy and switches "
    "over (cruddur-db:upgradeFromEngineVersion, runbooks/upgrade-major.md)")


@pytest.mark.parametrize("blue_green", [{"enabled": False}, REMOVE, {}, {"enabled": "false"}])
def test_major_upgrade_without_blue_green_is_a_violation(upgrading, blue_green):
    broken = changed(upgrading.one(INSTANCE), blueGreenUpdate=blue_green)
    assert resource_violations("rds-major-upgrade-blue-green", upgrading, broken) == [BLUE_GREEN_MESSAGE]


def test_blue_green_without_a_major_upgrade_or_unknown_is_fine(prod, upgrading):
    instance = upgrading.one(INSTANCE)
    assert resource_violations("rds-major-upgrade-blue-green", upgrading,
                               changed(instance, allowMajorVersionUpgrade=False,
                                       blueGreenUpdate={"enabled": False})) == []
    for unknown in ({"blueGreenUpdate": UNKNOWN_OBJECT_VALUE}, {"blueGreenUpdate": {"enabled": UNKNOWN_BOOLEAN_VALUE}},
                    {"allowMajorVersionUpgrade": UNKNOWN_BOOLEAN_VALUE, "blueGreenUpdate": REMOVE}):
        assert resource_violations("rds-major-upgrade-blue-green", upgrading, changed(instance, **unknown)) == []
    assert prod.one(INSTANCE).props["allowMajorVersionUpgrade"] is False  # no upgrade in progress: nothing to judge


# -- the parameter group's family matches the engine --------------------------------------------------------------
def test_group_of_the_old_family_is_a_violation(upgrading):
    group = upgrading.one(PARAMS)
    assert group.props["family"] == "postgres17"
    broken = replaced(upgrading, group, changed(group, family="postgres16"))
    assert stack_violations("rds-parameter-group-family", broken) == [
        "rds Instance 'db-instance' runs PostgreSQL 17 but links parameter group 'db-params' of family postgres16; "
        "link a postgres17 group (one group per family, components/database.py; runbooks/upgrade-major.md)"]


def test_engine_version_with_a_minor_is_judged_by_its_major(prod):
    db = prod.one(INSTANCE)
    assert stack_violations("rds-parameter-group-family", replaced(prod, db, changed(db, engineVersion="17.4"))) == []
    (message,) = stack_violations("rds-parameter-group-family",
                                  replaced(prod, db, changed(db, engineVersion="16.8")))
    assert message.startswith("rds Instance 'db-instance' runs PostgreSQL 16.8 but links parameter group "
                              "'db-params' of family postgres17; link a postgres16 group")


@pytest.mark.parametrize("version, family", [("17", "postgres17"), ("16.4", "postgres16"), (15, "postgres15"),
                                             ("9.6.24", "postgres9.6"), ("latest", None), (None, None)])
def test_postgres_family(version, family):
    assert policies.postgres_family(version) == family


@pytest.mark.parametrize("unknowns", [
    {"db_instance": {"engineVersion": UNKNOWN_STRING_VALUE}},
    {"db_instance": {"parameterGroupName": UNKNOWN_STRING_VALUE}},
    {"db_params": {"family": UNKNOWN_STRING_VALUE}},
    {"db_params": {"name": UNKNOWN_STRING_VALUE}},
])
def test_unknown_family_inputs_are_not_violations(prod, unknowns):
    group = prod.one(PARAMS)
    wrong = replaced(prod, group, changed(group, family="postgres16"))
    assert len(stack_violations("rds-parameter-group-family", wrong)) == 1  # known: a violation
    merged = {"db_params": {"family": "postgres16"}}
    for name, props in unknowns.items():
        merged[name] = {**merged.get(name, {}), **props}
    assert policies.rule("rds-parameter-group-family").run(_stack_of(prod, **merged)) == []


# -- the final snapshot is kept -----------------------------------------------------------------------------------
FIX = ("set skip_final_snapshot=False and a final_snapshot_identifier that is new for each instance "
       "(components/database.py: <identifier>-final-<RandomId>)")


@pytest.mark.parametrize("change, expected", [
    ({"skipFinalSnapshot": True}, f"skips its final snapshot; {FIX} (cruddur-db:skipFinalSnapshot false)"),
    ({"finalSnapshotIdentifier": REMOVE}, "has no final_snapshot_identifier, so RDS refuses to delete or replace "
                                          f"it with a final snapshot; {FIX}"),
    ({"finalSnapshotIdentifier": "cruddur-prod-db-final"},
     f"names its final snapshot 'cruddur-prod-db-final', which the next teardown or replacement would collide with; "
     f"{FIX}"),
    ({"finalSnapshotIdentifier": "cruddur-prod-db"}, "names its final snapshot 'cruddur-prod-db'"),
])
def test_prod_instance_without_a_kept_final_snapshot_is_a_violation(prod, change, expected):
    (message,) = resource_violations("rds-final-snapshot", prod, changed(prod.one(INSTANCE), **change))
    assert message.startswith("rds Instance 'db-instance' ") and expected in message


def test_final_snapshot_unknown_at_preview_or_on_dev_is_not_a_violation(prod, dev):
    instance = prod.one(INSTANCE)
    assert instance.props["finalSnapshotIdentifier"].startswith("cruddur-prod-db-final-")
    assert resource_violations("rds-final-snapshot", prod,
                               changed(instance, finalSnapshotIdentifier=UNKNOWN_STRING_VALUE)) == []
    assert dev.one(INSTANCE).props["skipFinalSnapshot"] is True
    assert resource_violations("rds-final-snapshot", dev, dev.one(INSTANCE)) == []  # prod stacks only


# -- the trail notifies its topic ---------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [REMOVE, ""])
def test_trail_without_a_topic_is_a_violation(stack, value):
    trail = stack.one(TRAIL)
    assert resource_violations("cloudtrail-hardened", stack, changed(trail, snsTopicName=value)) == [
        "cloudtrail Trail 'audit-trail' notifies no SNS topic of delivered log files; set sns_topic_name to the "
        "trail's encrypted topic (components/audit.py)"]
    assert resource_violations("cloudtrail-hardened", stack,
                               changed(trail, snsTopicName=UNKNOWN_STRING_VALUE)) == []
