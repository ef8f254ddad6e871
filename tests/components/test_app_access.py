"""``AppAccess`` under mocks, for both committed stacks: the app's own credentials, secret and security group."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from ops.offline.aws_mocks import is_secret
from tests.components.types import EGRESS, INGRESS, SECRET, SG, VERSION

PASSWORD = "random:index/randomPassword:RandomPassword"
OTHER_SG = "sg-0123456789abcdef0"
SHORT_SG = "sg-89abcdef"


def rules_on(stack, typ: str, group_id: str) -> list:
    return [r for r in stack.of_type(typ) if r.props["securityGroupId"] == group_id]


def test_children_of_the_component(stack):
    component = stack.one("cruddur:app_access:AppAccess", "app")
    assert {(r.type, r.name) for r in stack.children_of(component)} == {
        (PASSWORD, "app-password"), (SECRET, "app-secret"), (VERSION, "app-secret-value"), (SG, "app-sg")}


def test_password_is_generated_like_the_masters(stack):
    app = stack.one(PASSWORD, "app-password").props
    master = stack.one(PASSWORD, "db-master-password").props
    assert app == master
    assert app["length"] == 40 and app["overrideSpecial"] == "-_"
    assert stack.one(PASSWORD, "app-password").outputs["result"] != stack.one(PASSWORD, "db-master-password").outputs["result"]


def test_app_secret_is_encrypted_with_the_stacks_key_in_the_standard_rds_shape(stack):
    key_arn = stack.one("aws:kms/key:Key", "data-key").outputs["arn"]
    secret = stack.one(SECRET, "app-secret")
    assert secret.props["name"] == f"cruddur/{stack.stack}/rds/app"
    assert secret.props["kmsKeyId"] == key_arn
    assert secret.props["recoveryWindowInDays"] == (30 if stack.stack == "prod" else 7)
    version = stack.one(VERSION, "app-secret-value")
    assert version.props["secretId"] == secret.id
    assert is_secret(version.inputs["secretString"])
    instance = stack.one("aws:rds/instance:Instance")
    assert json.loads(version.props["secretString"]) == {
        "engine": "postgres",
        "host": instance.outputs["address"],
        "port": 5432,
        "username": "cruddur_app",
        "password": stack.one(PASSWORD, "app-password").outputs["result"],
        "dbname": "cruddur",
        "dbInstanceIdentifier": f"cruddur-{stack.stack}-db",
    }


def test_app_connection_url_is_a_secret_as_cruddur_app_with_verify_full(stack):
    assert "appConnectionUrl" in stack.secret_outputs
    url = urlsplit(stack.outputs["appConnectionUrl"])
    assert url.scheme == "postgresql"
    assert url.username == "cruddur_app" and url.username != "cruddur_admin"
    assert url.password == stack.one(PASSWORD, "app-password").outputs["result"]
    assert url.hostname == stack.outputs["dbHost"] and url.port == 5432 and url.path == "/cruddur"
    assert parse_qs(url.query) == {"sslmode": ["verify-full"]}


def test_app_security_group_reaches_the_database_port_only_and_is_admitted_on_it_only(stack):
    app = stack.one(SG, "app-sg")
    db = stack.one(SG, "db-sg")
    assert stack.outputs["appSecurityGroupId"] == app.id
    assert not app.props.get("ingress") and not app.props.get("egress")
    assert rules_on(stack, INGRESS, app.id) == []  # nothing may connect to the app through this group
    [egress] = rules_on(stack, EGRESS, app.id)
    assert egress.name == "db-out-from-app"
    assert {k: egress.props[k] for k in ("referencedSecurityGroupId", "ipProtocol", "fromPort", "toPort")} == {
        "referencedSecurityGroupId": db.id, "ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432}
    admitted = [r for r in rules_on(stack, INGRESS, db.id) if r.props["referencedSecurityGroupId"] == app.id]
    assert [r.name for r in admitted] == ["db-in-from-app"]
    assert (admitted[0].props["ipProtocol"], admitted[0].props["fromPort"], admitted[0].props["toPort"]) == (
        "tcp", 5432, 5432)
    assert "cidrIpv4" not in admitted[0].props and "cidrIpv6" not in admitted[0].props
    # and the app's group reaches nothing else: the database is the only group that admits it
    admitting = {r.props["securityGroupId"] for r in stack.of_type(INGRESS)
                 if r.props.get("referencedSecurityGroupId") == app.id}
    assert admitting == {stack.one(SG, "db-sg").id}


def test_no_extra_app_security_groups_by_default(stack):
    assert [r.name for r in stack.of_type(INGRESS) if r.name.startswith("app-")] == []


def test_existing_app_security_groups_are_admitted_on_the_database_port_only(evaluate_with):
    stack = evaluate_with("dev", overrides={"appSecurityGroupIds": [OTHER_SG, SHORT_SG, OTHER_SG]})
    db = stack.one(SG, "db-sg")
    extra = [r for r in stack.of_type(INGRESS) if r.name.startswith("app-db-in-from-")]
    assert sorted(r.name for r in extra) == [f"app-db-in-from-{OTHER_SG}", f"app-db-in-from-{SHORT_SG}"]
    for rule in extra:
        assert rule.props == {
            "securityGroupId": db.id,
            "referencedSecurityGroupId": rule.name.removeprefix("app-db-in-from-"),
            "ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432,
            "description": "PostgreSQL from an existing app security group (appSecurityGroupIds)",
        }
    # someone else's groups: this stack manages no rule on them
    assert [r for r in stack.of_type(EGRESS) if r.props["securityGroupId"] in (OTHER_SG, SHORT_SG)] == []
