"""Which stacks the pack judges as dev: the stack NAME alone (read from the URNs the engine writes, which a program
cannot choose), never a tag: a stack is dev only when its name is dev-looking and not production-looking; any other
name is prod, whatever the program's tags or a second provider's default tags say."""

from __future__ import annotations

import dataclasses
import json

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from ops.offline.verdicts import check, resource_args, stack_args
from tests.policy.conftest import changed, policies
from tests.policy.test_pack import analyzer  # noqa: F401 - the pack process fixture

INSTANCE = "aws:rds/instance:Instance"
PRODUCTION_LOOKING = ["prodlike", "Prod", "PROD", "eu-prod", "live", "prd", "production", "prod2"]


def renamed(evaluation, stack: str):
    """``evaluation`` as the engine would record it for a stack named ``stack``: every URN carries that name."""
    def rename(urn: str) -> str:
        prefix = f"urn:pulumi:{evaluation.stack}::"
        return f"urn:pulumi:{stack}::" + urn[len(prefix):] if urn.startswith(prefix) else urn

    resources = [dataclasses.replace(r, urn=rename(r.urn), parent_urn=rename(r.parent_urn),
                                     provider=rename(r.provider)) for r in evaluation.resources]
    return dataclasses.replace(evaluation, stack=stack, resources=resources)


@pytest.mark.parametrize("stack", PRODUCTION_LOOKING)
def test_a_production_named_stack_tagged_dev_gets_every_mandatory_rule(dev, stack):
    """The committed dev program (tags Environment=dev, 1 day of backups, force-destroyable trail bucket, nothing
    protected, no final snapshot) under a production-looking name: the prod-only rules are MANDATORY violations,
    the -dev advisories do not apply."""
    disguised = renamed(dev, stack)
    assert policies.stack_environment(stack_args(disguised)) == "prod"
    environment, verdicts = check(disguised, policies)
    assert environment == "prod"
    violated = {v.policy: v.enforcement for v in verdicts if v.status == "violated"}
    assert violated == {"rds-backup-retention": "mandatory", "cloudtrail-bucket-retained": "mandatory",
                        "prod-stateful-protected": "mandatory", "rds-final-snapshot": "mandatory",
                        "cloudtrail-logs-retained": "mandatory"}
    assert {v.policy for v in verdicts if v.policy.endswith("-dev")} == {
        v.policy for v in verdicts if v.status == "n/a" and v.policy.endswith("-dev")}


@pytest.mark.parametrize("stack", PRODUCTION_LOOKING)
def test_resource_rules_read_the_stack_name_from_the_urn(dev, stack):
    disguised = renamed(dev, stack)
    db = changed(disguised.one(INSTANCE), deletionProtection=False)
    args = resource_args(disguised, db)
    assert json.loads(args.provider.props["defaultTags"])["tags"]["Environment"] == "dev"  # the program says dev...
    assert policies.resource_environment(args) == "prod"  # ...the pack says prod
    assert policies.rule("rds-deletion-protection").run(args) == [
        "rds Instance 'db-instance' has deletion protection off; set deletion_protection=True "
        "(cruddur-db:deletionProtection true)"]
    assert policies.rule("rds-deletion-protection-dev").run(args) == []


@pytest.mark.parametrize("stack", ["dev", "alice-dev", "dev2", "development"])
def test_a_dev_named_stack_is_dev_whatever_its_tags(dev, prod, stack):
    assert policies.stack_environment(stack_args(renamed(dev, stack))) == "dev"
    assert policies.stack_environment(stack_args(renamed(prod, stack))) == "dev"  # tagged prod: the name decides


@pytest.mark.parametrize("stack", ["staging", "sandbox", "qa", "devprod", "prod-dev"])
def test_a_stack_not_named_dev_is_prod_whatever_its_tags(dev, stack):
    """A name that does not say dev (or says prod too) is judged by the strict rules, though the program tags
    itself Environment=dev: the old pack judged `staging` and `sandbox` tagged dev as dev."""
    assert policies.stack_environment(stack_args(renamed(dev, stack))) == "prod"
    disguised = renamed(dev, stack)
    args = resource_args(disguised, changed(disguised.one(INSTANCE), deletionProtection=False))
    assert policies.rule("rds-deletion-protection").run(args) == [
        "rds Instance 'db-instance' has deletion protection off; set deletion_protection=True "
        "(cruddur-db:deletionProtection true)"]


@pytest.mark.parametrize("urn, stack", [
    ("urn:pulumi:prodlike::cruddur-db::aws:rds/instance:Instance::db", "prodlike"),
    ("urn:pulumi:eu-prod::cruddur-db::pulumi:pulumi:Stack$aws:s3/bucket:Bucket::b", "eu-prod"),
    ("urn:x", None), ("", None), (None, None), ("urn:pulumi:::p::t::n", None),
])
def test_stack_name_from_urn(urn, stack):
    assert policies.stack_name_from_urn(urn) == stack


def test_the_pack_process_judges_by_the_urn_not_the_tags(analyzer, dev):  # noqa: F811
    """Over the analyzer protocol, as `pulumi preview --policy-pack` runs it: a dev-tagged provider on a stack named
    'prodlike' still gets the MANDATORY deletion-protection rule."""
    props = dict(dev.one(INSTANCE).props, deletionProtection=False)
    props.pop("password")
    properties, provider_props = struct_pb2.Struct(), struct_pb2.Struct()
    properties.update(props)
    provider_props.update(dev.one("pulumi:providers:aws").props)

    def analyze(stack: str):
        provider = analyzer_pb2.AnalyzerProviderResource(
            type="pulumi:providers:aws", properties=provider_props, name="aws-pinned",
            urn=f"urn:pulumi:{stack}::cruddur-db::pulumi:providers:aws::aws-pinned")
        return analyzer.Analyze(analyzer_pb2.AnalyzeRequest(
            type=INSTANCE, properties=properties, name="db-instance", provider=provider,
            urn=f"urn:pulumi:{stack}::cruddur-db::cruddur:database:Database$aws:rds/instance:Instance::db-instance",
            options=analyzer_pb2.AnalyzerResourceOptions()))

    found = {(d.policyName, d.enforcementLevel) for d in analyze("prodlike").diagnostics}
    assert ("rds-deletion-protection", analyzer_pb2.MANDATORY) in found
    assert not any(name.endswith("-dev") for name, _ in found)
    found = {(d.policyName, d.enforcementLevel) for d in analyze("dev").diagnostics}
    assert ("rds-deletion-protection-dev", analyzer_pb2.ADVISORY) in found
    assert ("rds-deletion-protection", analyzer_pb2.MANDATORY) not in found
