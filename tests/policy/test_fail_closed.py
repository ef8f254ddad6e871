"""The pack fails closed: a resource of a type it has no rules for is a violation (MANDATORY on prod), the stack's
name alone says which rules apply, the offline plan judges what transforms make of a resource (or refuses), and a
verdict that needs a value unknown at preview is reached at `pulumi up`. Each case passed the pack before."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from ops.offline.stack_eval import TransformNotApplied
from ops.offline.verdicts import check
from tests.policy.conftest import pack_server, policies
from tests.policy.judge import program, rejected

NO_RULES = ("which the pack has no rules for; add it to the pack with its rules (policy/rules/<concern>.py: a rule "
            "that names it in types=), or, when the generic rules (documents, region) are enough, to REVIEWED_TYPES "
            "in policy/rules/allowlist.py with the reason")


# -- the allowlist of resource types -----------------------------------------------------------------------------
def test_a_type_the_pack_never_heard_of_is_a_mandatory_violation_on_prod():
    assert rejected([("acme:widgets/gadget:Gadget", {"open": True}, "g")]) == {
        "resource-type-allowed": [f"widgets Gadget 'g' is of type acme:widgets/gadget:Gadget, {NO_RULES}"]}


def test_on_dev_it_is_advisory():
    assert rejected([("acme:widgets/gadget:Gadget", {}, "g")], stack="dev") == {}
    assert rejected([("acme:widgets/gadget:Gadget", {}, "g")], stack="dev", level="advisory") == {
        "resource-type-allowed-dev": [f"widgets Gadget 'g' is of type acme:widgets/gadget:Gadget, {NO_RULES}"]}


@pytest.mark.parametrize("resource_type", [
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig",  # replication to another region
    "aws:rds/clusterSnapshotCopy:ClusterSnapshotCopy",
    "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication",
    "aws:ec2/snapshotCreateVolumePermission:SnapshotCreateVolumePermission",
    "aws:backup/vaultPolicy:VaultPolicy", "aws:sqs/queuePolicy:QueuePolicy", "aws:kms/grant:Grant",
    "aws:ec2/instance:Instance", "aws:ec2/internetGateway:InternetGateway", "aws:ec2/eip:Eip",
    "aws:cloudtrail/eventDataStore:EventDataStore", "pulumi:providers:kubernetes",
    "pulumi-python:dynamic:Resource",
])
def test_ways_around_through_another_type_or_provider(resource_type):
    (message,) = rejected([(resource_type, {}, "x")])["resource-type-allowed"]
    assert message.endswith(f"'x' is of type {resource_type}, {NO_RULES}")


def test_the_list_is_the_types_the_rules_declare_plus_a_short_reviewed_list():
    declared = {t for r in policies.RULES if not r.generic for t in (*r.types, *r.reads)}
    assert policies.known_types() == declared | set(policies.REVIEWED_TYPES)
    assert not declared & set(policies.REVIEWED_TYPES), "a type a rule names needs no review entry"
    assert all(reason.strip() for reason in policies.REVIEWED_TYPES.values())
    assert len(policies.REVIEWED_TYPES) < 50


def test_a_rule_for_a_new_type_puts_the_type_on_the_list():
    new = "aws:rds/customDbEngineVersion:CustomDbEngineVersion"
    assert new not in policies.known_types()
    rule = policies.Rule("probe", "d", lambda subject: [], "resource", policies.RULES[0].enforcement, (new,))
    policies.RULES.append(rule)
    try:
        assert new in policies.known_types()
        assert rejected([(new, {}, "e")]) == {}
    finally:
        policies.RULES.remove(rule)
    assert new not in policies.known_types()


def test_every_type_the_committed_stacks_declare_is_known(dev, prod):
    for evaluation in (dev, prod):
        assert {r.type for r in evaluation.resources if r.custom} <= policies.known_types()


def test_the_types_the_options_add_are_known(evaluate_with, prod):
    """The RDS Proxy and read replicas: their rules name their types, so the allowlist knows them."""
    evaluation = evaluate_with("prod", overrides={"rdsProxy": True, "readReplicas": 1})
    added = {r.type for r in evaluation.resources if r.custom} - {r.type for r in prod.resources}
    assert {"aws:rds/proxy:Proxy", "aws:rds/proxyTarget:ProxyTarget"} <= added
    assert added <= policies.known_types()
    _, verdicts = check(evaluation, policies)
    assert next(v for v in verdicts if v.policy == "resource-type-allowed").status == "pass"


def test_a_program_declaring_an_unknown_type_fails_its_plan_and_components_are_not_judged(tmp_path):
    """Components reach a real preview's stack policies only (the engine sends resource policies custom resources):
    an empty component of an unknown type declares nothing; its custom child is judged."""
    evaluation = program(tmp_path, """
        import pulumi, pulumi_aws as aws
        class Wrapper(pulumi.ComponentResource):
            def __init__(self, name):
                super().__init__("acme:wrap:Wrapper", name)
                aws.ec2.Instance(f"{name}-vm", ami="ami-1", instance_type="t4g.nano",
                                 opts=pulumi.ResourceOptions(parent=self))
        Wrapper("w")
    """)
    _, verdicts = check(evaluation, policies)
    verdict = next(v for v in verdicts if v.policy == "resource-type-allowed")
    assert verdict.mandatory_violation
    assert verdict.messages == [f"ec2 Instance 'w-vm' is of type aws:ec2/instance:Instance, {NO_RULES}"]


# -- the environment is the stack's name -------------------------------------------------------------------------
def test_a_second_provider_tagged_dev_does_not_relax_a_stack_not_named_dev():
    instance = ("aws:rds/instance:Instance", {"deletionProtection": False}, "db")
    assert rejected([instance], stack="staging", provider_tags={"Environment": "dev"})[
        "rds-deletion-protection"] == ["rds Instance 'db' has deletion protection off; set deletion_protection=True "
                                       "(cruddur-db:deletionProtection true)"]


def test_a_program_calling_itself_another_stack_is_judged_as_deployed(tmp_path):
    evaluation = program(tmp_path, """
        import pulumi, pulumi_aws as aws
        pulumi.runtime.settings._set_stack("dev")  # the program says dev...
        dev_tagged = aws.Provider("dev-tagged", region="eu-west-1",
                                  default_tags={"tags": {"Environment": "dev"}})
        aws.rds.Instance("db", engine="postgres", instance_class="db.t4g.micro", deletion_protection=False,
                         opts=pulumi.ResourceOptions(provider=dev_tagged))
    """)
    assert {r.urn.split("::")[0] for r in evaluation.resources} == {"urn:pulumi:prod"}  # ...the engine says prod
    environment, verdicts = check(evaluation, policies)
    assert environment == "prod"
    assert next(v for v in verdicts if v.policy == "rds-deletion-protection").mandatory_violation


# -- transforms: judged after them, or not judged at all ---------------------------------------------------------
def test_transforms_are_applied_before_the_pack_judges(tmp_path):
    evaluation = program(tmp_path, """
        import pulumi, pulumi_aws as aws
        def public(args):
            if args.type_ == "aws:rds/instance:Instance":
                return pulumi.ResourceTransformResult({**args.props, "publiclyAccessible": True}, args.opts)
        def acl(args):
            if args.type_ == "aws:s3/bucketObjectv2:BucketObjectv2":
                return pulumi.ResourceTransformResult({**args.props, "acl": "public-read"}, args.opts)
        pulumi.runtime.register_resource_transform(acl)
        class Box(pulumi.ComponentResource):
            def __init__(self, name, opts=None):
                super().__init__("acme:box:Box", name, None, opts)
                aws.rds.Instance(f"{name}-db", engine="postgres", instance_class="db.t4g.micro",
                                 publicly_accessible=False, opts=pulumi.ResourceOptions(parent=self))
        Box("box", opts=pulumi.ResourceOptions(transforms=[public]))  # a parent's transform reaches its children
        aws.s3.BucketObjectv2("o", bucket="b", key="k", acl="private")
    """)
    _, verdicts = check(evaluation, policies)
    messages = {v.policy: v.messages for v in verdicts if v.mandatory_violation}
    assert messages["rds-not-public"] == [
        "rds Instance 'box-db' is publicly accessible; set publicly_accessible=False (the database lives in private "
        "subnets; operators use the Instance Connect Endpoint)"]
    assert messages["s3-bucket-acl-not-public"] == [
        "s3 BucketObjectv2 'o' makes its object public with the canned ACL 'public-read'; use acl='private' (or no "
        "ACL: ownership controls BucketOwnerEnforced)"]


def test_a_transform_the_mocks_cannot_apply_stops_the_plan(tmp_path):
    with pytest.raises(TransformNotApplied, match="aws:s3/bucket:Bucket 'b': a transform changes its ignore_changes "
                                                  "option"):
        program(tmp_path, """
            import pulumi, pulumi_aws as aws
            def quiet(args):
                return pulumi.ResourceTransformResult(
                    args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(ignore_changes=["acl"])))
            aws.s3.Bucket("b", opts=pulumi.ResourceOptions(transforms=[quiet]))
        """)


def test_a_transform_that_protects_a_resource_is_applied(tmp_path):
    evaluation = program(tmp_path, """
        import pulumi, pulumi_aws as aws
        def protect(args):
            return pulumi.ResourceTransformResult(
                args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(protect=True)))
        aws.kms.Key("k", enable_key_rotation=True, opts=pulumi.ResourceOptions(transforms=[protect]))
    """)
    assert [r.protect for r in evaluation.resources] == [True]


# -- preview and up: decided on what is known --------------------------------------------------------------------
@pytest.fixture(scope="module")
def analyzer():
    with pack_server(["__main__.py"]) as stub:
        yield stub


def _analyze(analyzer, resource_type: str, props: dict):
    properties = struct_pb2.Struct()
    properties.update(props)
    response = analyzer.Analyze(analyzer_pb2.AnalyzeRequest(
        type=resource_type, properties=properties, name="x", options=analyzer_pb2.AnalyzerResourceOptions(),
        urn=f"urn:pulumi:prod::cruddur-db::{resource_type}::x"))
    return {(d.policyName, d.enforcementLevel) for d in response.diagnostics}


def test_the_type_is_judged_at_preview_whatever_is_unknown(analyzer):
    found = _analyze(analyzer, "aws:ec2/instance:Instance", {"ami": UNKNOWN_STRING_VALUE})
    assert found == {("resource-type-allowed", analyzer_pb2.MANDATORY)}


def test_a_statement_is_judged_on_its_known_parts_at_preview():
    """Who a statement lets in is known though the resource it names is not (an ARN of a resource created in the
    same update): the verdict is reached at preview, not left to `up`."""
    statement = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
                 "Resource": UNKNOWN_STRING_VALUE}
    trust = {"Version": "2012-10-17", "Statement": [statement]}
    assert rejected([("aws:iam/role:Role", {"assumeRolePolicy": trust}, "open")]) == {"resource-policy-not-public": [
        "iam Role 'open' assumeRolePolicy lets anyone (Principal '*') sts:AssumeRole (statement 1); name the "
        "principals, or add a condition that narrows them (aws:PrincipalOrgID, aws:PrincipalAccount, "
        "aws:SourceArn, aws:SourceAccount, aws:SourceVpce...)"]}


def test_a_document_unknown_at_preview_is_judged_at_up(analyzer):
    """At preview the policy is computed from outputs not known yet: no verdict (and no advisory standing in for
    the mandatory one); at `pulumi up` the engine validates the known inputs before it creates the resource."""
    public = '{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": "*"}]}'
    assert _analyze(analyzer, "aws:sns/topicPolicy:TopicPolicy", {"arn": "a", "policy": UNKNOWN_STRING_VALUE}) == set()
    assert _analyze(analyzer, "aws:sns/topicPolicy:TopicPolicy", {"arn": "a", "policy": public}) == {
        ("resource-policy-not-public", analyzer_pb2.MANDATORY)}

