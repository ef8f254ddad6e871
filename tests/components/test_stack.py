"""The stack as a whole: region pinned through one provider, outputs named and secret where they must be."""

import dataclasses
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from ops.offline.aws_mocks import is_secret


def test_every_aws_resource_uses_the_region_pinned_provider(stack):
    provider = stack.one("pulumi:providers:aws", "aws-pinned")
    assert provider.props["region"] == stack.config["aws:region"] == "eu-west-1"
    aws_resources = [r for r in stack.resources if r.custom and r.type.startswith("aws:")]
    assert aws_resources
    for resource in aws_resources:
        assert resource.provider.startswith(provider.urn + "::"), (resource.type, resource.name, resource.provider)


def test_default_tags_name_the_project_stack_and_residency(stack):
    import json
    provider = stack.one("pulumi:providers:aws", "aws-pinned")
    tags = json.loads(provider.props["defaultTags"])["tags"]
    assert tags == {"Project": "cruddur", "Stack": stack.stack, "Environment": stack.stack,
                    "ManagedBy": "pulumi", "DataResidency": "eu-west-1"}


def test_outputs_feed_the_app(stack):
    outputs = stack.outputs
    db = stack.one("aws:rds/instance:Instance")
    assert outputs["region"] == "eu-west-1"
    assert outputs["dbHost"] == db.outputs["address"]
    assert outputs["dbPort"] == 5432
    assert outputs["dbName"] == "cruddur"
    assert outputs["dbInstanceId"] == f"cruddur-{stack.stack}-db"
    assert outputs["dbResourceId"] == db.outputs["resourceId"]
    assert outputs["masterSecretArn"] == stack.one("aws:secretsmanager/secret:Secret", "db-master-secret").outputs["arn"]
    assert outputs["appSecretArn"] == stack.one("aws:secretsmanager/secret:Secret", "app-secret").outputs["arn"]
    assert outputs["appSecurityGroupId"] == stack.one("aws:ec2/securityGroup:SecurityGroup", "app-sg").id
    assert outputs["migratorFunctionName"] == f"cruddur-{stack.stack}-migrator"
    assert "secretsEndpointId" not in outputs and stack.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") == []
    assert outputs["kmsKeyArn"] == stack.one("aws:kms/key:Key", "data-key").outputs["arn"]
    assert outputs["dbSecurityGroupId"] == stack.one("aws:ec2/securityGroup:SecurityGroup", "db-sg").id
    assert outputs["operatorSecurityGroupId"] == stack.one("aws:ec2/securityGroup:SecurityGroup", "network-operator-sg").id
    assert outputs["operatorEndpointId"].startswith("eice-")
    assert outputs["vpcId"].startswith("vpc-")
    assert len(outputs["privateSubnetIds"]) == len(stack.of_type("aws:ec2/subnet:Subnet"))


def test_master_connection_url_is_a_secret_with_verify_full(stack):
    assert "masterConnectionUrl" in stack.secret_outputs
    assert "connectionUrl" not in stack.outputs  # renamed: the name says it is the master's
    password = stack.one("random:index/randomPassword:RandomPassword", "db-master-password").outputs["result"]
    url = urlsplit(stack.outputs["masterConnectionUrl"])
    assert url.scheme == "postgresql"
    assert url.username == "cruddur_admin" and url.password == password
    assert url.hostname == stack.outputs["dbHost"] and url.port == 5432
    assert url.path == "/cruddur"
    assert parse_qs(url.query) == {"sslmode": ["verify-full"]}


@pytest.mark.parametrize("password_name", ["db-master-password", "app-password"])
def test_password_appears_only_where_marked_secret(stack, password_name):
    password = stack.one("random:index/randomPassword:RandomPassword", password_name).outputs["result"]
    assert stack.secret_outputs == {"masterConnectionUrl", "appConnectionUrl"}
    for key, value in stack.outputs.items():
        if key not in stack.secret_outputs:
            assert password not in repr(value), key

    def plain_parts(value):
        """Every value that is not inside a secret marker."""
        if is_secret(value):
            return
        if isinstance(value, dict):
            for item in value.values():
                yield from plain_parts(item)
        elif isinstance(value, list):
            for item in value:
                yield from plain_parts(item)
        else:
            yield value

    for resource in stack.resources:
        assert password not in resource.name and password not in resource.urn
        if resource.type == "random:index/randomPassword:RandomPassword":
            continue
        for value in plain_parts(resource.inputs):
            assert password not in str(value), (resource.type, resource.name)
        assert password not in str(resource.props.get("tags", {}))


COMPONENTS_DIR = Path(__file__).resolve().parents[2] / "components"


def test_account_partition_and_region_are_looked_up_once_at_stack_level():
    lookups = re.compile(r"get_(caller_identity|partition|region)(_output)?\(")
    offenders = sorted(str(p.relative_to(COMPONENTS_DIR)) for p in COMPONENTS_DIR.rglob("*.py")
                       if p.name != "aws_context.py" and lookups.search(p.read_text()))
    assert offenders == []


def test_components_take_their_own_section_never_the_whole_settings():
    from components.audit import AuditArgs
    from components.confirmation import ConfirmationArgs
    from components.database import DatabaseArgs
    from components.network import NetworkArgs
    from components.settings import Settings

    for args in (NetworkArgs, DatabaseArgs, AuditArgs, ConfirmationArgs):
        annotations = {f.name: f.type for f in dataclasses.fields(args)}
        assert "settings" not in annotations and Settings.__name__ not in annotations.values(), args
        # the stack's naming and account context come on their own, or with the functions' Platform
        assert (annotations.get("naming"), annotations.get("aws_context")) == ("Naming", "AwsContext") \
            or annotations.get("platform") == "Platform", args
