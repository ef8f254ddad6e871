"""The app secret's rotation (alternating users) under mocks, for both stacks: schedule, function, network path,
least privilege, and Pulumi never writing an old user or password back."""

from __future__ import annotations

import json

import pytest

from components.master_rotation import ROTATION_ACTIONS
from tests.components.types import FUNCTION, INGRESS, ROTATION, SECRET, SG


def test_the_app_secret_rotates_on_its_own_schedule_with_its_own_function(stack):
    rotation = stack.one(ROTATION, "app-rotation-schedule")
    function = stack.one(FUNCTION, "app-rotation-function")
    assert rotation.props["secretId"] == stack.one(SECRET, "app-secret").id
    assert rotation.props["rotationLambdaArn"] == function.outputs["arn"]
    assert rotation.props["rotationRules"] == {"automaticallyAfterDays": 30}
    assert function.props["name"] == f"cruddur-{stack.stack}-rotate-app"
    assert function.props["name"] != stack.one(FUNCTION, "master-rotation-function").props["name"]


def test_the_function_alternates_users_and_knows_the_master_secret_but_holds_no_password(stack):
    function = stack.one(FUNCTION, "app-rotation-function").props
    master_arn = stack.one(SECRET, "db-master-secret").outputs["arn"]
    assert function["environment"]["variables"] == {
        "ROTATION_STRATEGY": "alternating-users", "MASTER_SECRET_ARN": master_arn,
        "DB_FUNCTION_NAME": f"cruddur-{stack.stack}-rotate-app-db",
        "POWERTOOLS_SERVICE_NAME": "cruddur-rotate-app", "POWERTOOLS_LOG_LEVEL": "INFO"}
    assert function["handler"] == "handler.handler"
    # the master's function keeps its single-user default
    master = stack.one(FUNCTION, "master-rotation-function").props["environment"]["variables"]
    assert "ROTATION_STRATEGY" not in master and "MASTER_SECRET_ARN" not in master


def test_the_rotation_runs_outside_the_vpc_and_its_database_function_inside_reaching_only_the_database(stack):
    function = stack.one(FUNCTION, "app-rotation-function").props
    assert "vpcConfig" not in function
    assert function["kmsKeyArn"] == stack.one("aws:kms/key:Key", "data-key").outputs["arn"]
    assert function["runtime"] == "python3.13" and function["tracingConfig"] == {"mode": "Active"}
    db_function = stack.one(FUNCTION, "app-rotation-db-function").props
    sg = stack.one(SG, "app-rotation-db-sg")
    assert db_function["handler"] == "handler.db_handler"
    assert db_function["vpcConfig"]["securityGroupIds"] == [sg.id]
    assert sorted(db_function["vpcConfig"]["subnetIds"]) == sorted(
        s.id for s in stack.of_type("aws:ec2/subnet:Subnet"))
    admitted = {(r.props["securityGroupId"], r.props["fromPort"]) for r in stack.of_type(INGRESS)
                if r.props.get("referencedSecurityGroupId") == sg.id}
    assert admitted == {(stack.one(SG, "db-sg").id, 5432)}
    egress = sorted((r.props["referencedSecurityGroupId"], r.props["fromPort"])
                    for r in stack.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
                    if r.props["securityGroupId"] == sg.id)
    assert egress == [(stack.one(SG, "db-sg").id, 5432)]
    # the database function's environment holds no secret and names no secret: it gets credentials per call
    assert set(db_function["environment"]["variables"]) == {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL"}


def test_the_role_may_rotate_the_app_secret_and_only_read_the_masters(stack):
    policy = json.loads(stack.one("aws:iam/rolePolicy:RolePolicy", "app-rotation-policy").props["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    app_arn = stack.one(SECRET, "app-secret").outputs["arn"]
    master_arn = stack.one(SECRET, "db-master-secret").outputs["arn"]
    assert set(by_sid) == {"RotateTheAppSecret", "ReadTheMasterSecret", "UseTheDataKeyThroughSecretsManager",
                           "InvokeTheDatabaseFunction", "XRayTracing"}
    assert by_sid["InvokeTheDatabaseFunction"]["Resource"] == stack.one(
        FUNCTION, "app-rotation-db-function").outputs["arn"]
    assert sorted(by_sid["RotateTheAppSecret"]["Action"]) == sorted(ROTATION_ACTIONS)
    assert by_sid["RotateTheAppSecret"]["Resource"] == app_arn
    assert by_sid["ReadTheMasterSecret"]["Action"] == "secretsmanager:GetSecretValue"
    assert by_sid["ReadTheMasterSecret"]["Resource"] == master_arn
    kms = by_sid["UseTheDataKeyThroughSecretsManager"]
    assert kms["Resource"] == stack.one("aws:kms/key:Key", "data-key").outputs["arn"]
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}}
    # the master's rotation role still touches the master secret only
    master_policy = json.loads(stack.one("aws:iam/rolePolicy:RolePolicy", "master-rotation-policy").props["policy"])
    assert {s["Sid"]: s.get("Resource") for s in master_policy["Statement"]}["RotateTheMasterSecret"] == master_arn
    assert stack.one("aws:iam/role:Role", "app-rotation-role").props["name"] == f"cruddur-{stack.stack}-rotate-app"


def test_only_secrets_manager_may_invoke_it_for_the_app_secret(stack):
    permission = stack.one("aws:lambda/permission:Permission", "app-rotation-invoke").props
    assert permission["principal"] == "secretsmanager.amazonaws.com"
    assert permission["sourceArn"] == stack.one(SECRET, "app-secret").outputs["arn"]


def test_the_first_rotation_waits_for_the_migration_that_creates_the_clone(stack):
    rotation = stack.one(ROTATION, "app-rotation-schedule")
    invocation = stack.one("aws:lambda/invocation:Invocation", "migrator-run")
    assert invocation.urn in rotation.dependencies


def test_pulumi_never_writes_an_old_app_user_or_password_back(stack):
    version = stack.one("aws:secretsmanager/secretVersion:SecretVersion", "app-secret-value")
    assert "secretString" in version.ignore_changes


@pytest.mark.parametrize("days, ok", [(90, True), (91, False)])
def test_prod_rotates_the_app_password_at_least_every_90_days(config_problems, evaluate_with, days, ok):
    if ok:
        rotation = evaluate_with("prod", overrides={"cruddur-db:appPasswordRotationDays": days}).one(
            ROTATION, "app-rotation-schedule")
        assert rotation.props["rotationRules"] == {"automaticallyAfterDays": 90}
    else:
        assert config_problems("prod", appPasswordRotationDays=days) == [
            "cruddur-db:appPasswordRotationDays = 91: prod rotates the app password at least every 90 days"]


def test_a_dev_stack_may_rotate_less_often_but_within_a_year(config_problems, evaluate_with):
    rotation = evaluate_with("dev", overrides={"cruddur-db:appPasswordRotationDays": 120}).one(
        ROTATION, "app-rotation-schedule")
    assert rotation.props["rotationRules"] == {"automaticallyAfterDays": 120}
    assert config_problems("dev", appPasswordRotationDays=0) == [
        "cruddur-db:appPasswordRotationDays = 0: must be from 1 to 365"]
    assert config_problems("dev", appPasswordRotationDays=366) == [
        "cruddur-db:appPasswordRotationDays = 366: must be from 1 to 365"]
