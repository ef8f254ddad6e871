"""The master secret's rotation under mocks, for both stacks: schedule, function, network path, least privilege,
and Pulumi never writing an old password back."""

from __future__ import annotations

import json

import pytest

from components.master_rotation import ROTATION_ACTIONS
from tests.components.types import FUNCTION, INGRESS, ROTATION, SG


def test_the_master_secret_rotates_on_the_configured_schedule(stack):
    rotation = stack.one(ROTATION, "master-rotation-schedule")
    secret = stack.one("aws:secretsmanager/secret:Secret", "db-master-secret")
    function = stack.one(FUNCTION, "master-rotation-function")
    assert rotation.props["secretId"] == secret.id
    assert rotation.props["rotationLambdaArn"] == function.outputs["arn"]
    assert rotation.props["rotationRules"] == {"automaticallyAfterDays": 30}


def test_the_rotation_function_runs_outside_the_vpc(stack):
    function = stack.one(FUNCTION, "master-rotation-function").props
    assert "vpcConfig" not in function
    assert function["handler"] == "handler.handler"
    assert function["name"] == f"cruddur-{stack.stack}-rotate-master"
    assert function["kmsKeyArn"] == stack.one("aws:kms/key:Key", "data-key").outputs["arn"]
    assert function["runtime"] == "python3.13" and function["tracingConfig"] == {"mode": "Active"}
    db_function = stack.one(FUNCTION, "master-rotation-db-function")
    assert function["environment"]["variables"]["DB_FUNCTION_NAME"] == db_function.props["name"]
    assert not stack.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")  # no Secrets Manager endpoint is needed
    # its execution role: logs only, no network interfaces
    attachment = stack.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "master-rotation-basic").props
    assert attachment["policyArn"].endswith(":policy/service-role/AWSLambdaBasicExecutionRole")


def test_the_database_function_runs_in_the_private_subnets_and_reaches_only_the_database(stack):
    function = stack.one(FUNCTION, "master-rotation-db-function").props
    sg = stack.one(SG, "master-rotation-db-sg")
    assert function["name"] == f"cruddur-{stack.stack}-rotate-master-db" and function["handler"] == "handler.db_handler"
    assert function["vpcConfig"]["securityGroupIds"] == [sg.id]
    # (subnets register in no fixed order)
    assert sorted(function["vpcConfig"]["subnetIds"]) == sorted(s.id for s in stack.of_type("aws:ec2/subnet:Subnet"))
    admitted = {(r.props["securityGroupId"], r.props["fromPort"]) for r in stack.of_type(INGRESS)
                if r.props.get("referencedSecurityGroupId") == sg.id}
    assert admitted == {(stack.one(SG, "db-sg").id, 5432)}
    # it calls no AWS API: network interfaces and logs only, no inline policy at all
    attachment = stack.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "master-rotation-db-vpc-access")
    assert attachment.props["policyArn"].endswith(":policy/service-role/AWSLambdaVPCAccessExecutionRole")
    assert [p for p in stack.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.startswith("master-rotation-db")] == []
    assert "tracingConfig" not in function


def test_the_role_may_rotate_exactly_the_master_secret(stack):
    policy = json.loads(stack.one("aws:iam/rolePolicy:RolePolicy", "master-rotation-policy").props["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    secret_arn = stack.one("aws:secretsmanager/secret:Secret", "db-master-secret").outputs["arn"]
    assert sorted(by_sid["RotateTheMasterSecret"]["Action"]) == sorted(ROTATION_ACTIONS)
    assert by_sid["RotateTheMasterSecret"]["Resource"] == secret_arn
    kms = by_sid["UseTheDataKeyThroughSecretsManager"]
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}}
    invoke = by_sid["InvokeTheDatabaseFunction"]
    assert (invoke["Action"], invoke["Resource"]) == (
        "lambda:InvokeFunction", stack.one(FUNCTION, "master-rotation-db-function").outputs["arn"])
    assert set(by_sid) == {"RotateTheMasterSecret", "UseTheDataKeyThroughSecretsManager", "InvokeTheDatabaseFunction",
                           "XRayTracing"}


def test_only_secrets_manager_may_invoke_it_for_that_secret(stack):
    permission = stack.one("aws:lambda/permission:Permission", "master-rotation-invoke").props
    assert permission["principal"] == "secretsmanager.amazonaws.com"
    assert permission["sourceArn"] == stack.one("aws:secretsmanager/secret:Secret", "db-master-secret").outputs["arn"]


def test_pulumi_never_writes_an_old_password_back(stack):
    assert "password" in stack.one("aws:rds/instance:Instance").ignore_changes
    version = stack.one("aws:secretsmanager/secretVersion:SecretVersion", "db-master-secret-value")
    assert "secretString" in version.ignore_changes


@pytest.mark.parametrize("days, ok", [(90, True), (91, False)])
def test_prod_rotates_at_least_every_90_days(config_problems, evaluate_with, days, ok):
    if ok:
        evaluate_with("prod", overrides={"cruddur-db:masterPasswordRotationDays": days})
    else:
        assert config_problems("prod", masterPasswordRotationDays=days) == [
            "cruddur-db:masterPasswordRotationDays = 91: prod rotates the master password at least every 90 days"]


def test_rotation_days_must_be_a_number_from_1_to_365(config_problems):
    assert config_problems("dev", masterPasswordRotationDays=0) == [
        "cruddur-db:masterPasswordRotationDays = 0: must be from 1 to 365"]
