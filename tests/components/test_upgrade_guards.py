"""Guards against losing the database: Pulumi `protect` on prod's stateful resources, a final snapshot name that
never collides, and a major-version upgrade that goes one major up through an RDS blue/green deployment to the
new family's parameter group (runbooks/upgrade-major.md)."""

import re

import pytest

from components.database import TIMEOUTS
from tests.components.types import INSTANCE, PARAMS

SUFFIX = "random:index/randomId:RandomId"

# What prod protects: the resources whose loss loses data or the keys and identities that give access to it.
PROTECTED = {
    ("aws:rds/instance:Instance", "db-instance"),
    ("aws:secretsmanager/secret:Secret", "db-master-secret"),
    ("aws:secretsmanager/secretVersion:SecretVersion", "db-master-secret-value"),
    ("aws:secretsmanager/secret:Secret", "app-secret"),  # the app's credentials (its ARN is the app's config)
    ("aws:kms/key:Key", "data-key"),
    ("aws:kms/key:Key", "audit-key-key"),
    ("aws:s3/bucket:Bucket", "audit-bucket"),
    ("aws:s3/bucket:Bucket", "audit-access-logs"),  # the trail bucket's server access logs
    ("aws:cognito/userPool:UserPool", "confirmation-pool"),
}


def protected(evaluation) -> set[tuple[str, str]]:
    return {(r.type, r.name) for r in evaluation.resources if r.protect}


def only(problems: list[str]) -> str:
    assert len(problems) == 1, problems
    return problems[0]


# -- protect ----------------------------------------------------------------------------------------------------
def test_prod_protects_exactly_its_stateful_resources(prod):
    assert prod.config["cruddur-db:protectStatefulResources"] == "true"  # the default, not the stack file
    assert protected(prod) == PROTECTED


def test_dev_protects_nothing_so_it_can_be_torn_down(dev):
    assert dev.config["cruddur-db:protectStatefulResources"] == "false"
    assert protected(dev) == set()
    assert dev.resources and not any(r.protect for r in dev.resources)


def test_a_non_prod_stack_may_protect_the_same_resources(evaluate_with):
    evaluation = evaluate_with("dev", overrides={"cruddur-db:protectStatefulResources": True})
    assert protected(evaluation) == PROTECTED


def test_prod_may_not_switch_protection_off(config_problems):
    assert only(config_problems("prod", protectStatefulResources=False)) == (
        "cruddur-db:protectStatefulResources = False: prod must keep its stateful resources protected; to remove "
        "one on purpose, lift its protection alone with `pulumi state unprotect URN`")


def test_protection_is_a_boolean(config_problems):
    assert only(config_problems("dev", protectStatefulResources="maybe")) == (
        "cruddur-db:protectStatefulResources = 'maybe': must be true or false")


# -- the final snapshot ------------------------------------------------------------------------------------------
def test_prod_final_snapshot_name_has_a_per_instance_suffix(prod):
    db = prod.one(INSTANCE).props
    suffix = prod.one(SUFFIX, "db-final-snapshot-suffix")
    assert prod.parent_of(suffix).type == "cruddur:database:Database"
    assert suffix.props["byteLength"] == 4
    assert re.fullmatch(r"[0-9a-f]{8}", suffix.outputs["hex"])
    assert db["finalSnapshotIdentifier"] == f"cruddur-prod-db-final-{suffix.outputs['hex']}"
    assert db["skipFinalSnapshot"] is False
    assert db["deleteAutomatedBackups"] is False  # automated backups outlive the instance
    # The keepers are the inputs whose change replaces the instance: each new instance draws a new suffix.
    assert suffix.props["keepers"] == {
        "identifier": "cruddur-prod-db", "engine": "postgres", "db_name": "cruddur", "username": "cruddur_admin",
        "kms_key_id": prod.one("aws:kms/key:Key", "data-key").outputs["arn"], "storage_encrypted": "true"}


def test_final_snapshot_name_changes_when_the_instance_would_be_replaced(prod, evaluate_with):
    before = prod.one(INSTANCE).props["finalSnapshotIdentifier"]
    replaced = evaluate_with("prod", overrides={"cruddur-db:masterUsername": "cruddur_owner"})  # forces a new instance
    after = replaced.one(INSTANCE).props["finalSnapshotIdentifier"]
    assert re.fullmatch(r"cruddur-prod-db-final-[0-9a-f]{8}", after)
    assert after != before
    resized = evaluate_with("prod", overrides={"cruddur-db:instanceClass": "db.m7g.xlarge"})  # an in-place change
    assert resized.one(INSTANCE).props["finalSnapshotIdentifier"] == before


def test_dev_skips_the_final_snapshot_and_draws_no_suffix(dev):
    db = dev.one(INSTANCE).props
    assert db["skipFinalSnapshot"] is True and "finalSnapshotIdentifier" not in db
    assert dev.of_type(SUFFIX) == []


# -- major-version upgrade ---------------------------------------------------------------------------------------
def group_of(evaluation):
    return evaluation.one(PARAMS)


def test_upgrade_16_to_17_moves_through_blue_green_to_the_postgres17_group(evaluate_with):
    on_16 = evaluate_with("prod", overrides={"cruddur-db:engineVersion": "16"})
    upgrading = evaluate_with("prod", overrides={"cruddur-db:engineVersion": "17",
                                                 "cruddur-db:upgradeFromEngineVersion": "16"})
    old_group, new_group = group_of(on_16), group_of(upgrading)
    old_db, new_db = on_16.one(INSTANCE), upgrading.one(INSTANCE)

    # One group per family, each with its own logical name: the 17 group is a new resource, created while the 16
    # group still exists (create before delete); the instance references the group of its own family.
    assert (old_group.name, old_group.props["family"]) == ("db-params-postgres16", "postgres16")
    assert (new_group.name, new_group.props["family"]) == ("db-params", "postgres17")
    assert old_group.urn != new_group.urn
    assert new_group.delete_before_replace is False and old_group.delete_before_replace is False
    assert "name" not in new_group.props and "name" not in old_group.props  # auto-named: never collides
    assert old_db.props["parameterGroupName"] == old_group.outputs["name"]
    assert new_db.props["parameterGroupName"] == new_group.outputs["name"]
    assert new_group.outputs["name"] != old_group.outputs["name"]
    # Both groups carry what blue/green's logical replication needs from the blue (current) instance.
    for group in (old_group, new_group):
        params = {p["name"]: p for p in group.props["parameters"]}
        assert params["rds.logical_replication"] == {"name": "rds.logical_replication", "value": "1",
                                                     "applyMethod": "pending-reboot"}
        assert params["rds.force_ssl"]["value"] == "1"

    # In place on 16; the upgrade is a blue/green deployment with a major version change allowed.
    assert old_db.props["engineVersion"] == "16" and new_db.props["engineVersion"] == "17"
    assert old_db.props["blueGreenUpdate"] == {"enabled": False}
    assert old_db.props["allowMajorVersionUpgrade"] is False
    assert new_db.props["blueGreenUpdate"] == {"enabled": True}
    assert new_db.props["allowMajorVersionUpgrade"] is True
    # Blue/green needs backups; what protects the data survives the switchover.
    for db in (old_db, new_db):
        assert db.urn == "urn:pulumi:prod::cruddur-db::cruddur:database:Database$aws:rds/instance:Instance::db-instance"
        assert db.props["backupRetentionPeriod"] >= 1
        assert db.props["deletionProtection"] is True and db.props["skipFinalSnapshot"] is False
        assert db.props["deleteAutomatedBackups"] is False
        assert db.custom_timeouts == {"create": "2h", "update": "4h", "delete": "2h"}
        assert db.protect is True
    # The instance is not replaced (same keepers), so its final snapshot name stays.
    assert new_db.props["finalSnapshotIdentifier"] == old_db.props["finalSnapshotIdentifier"]


def test_timeouts_are_long_enough_for_a_blue_green_switchover(prod, dev):
    assert (TIMEOUTS.create, TIMEOUTS.update, TIMEOUTS.delete) == ("2h", "4h", "2h")
    for evaluation in (prod, dev):
        assert evaluation.one(INSTANCE).custom_timeouts == {"create": "2h", "update": "4h", "delete": "2h"}


def test_without_an_upgrade_in_progress_changes_stay_in_place(stack):
    db = stack.one(INSTANCE).props
    assert stack.config["cruddur-db:upgradeFromEngineVersion"] == ""
    assert db["blueGreenUpdate"] == {"enabled": False} and db["allowMajorVersionUpgrade"] is False
    assert group_of(stack).name == "db-params"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_settings_refuse_a_downgrade(config_problems, stack):
    assert only(config_problems(stack, engineVersion="16", upgradeFromEngineVersion="17")) == (
        "cruddur-db:upgradeFromEngineVersion = '17': is not below engineVersion (16): RDS cannot downgrade a major "
        "version; to go back, restore the snapshot taken before the upgrade (runbooks/upgrade-major.md)")
    assert only(config_problems(stack, engineVersion="17", upgradeFromEngineVersion="17")) == (
        "cruddur-db:upgradeFromEngineVersion = '17': is not below engineVersion (17): RDS cannot downgrade a major "
        "version; to go back, restore the snapshot taken before the upgrade (runbooks/upgrade-major.md)")


def test_settings_refuse_a_jump_of_two_majors(config_problems):
    assert only(config_problems("prod", engineVersion="17", upgradeFromEngineVersion="15")) == (
        "cruddur-db:upgradeFromEngineVersion = '15': is 2 majors below engineVersion (17): upgrade one major at a "
        "time (set engineVersion to 16 first)")


def test_upgrade_from_must_be_a_major_version(config_problems):
    assert only(config_problems("prod", upgradeFromEngineVersion="16.4")) == (
        "cruddur-db:upgradeFromEngineVersion = '16.4': must be empty (no upgrade in progress) or the major version "
        "the instance runs now, e.g. 16")


def test_the_upgrade_applies_to_dev_the_same_way(evaluate_with):
    upgrading = evaluate_with("dev", overrides={"cruddur-db:engineVersion": "17",
                                                "cruddur-db:upgradeFromEngineVersion": "16"})
    db = upgrading.one(INSTANCE).props
    assert db["blueGreenUpdate"] == {"enabled": True} and db["allowMajorVersionUpgrade"] is True
    assert db["backupRetentionPeriod"] == 1  # blue/green needs backups on: dev keeps one day
    assert db["parameterGroupName"] == group_of(upgrading).outputs["name"]
