"""``Confirmation`` under mocks, for both committed stacks: the user pool, client, function, role, SGs, layer."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from components import confirmation as conf
from components.psycopg2_layer import POWERTOOLS, build_layer, build_powertools_layer
from ops.offline.aws_mocks import ACCOUNT_ID
from tests.components.signing_support import signed_source
from tests.components.types import (
    ATTACHMENT,
    CLIENT,
    EGRESS,
    FUNCTION,
    INGRESS,
    LAYER,
    LOG_GROUP,
    PERMISSION,
    POOL,
    RETENTION,
    ROLE,
    ROLE_POLICY,
    SG,
)


def region(stack) -> str:
    return stack.config["aws:region"]


def doc(text: str) -> dict:
    return json.loads(text)


def statements(document: dict) -> list[dict]:
    return document["Statement"]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# -- the component and its children -------------------------------------------------------------------------------
def test_everything_is_a_child_of_the_confirmation_component(stack):
    component = stack.one("cruddur:confirmation:Confirmation", "confirmation")
    children = {(r.type, r.name) for r in stack.children_of(component)}
    assert children == {("cruddur:function:Function", "confirmation"), (POOL, "confirmation-pool"),
                        (CLIENT, "confirmation-client")}
    # the function's scaffolding is the function component's (components/function.py)
    function = stack.one("cruddur:function:Function", "confirmation")
    assert {(r.type, r.name) for r in stack.children_of(function)} == {
        (SG, "confirmation-sg"), (ROLE, "confirmation-role"), (ATTACHMENT, "confirmation-vpc-access"),
        (ROLE_POLICY, "confirmation-policy"), (LOG_GROUP, "confirmation-logs"), (FUNCTION, "confirmation-function"),
        (PERMISSION, "confirmation-invoke"),
    }
    # the layers are the stack's, shared by every function (components/layers.py)
    layers = stack.one("cruddur:layers:Layers", "layers")
    assert {(r.type, r.name) for r in stack.children_of(layers)} == {
        (LAYER, "layers-psycopg2"), (LAYER, "layers-powertools"), (LAYER, "layers-yoyo")}


# -- the user pool ---------------------------------------------------------------------------------------------------
def test_pool_signs_in_by_email_or_case_insensitive_unique_preferred_username(stack):
    pool = stack.one(POOL).props
    assert pool["aliasAttributes"] == ["email", "preferred_username"]  # aliases are unique in a pool
    assert pool["usernameConfiguration"] == {"caseSensitive": False}
    assert "usernameAttributes" not in pool


def test_pool_requires_name_email_and_preferred_username(stack):
    schemas = {s["name"]: s for s in stack.one(POOL).props["schemas"]}
    assert set(schemas) == {"name", "email", "preferred_username"}
    for schema in schemas.values():
        assert schema["required"] is True and schema["attributeDataType"] == "String"
        assert schema["developerOnlyAttribute"] is False


def test_pool_has_a_strong_password_policy_and_verifies_email(stack):
    pool = stack.one(POOL).props
    policy = pool["passwordPolicy"]
    assert policy["minimumLength"] >= 12
    assert all(policy[k] is True for k in ("requireLowercase", "requireUppercase", "requireNumbers",
                                           "requireSymbols"))
    assert policy["temporaryPasswordValidityDays"] <= 7
    assert pool["autoVerifiedAttributes"] == ["email"]
    assert pool["accountRecoverySetting"] == {"recoveryMechanisms": [{"name": "verified_email", "priority": 1}]}
    assert pool["adminCreateUserConfig"] == {"allowAdminCreateUserOnly": False}  # people sign themselves up


def test_pool_deletion_protection_is_active_in_prod_only(dev, prod):
    assert prod.one(POOL).props["deletionProtection"] == "ACTIVE"
    assert dev.one(POOL).props["deletionProtection"] == "INACTIVE"


def test_pool_triggers_the_function_after_confirmation(stack):
    function = stack.one(FUNCTION, "confirmation-function")
    assert stack.one(POOL).props["lambdaConfig"] == {"postConfirmation": function.outputs["arn"]}


def test_only_this_pool_may_invoke_the_function(stack):
    permission = stack.one(PERMISSION, "confirmation-invoke").props
    assert permission == {
        "action": "lambda:InvokeFunction",
        "function": stack.one(FUNCTION, "confirmation-function").outputs["name"],
        "principal": "cognito-idp.amazonaws.com",
        "sourceArn": stack.one(POOL).outputs["arn"],
    }


def test_frontend_client_is_public_srp_only_and_hides_user_existence(stack):
    client = stack.one(CLIENT).props
    assert client["userPoolId"] == stack.one(POOL).id
    assert client["generateSecret"] is False
    assert client["explicitAuthFlows"] == ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    assert client["preventUserExistenceErrors"] == "ENABLED"
    assert client["enableTokenRevocation"] is True


# -- the function ----------------------------------------------------------------------------------------------------
def test_function_runtime_architecture_timeout_and_tracing(stack):
    function = stack.one(FUNCTION, "confirmation-function").props
    assert function["name"] == f"cruddur-{stack.stack}-post-confirmation"
    assert function["runtime"] == "python3.13"
    assert function["architectures"] == ["arm64"]
    assert function["handler"] == "handler.handler"
    assert function["timeout"] == 5  # Cognito's limit
    assert function["tracingConfig"] == {"mode": "Active"}
    assert function["role"] == stack.one(ROLE, "confirmation-role").outputs["arn"]


def test_function_package_is_the_handler_and_the_rds_ca_bundle_only(stack):
    code = signed_source(stack, stack.one(FUNCTION, "confirmation-function"))
    assert sorted(code.assets) == ["global-bundle.pem", "handler.py"]
    source = Path(conf.FUNCTION_SOURCE)
    assert {name: Path(asset.path) for name, asset in code.assets.items()} == {
        "handler.py": source / "handler.py", "global-bundle.pem": source / "global-bundle.pem"}


def test_function_environment_names_the_database_and_role_but_holds_no_secret(stack):
    variables = stack.one(FUNCTION, "confirmation-function").props["environment"]["variables"]
    instance = stack.one("aws:rds/instance:Instance")
    assert variables["DB_HOST"] == instance.outputs["address"]
    assert variables["DB_PORT"] == "5432"
    assert variables["DB_NAME"] == "cruddur"
    assert variables["DB_USER"] == "cruddur_confirmation"
    assert "AWS_REGION" not in variables  # reserved: the runtime sets it
    for name, value in variables.items():
        assert not any(word in name.upper() for word in ("PASSWORD", "SECRET", "CONNECTION_URL", "TOKEN"))
        assert "postgresql://" not in str(value)


def test_function_runs_in_the_private_subnets_with_its_own_security_group(stack):
    vpc_config = stack.one(FUNCTION, "confirmation-function").props["vpcConfig"]
    private = sorted(s.id for s in stack.of_type("aws:ec2/subnet:Subnet"))
    assert sorted(vpc_config["subnetIds"]) == private
    assert vpc_config["securityGroupIds"] == [stack.one(SG, "confirmation-sg").id]


def test_function_layers_are_the_stacks_own_psycopg2_and_powertools_layers(stack):
    # No public layer: with code signing enforced, Lambda refuses a layer not signed by the stack's profile.
    layers = stack.one(FUNCTION, "confirmation-function").props["layers"]
    assert layers == [stack.one(LAYER, "layers-psycopg2").outputs["arn"],
                      stack.one(LAYER, "layers-powertools").outputs["arn"]]
    assert all(layer.startswith(f"arn:aws:lambda:{region(stack)}:{ACCOUNT_ID}:layer:cruddur-{stack.stack}-")
               for layer in layers)


def test_function_logs_go_to_an_encrypted_log_group_with_the_stacks_retention(stack):
    group = stack.one(LOG_GROUP, "confirmation-logs").props
    assert group["name"] == f"/aws/lambda/cruddur-{stack.stack}-post-confirmation"
    assert group["retentionInDays"] == RETENTION[stack.stack]
    assert group["kmsKeyId"] == stack.one("aws:kms/key:Key", "data-key").outputs["arn"]
    logging = stack.one(FUNCTION, "confirmation-function").props["loggingConfig"]
    assert logging["logGroup"] == group["name"] and logging["logFormat"] == "JSON"


# -- the psycopg2 layer ----------------------------------------------------------------------------------------------
def test_layer_is_the_cached_build_for_python313_arm64(stack):
    resource = stack.one(LAYER, "layers-psycopg2")
    layer = resource.props
    built = build_layer()  # a cache hit: the evaluation already built it
    assert signed_source(stack, resource).path == str(built.path)  # the zip itself, signed
    assert layer["sourceCodeHash"] == built.source_code_hash
    assert layer["compatibleRuntimes"] == ["python3.13"]
    assert layer["compatibleArchitectures"] == ["arm64"]
    assert layer["layerName"] == f"cruddur-{stack.stack}-psycopg2"


# -- identity ---------------------------------------------------------------------------------------------------------
def test_role_is_assumable_by_lambda_only(stack):
    trust = doc(stack.one(ROLE, "confirmation-role").props["assumeRolePolicy"])
    assert statements(trust) == [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                  "Principal": {"Service": "lambda.amazonaws.com"}}]


def _role_policies(stack):
    role = stack.one(ROLE, "confirmation-role")
    attachments = [a for a in stack.of_type(ATTACHMENT) if a.props["role"] in (role.id, role.outputs["name"])]
    inline = [p for p in stack.of_type(ROLE_POLICY) if p.props["role"] in (role.id, role.outputs["name"])]
    return attachments, inline


def test_role_has_only_the_vpc_access_managed_policy(stack):
    attachments, _ = _role_policies(stack)
    assert [a.props["policyArn"] for a in attachments] == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"]


def test_role_inline_policy_is_exactly_rds_db_connect_as_cruddur_confirmation_and_xray(stack):
    _, inline = _role_policies(stack)
    assert len(inline) == 1
    resource_id = stack.one("aws:rds/instance:Instance").outputs["resourceId"]
    assert statements(doc(inline[0].props["policy"])) == [
        {"Sid": "ConnectAsConfirmationRole", "Effect": "Allow", "Action": "rds-db:connect",
         "Resource": f"arn:aws:rds-db:{region(stack)}:{ACCOUNT_ID}:dbuser:{resource_id}/cruddur_confirmation"},
        {"Sid": "XRayTracing", "Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
         "Resource": "*"},
    ]


# -- network ----------------------------------------------------------------------------------------------------------
def test_function_sg_egress_is_postgres_to_the_database_sg_only_and_the_db_sg_admits_it(stack):
    function_sg = stack.one(SG, "confirmation-sg")
    db_sg = stack.one(SG, "db-sg")
    assert "ingress" not in function_sg.props and "egress" not in function_sg.props  # no inline rules
    assert function_sg.props["vpcId"] == stack.one("aws:ec2/vpc:Vpc").id

    egress = [r.props for r in stack.of_type(EGRESS) if r.props["securityGroupId"] == function_sg.id]
    assert egress == [{"securityGroupId": function_sg.id, "referencedSecurityGroupId": db_sg.id,
                       "ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432,
                       "description": "PostgreSQL to the Cruddur database only"}]
    assert not [r for r in stack.of_type(INGRESS) if r.props["securityGroupId"] == function_sg.id]

    ingress = [r.props for r in stack.of_type(INGRESS)
               if r.props["securityGroupId"] == db_sg.id and r.props.get("referencedSecurityGroupId") == function_sg.id]
    assert ingress == [{"securityGroupId": db_sg.id, "referencedSecurityGroupId": function_sg.id,
                        "ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432,
                        "description": "PostgreSQL from the Cognito post-confirmation Lambda"}]


# -- outputs ----------------------------------------------------------------------------------------------------------
def test_stack_exports_the_pool_client_and_function(stack):
    pool = stack.one(POOL)
    assert stack.outputs["userPoolId"] == pool.id
    assert stack.outputs["userPoolArn"] == pool.outputs["arn"]
    assert stack.outputs["userPoolClientId"] == stack.one(CLIENT).id
    assert stack.outputs["confirmationFunctionName"] == f"cruddur-{stack.stack}-post-confirmation"
    assert not {"userPoolId", "userPoolArn", "userPoolClientId", "confirmationFunctionName"} & stack.secret_outputs


# -- packaging --------------------------------------------------------------------------------------------------------
def test_packaging_fails_clearly_without_the_rds_ca_bundle(tmp_path):
    (tmp_path / "handler.py").write_text("def handler(event, context):\n    return event\n")
    with pytest.raises(conf.PackagingError, match="global-bundle.pem is missing.*verify-full"):
        conf.function_archive(tmp_path)


def test_packaging_fails_without_the_handler(tmp_path):
    (tmp_path / "global-bundle.pem").write_text("")
    with pytest.raises(conf.PackagingError, match="lacks handler.py"):
        conf.function_archive(tmp_path)


def test_powertools_layer_is_the_cached_build_of_the_tested_release(stack):
    resource = stack.one(LAYER, "layers-powertools")
    built = build_powertools_layer()  # a cache hit: the evaluation already built it
    assert signed_source(stack, resource).path == str(built.path)
    assert resource.props["sourceCodeHash"] == built.source_code_hash
    assert resource.props["layerName"] == f"cruddur-{stack.stack}-powertools"
    assert resource.props["compatibleRuntimes"] == ["python3.13"]
    assert resource.props["compatibleArchitectures"] == ["arm64"]
    tested = re.search(r"^aws-lambda-powertools==(\S+)$",
                       (Path(conf.PROJECT_DIR) / "requirements-test.txt").read_text(), re.M).group(1)
    assert ("aws-lambda-powertools", tested) in [(pin.project, pin.version) for pin in POWERTOOLS.pins()]


@pytest.mark.parametrize("name, containers", [("dev", 17), ("prod", 43)])
def test_function_concurrency_is_its_share_of_the_connection_budget(name, containers, request):
    """One connection per container: db.t4g.micro (dev) allows ~79, the function gets a quarter of what is left after
    superuser and operator slots; db.t4g.small (prod, ~189) gives it 43 (components/connection_budget.py)."""
    from components.connection_budget import connection_budget

    stack = request.getfixturevalue(name)
    function = stack.one(FUNCTION, "confirmation-function").props
    assert function["reservedConcurrentExecutions"] == containers
    instance_class = stack.one("aws:rds/instance:Instance").props["instanceClass"]
    assert connection_budget(instance_class).confirmation == containers


def test_function_environment_is_encrypted_with_the_data_key(stack):
    function = stack.one(FUNCTION, "confirmation-function").props
    data_key = stack.one("aws:kms/key:Key", "data-key")
    assert function["kmsKeyArn"] == data_key.outputs["arn"]
