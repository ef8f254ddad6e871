"""Evasions: each a synthetic resource in the shape pulumi-aws v7 sends (camelCase inputs), fed to the
pack the way the engine feeds it, asserting the exact violation. Also the odd shapes validators must survive and
the valid forms they must not flag."""

from __future__ import annotations

import json

import pytest
from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from ops.offline.verdicts import stack_args
from tests.policy.conftest import REMOVE, changed, document, policies, replaced, stack_violations

SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
PREFIX_LIST = "aws:ec2/managedPrefixList:ManagedPrefixList"
SNAPSHOT = "aws:rds/snapshot:Snapshot"
SNAPSHOT_COPY = "aws:rds/snapshotCopy:SnapshotCopy"
CLUSTER_SNAPSHOT = "aws:rds/clusterSnapshot:ClusterSnapshot"
BUCKET_ACL = "aws:s3/bucketAcl:BucketAcl"
BUCKET_ACL_V2 = "aws:s3/bucketAclV2:BucketAclV2"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ACCOUNT_BLOCK = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
PERMISSION = "aws:lambda/permission:Permission"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"
KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
CLUSTER = "aws:rds/cluster:Cluster"
CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
INSTANCE = "aws:rds/instance:Instance"
PROXY = "aws:rds/proxy:Proxy"
TRAIL = "aws:cloudtrail/trail:Trail"

WORLD_FIX = "allow a named security group (referenced_security_group_id) or a specific range instead"


def args_for(resource_type: str, props: dict, name: str = "x", stack: str = "prod") -> ResourceValidationArgs:
    """The engine's args for a synthetic resource of a stack (no provider: the stack name alone decides)."""
    urn = f"urn:pulumi:{stack}::cruddur-db::{resource_type}::{name}"
    return ResourceValidationArgs(resource_type, unknown_checking_proxy(props), urn, name, None, None, {})


def check(rule_name: str, resource_type: str, props: dict, name: str = "x") -> list[str]:
    return policies.rule(rule_name).run(args_for(resource_type, props, name))


def with_resource(evaluation, resource_type: str, props: dict, name: str = "x") -> StackValidationArgs:
    """The engine's stack args for ``evaluation`` plus one synthetic resource (its outputs = ``props``)."""
    base = stack_args(evaluation)
    urn = f"urn:pulumi:{evaluation.stack}::cruddur-db::{resource_type}::{name}"
    extra = PolicyResource(resource_type, unknown_checking_proxy(props), urn, name, None, None, None, [], {})
    return StackValidationArgs([*base.resources, extra], {"allowedRegions": ["eu-west-1", "eu-central-1"]})


# -- the world open in pieces ----------------------------------------------------------------------------------
HALVES_V4 = ["0.0.0.0/1", "128.0.0.0/1"]
HALVES_V6 = ["::/1", "8000::/1"]


def _pieces(label: str, direction: str, cidrs: list[str], version: int, share: str,
            space: str = "") -> str:
    space = space or f"IPv{version} address space"
    return (f"{label} has {direction} rules whose ranges ({', '.join(cidrs)}) together cover {share} of the "
            f"{space} (the limit is less than 1/256); {WORLD_FIX}")


def test_inline_ingress_in_halves_is_world_open():
    props = {"ingress": [{"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrBlocks": [HALVES_V4[0]]},
                         {"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrBlocks": [HALVES_V4[1]]}]}
    assert check("sg-no-world-open-rules", SG, props, "db-sg") == [
        _pieces("ec2 SecurityGroup 'db-sg'", "ingress", HALVES_V4, 4, "100%")]


def test_inline_ipv6_egress_in_halves_is_world_open():
    props = {"egress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": HALVES_V6}]}
    assert check("sg-no-world-open-rules", SG, props, "db-sg") == [
        _pieces("ec2 SecurityGroup 'db-sg'", "egress", HALVES_V6, 6, "100%")]


def test_security_group_rule_in_halves_is_world_open():
    props = {"type": "ingress", "protocol": "tcp", "fromPort": 5432, "toPort": 5432, "securityGroupId": "sg-1",
             "cidrBlocks": HALVES_V4, "ipv6CidrBlocks": HALVES_V6}
    assert check("sg-no-world-open-rules", SG_RULE, props, "r") == [
        _pieces("ec2 SecurityGroupRule 'r'", "ingress", HALVES_V4, 4, "100%"),
        _pieces("ec2 SecurityGroupRule 'r'", "ingress", HALVES_V6, 6, "100%")]


@pytest.mark.parametrize("key, cidr, version, share, space", [
    ("cidrIpv4", "0.0.0.0/1", 4, "50%", ""), ("cidrIpv4", "128.0.0.0/1", 4, "50%", ""),
    # ::/1 holds all of 2000::/3, where IANA allocates: the larger measure is reported
    ("cidrIpv6", "::/1", 6, "100%", "allocated IPv6 unicast space"), ("cidrIpv6", "8000::/1", 6, "50%", "")])
def test_ingress_rule_resources_each_holding_a_half_are_world_open(key, cidr, version, share, space):
    props = {"securityGroupId": "sg-1", "ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, key: cidr}
    assert check("sg-no-world-open-rules", SG_INGRESS, props, "half") == [
        _pieces("vpc SecurityGroupIngressRule 'half'", "ingress", [cidr], version, share, space)]


def test_ingress_rules_holding_the_registries_ipv6_blocks_are_world_open():
    blocks = ["2400::/12", "2600::/12", "2800::/12", "2a00::/12", "2c00::/12"]
    props = {"ingress": [{"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "ipv6CidrBlocks": blocks}]}
    assert check("sg-no-world-open-rules", "aws:ec2/securityGroup:SecurityGroup", props, "db-sg") == [
        _pieces("ec2 SecurityGroup 'db-sg'", "ingress", blocks, 6, "70.25%", "allocated IPv6 unicast space")]


def _rule_resources(prefix: str, cidrs: list[str], group: str = "sg-db") -> list[PolicyResource]:
    return [PolicyResource(SG_INGRESS, unknown_checking_proxy(
        {"securityGroupId": group, "ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrIpv4": cidr}),
        f"urn:pulumi:prod::cruddur-db::{SG_INGRESS}::{prefix}{i}", f"{prefix}{i}", None, None, None, [], {})
        for i, cidr in enumerate(cidrs)]


def test_a_slash_8_is_already_too_wide():
    assert check("sg-no-world-open-rules", SG_INGRESS, {"cidrIpv4": "10.0.0.0/8"}, "p") == [
        _pieces("vpc SecurityGroupIngressRule 'p'", "ingress", ["10.0.0.0/8"], 4, "0.39%")]
    assert check("sg-no-world-open-rules", SG_INGRESS, {"cidrIpv4": "10.0.0.0/9"}, "p") == []


def test_rule_resources_in_small_pieces_are_judged_per_security_group(prod):
    """256 /16 rule resources on one group: each passes alone, together they are a /8."""
    base = stack_args(prod)
    pieces = _rule_resources("s", [f"10.{i}.0.0/16" for i in range(256)])
    assert all(check("sg-no-world-open-rules", SG_INGRESS, dict(p.props), p.name) == [] for p in pieces)
    rule = policies.rule("sg-rules-union-not-world-open")
    assert rule.run(StackValidationArgs([*base.resources, *pieces])) == [
        "security group 'sg-db' has ingress rules (s0, s1, s2, ... 256 resources) that together cover 0.39% of the "
        "IPv4 address space (the limit is less than 1/256); " + WORLD_FIX]
    halves = _rule_resources("h", HALVES_V4)
    assert rule.run(StackValidationArgs([*base.resources, *halves])) == [
        "security group 'sg-db' has ingress rules (h0, h1) that together cover 100% of the IPv4 address space (the "
        "limit is less than 1/256); " + WORLD_FIX]
    # the same pieces spread over two groups, or fewer of them, pass
    split = _rule_resources("a", [f"10.{i}.0.0/16" for i in range(128)], "sg-a") + _rule_resources(
        "b", [f"10.{i}.0.0/16" for i in range(128, 256)], "sg-b")
    assert rule.run(StackValidationArgs([*base.resources, *split])) == []
    assert rule.run(StackValidationArgs([*base.resources, *pieces[:255]])) == []
    assert rule.run(base) == []


def test_managed_prefix_list_holding_the_world():
    props = {"addressFamily": "IPv4", "maxEntries": 2, "name": "ops",
             "entries": [{"cidr": "0.0.0.0/0", "description": "everyone"}]}
    assert check("prefix-list-not-world-open", PREFIX_LIST, props, "ops") == [
        "ec2 ManagedPrefixList 'ops' holds ranges (0.0.0.0/0) that together cover 100% of the IPv4 address space "
        "(the limit is less than 1/256); every security-group rule that references it opens them all: list "
        "specific ranges"]
    halves = {**props, "entries": [{"cidr": c} for c in HALVES_V4]}
    assert check("prefix-list-not-world-open", PREFIX_LIST, halves, "ops")
    assert check("prefix-list-not-world-open", PREFIX_LIST, {**props, "entries": [{"cidr": "203.0.113.0/24"}]}) == []


# -- public data ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("resource_type, label", [(SNAPSHOT, "rds Snapshot"), (SNAPSHOT_COPY, "rds SnapshotCopy"),
                                                  (CLUSTER_SNAPSHOT, "rds ClusterSnapshot")])
def test_snapshot_shared_with_all(resource_type, label):
    props = {"sharedAccounts": ["123456789012", "all"]}
    assert check("rds-snapshot-not-public", resource_type, props, "snap") == [
        f"{label} 'snap' is shared with every AWS account (shared_accounts contains 'all'); share it with named "
        "account ids only"]
    assert check("rds-snapshot-not-public", resource_type, {"sharedAccounts": ["123456789012"]}) == []


@pytest.mark.parametrize("acl", ["public-read", "public-read-write", "authenticated-read"])
@pytest.mark.parametrize("resource_type, label", [(BUCKET_ACL, "s3 BucketAcl"), (BUCKET_ACL_V2, "s3 BucketAclV2")])
def test_bucket_acl_canned_public(resource_type, label, acl):
    assert check("s3-bucket-acl-not-public", resource_type, {"bucket": "b", "acl": acl}, "acl") == [
        f"{label} 'acl' makes its bucket public with the canned ACL '{acl}'; use acl='private' (or no ACL: "
        "ownership controls BucketOwnerEnforced)"]
    assert check("s3-bucket-acl-not-public", resource_type, {"bucket": "b", "acl": "private"}) == []


@pytest.mark.parametrize("group", ["AllUsers", "AuthenticatedUsers"])
def test_bucket_acl_grant_to_everyone(group):
    grants = [{"grantee": {"type": "CanonicalUser", "id": "abc"}, "permission": "FULL_CONTROL"},
              {"grantee": {"type": "Group", "uri": f"http://acs.amazonaws.com/groups/global/{group}"},
               "permission": "READ"}]
    props = {"bucket": "b", "accessControlPolicy": {"grants": grants, "owner": {"id": "abc"}}}
    assert check("s3-bucket-acl-not-public", BUCKET_ACL_V2, props, "acl") == [
        f"s3 BucketAclV2 'acl' grants READ to the {group} group; grant only named canonical users"]


def _policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


PUBLIC_READ = {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
               "Resource": "arn:aws:s3:::b/*"}
TLS_DENY = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
            "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
PUBLIC_FIX = ("name the principals, or add a condition that narrows them (aws:PrincipalOrgID, aws:PrincipalAccount, "
              "aws:SourceArn, aws:SourceAccount, aws:SourceVpce...)")


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::123456789012:root", "*"]}])
def test_bucket_policy_public_even_beside_a_tls_deny(principal):
    props = {"bucket": "b", "policy": _policy(dict(PUBLIC_READ, Principal=principal), TLS_DENY)}
    assert check("resource-policy-not-public", BUCKET_POLICY, props, "bp") == [
        f"s3 BucketPolicy 'bp' policy lets anyone (Principal '*') s3:GetObject (statement 'PublicRead'); {PUBLIC_FIX}"]
    # the TLS rule is satisfied: it is the public rule that catches it
    assert check("s3-bucket-policy-denies-insecure-transport", BUCKET_POLICY, props, "bp") == []


def test_public_principal_with_a_narrowing_condition_passes():
    narrowed = dict(PUBLIC_READ, Condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}})
    assert check("resource-policy-not-public", BUCKET_POLICY, {"bucket": "b", "policy": _policy(narrowed)}) == []
    if_exists = dict(PUBLIC_READ, Condition={"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-abc123"}})
    assert check("resource-policy-not-public", BUCKET_POLICY, {"bucket": "b", "policy": _policy(if_exists)})
    wildcard = dict(PUBLIC_READ, Condition={"StringLike": {"aws:PrincipalOrgID": "*"}})
    assert check("resource-policy-not-public", BUCKET_POLICY, {"bucket": "b", "policy": _policy(wildcard)})
    for_all_values = dict(PUBLIC_READ, Condition={"ForAllValues:StringEquals": {"aws:PrincipalOrgID": "o-abc123"}})
    assert check("resource-policy-not-public", BUCKET_POLICY, {"bucket": "b", "policy": _policy(for_all_values)})
    negated = dict(PUBLIC_READ, Condition={"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}})
    assert check("resource-policy-not-public", BUCKET_POLICY, {"bucket": "b", "policy": _policy(negated)})
    not_a_narrowing_key = dict(PUBLIC_READ, Condition={"Bool": {"aws:SecureTransport": "true"}})
    assert check("resource-policy-not-public", BUCKET_POLICY, {"bucket": "b", "policy": _policy(not_a_narrowing_key)})


def test_account_public_access_block_with_a_flag_off():
    props = {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": False,
             "restrictPublicBuckets": True}
    assert check("s3-public-access-blocked", ACCOUNT_BLOCK, props, "account") == [
        "s3 AccountPublicAccessBlock 'account' leaves ignorePublicAcls off; set all four public-access blocks to True"]
    assert check("s3-public-access-blocked", ACCOUNT_BLOCK, {"blockPublicAcls": True}, "account") == [
        "s3 AccountPublicAccessBlock 'account' leaves blockPublicPolicy, ignorePublicAcls, restrictPublicBuckets off; "
        "set all four public-access blocks to True"]


def test_function_url_without_auth():
    props = {"functionName": "f", "authorizationType": "NONE"}
    assert check("lambda-function-url-authenticated", FUNCTION_URL, props, "url") == [
        "lambda FunctionUrl 'url' lets anyone on the internet invoke the function (authorization_type='NONE'); set "
        "authorization_type='AWS_IAM'"]
    assert check("lambda-function-url-authenticated", FUNCTION_URL, dict(props, authorizationType="AWS_IAM")) == []


SECRET_READ = {"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "secretsmanager:GetSecretValue",
               "Resource": "*"}


@pytest.mark.parametrize("resource_type, label, props", [
    (SECRET_POLICY, "secretsmanager SecretPolicy 's'", {"secretArn": "arn:s", "policy": _policy(SECRET_READ)}),
    (SECRET, "secretsmanager Secret 's'",
     {"kmsKeyId": "arn:aws:kms:eu-west-1:1:key/k", "policy": _policy(SECRET_READ)}),
])
def test_secret_policy_allowing_everyone(resource_type, label, props):
    assert check("resource-policy-not-public", resource_type, props, "s") == [
        f"{label} policy lets anyone (Principal '*') secretsmanager:GetSecretValue (statement 'Read'); {PUBLIC_FIX}"]


KEY_USE = {"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt", "kms:Encrypt"],
           "Resource": "*"}


@pytest.mark.parametrize("resource_type, label, props", [
    (KMS_KEY, "kms Key 'k'", {"enableKeyRotation": True, "policy": _policy(KEY_USE)}),
    (KMS_KEY_POLICY, "kms KeyPolicy 'k'", {"keyId": "k", "policy": _policy(KEY_USE)}),
])
def test_key_policy_allowing_everyone(resource_type, label, props):
    assert check("resource-policy-not-public", resource_type, props, "k") == [
        f"{label} policy lets anyone (Principal '*') kms:Decrypt, kms:Encrypt (statement 'Use'); {PUBLIC_FIX}"]
    narrowed = dict(KEY_USE, Condition={"StringEquals": {"kms:CallerAccount": "123456789012",
                                                         "kms:ViaService": "rds.eu-west-1.amazonaws.com"}})
    assert check("resource-policy-not-public", resource_type, dict(props, policy=_policy(narrowed))) == []


def test_committed_key_secret_and_bucket_policies_are_not_public(prod, dev):
    for evaluation in (prod, dev):
        for resource in evaluation.resources:
            if resource.type in (KMS_KEY, BUCKET_POLICY, SECRET):
                assert check("resource-policy-not-public", resource.type, resource.props, resource.name) == []


# -- Aurora: clusters and cluster instances are held to the instance rules -------------------------------------
CLUSTER_OK = {"engine": "aurora-postgresql", "storageEncrypted": True,
              "kmsKeyId": "arn:aws:kms:eu-west-1:123456789012:key/k", "masterUsername": "cruddur_admin",
              "iamDatabaseAuthenticationEnabled": True, "deletionProtection": True, "backupRetentionPeriod": 7}


def test_a_well_formed_cluster_passes():
    for rule_name in ("rds-not-public", "rds-encrypted-with-cmk", "rds-no-default-admin-username", "rds-iam-auth",
                      "rds-deletion-protection", "rds-backup-retention"):
        assert check(rule_name, CLUSTER, CLUSTER_OK, "aurora") == [], rule_name


@pytest.mark.parametrize("rule_name, change, message", [
    ("rds-not-public", {"publiclyAccessible": True}, "is publicly accessible; set publicly_accessible=False"),
    ("rds-encrypted-with-cmk", {"storageEncrypted": False}, "has unencrypted storage"),
    ("rds-encrypted-with-cmk", {"storageEncrypted": REMOVE}, "has unencrypted storage"),
    ("rds-no-default-admin-username", {"masterUsername": "postgres"}, "uses the default admin name 'postgres'"),
    ("rds-iam-auth", {"iamDatabaseAuthenticationEnabled": False}, "has IAM database authentication off"),
    ("rds-deletion-protection", {"deletionProtection": False}, "has deletion protection off"),
    ("rds-backup-retention", {"backupRetentionPeriod": 1}, "keeps 1 day(s) of automated backups"),
    ("rds-backup-retention", {"backupRetentionPeriod": REMOVE}, "keeps 1 day(s) of automated backups"),
])
def test_cluster_rules(rule_name, change, message):
    props = {k: v for k, v in {**CLUSTER_OK, **change}.items() if v is not REMOVE}
    (found,) = check(rule_name, CLUSTER, props, "aurora")
    assert found.startswith(f"rds Cluster 'aurora' {message}")


def test_cluster_instance_public():
    props = {"clusterIdentifier": "aurora", "instanceClass": "db.r6g.large", "engine": "aurora-postgresql",
             "publiclyAccessible": True}
    assert check("rds-not-public", CLUSTER_INSTANCE, props, "aurora-1") == [
        "rds ClusterInstance 'aurora-1' is publicly accessible; set publicly_accessible=False (the database lives in "
        "private subnets; operators use the Instance Connect Endpoint)"]
    assert check("rds-not-public", CLUSTER_INSTANCE, dict(props, publiclyAccessible=False)) == []


def test_cluster_tls_parameter_group(prod):
    cluster = dict(CLUSTER_OK, dbClusterParameterGroupName="aurora-params")
    group = {"name": "aurora-params", "family": "aurora-postgresql16",
             "parameters": [{"name": "rds.force_ssl", "value": "0"}]}
    base = with_resource(prod, CLUSTER, cluster, "aurora")
    grouped = StackValidationArgs([*base.resources, PolicyResource(
        "aws:rds/clusterParameterGroup:ClusterParameterGroup", unknown_checking_proxy(group),
        "urn:pulumi:prod::cruddur-db::aws:rds/clusterParameterGroup:ClusterParameterGroup::aurora-params",
        "aurora-params", None, None, None, [], {})])
    assert policies.rule("rds-tls-enforced").run(grouped) == [
        "rds Cluster 'aurora' links parameter group 'aurora-params' without rds.force_ssl=1; add "
        "{name: rds.force_ssl, value: '1'} so the server refuses non-TLS connections"]
    assert policies.rule("rds-tls-enforced").run(base) == [
        "rds Cluster 'aurora' links parameter group 'aurora-params', which this stack does not declare; declare it "
        "here with rds.force_ssl=1 so TLS is enforced by code"]


# -- rephrasings ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["true", "True", 1, "1"])
def test_publicly_accessible_spelled_otherwise(prod, value):
    props = dict(prod.one(INSTANCE).props, publiclyAccessible=value)
    (message,) = check("rds-not-public", INSTANCE, props, "db-instance")
    assert message.startswith("rds Instance 'db-instance' is publicly accessible")


@pytest.mark.parametrize("value", ["false", 0, "0"])
def test_off_switches_spelled_otherwise(prod, value):
    props = dict(prod.one(INSTANCE).props, deletionProtection=value, iamDatabaseAuthenticationEnabled=value)
    assert len(check("rds-deletion-protection", INSTANCE, props, "db-instance")) == 1
    assert len(check("rds-iam-auth", INSTANCE, props, "db-instance")) == 1


PERMISSION_OK = {"action": "lambda:InvokeFunction", "function": "f", "principal": "cognito-idp.amazonaws.com",
                 "sourceArn": "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_abc"}


@pytest.mark.parametrize("source", ["*", "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/*",
                                    "arn:aws:cognito-idp:*:*:userpool/eu-west-1_ab?"])
def test_lambda_permission_wildcard_source(source):
    assert check("lambda-permission-source-arn", PERMISSION, dict(PERMISSION_OK, sourceArn=source), "invoke") == [
        f"lambda Permission 'invoke' lets cognito-idp.amazonaws.com invoke the function from any source matching "
        f"'{source}'; set source_arn to the one resource that may invoke it"]


def test_lambda_permission_for_everyone():
    assert check("lambda-permission-source-arn", PERMISSION, dict(PERMISSION_OK, principal="*"), "invoke") == [
        "lambda Permission 'invoke' lets anyone (principal '*') invoke the function; set principal to the one "
        "service or account that may invoke it"]
    assert check("lambda-permission-source-arn", PERMISSION, PERMISSION_OK, "invoke") == []


TLS_MESSAGE = ("s3 BucketPolicy 'bp' does not deny non-TLS requests; add a Deny of s3:* on the bucket and its objects "
               "when aws:SecureTransport is false")


@pytest.mark.parametrize("deny", [
    dict(TLS_DENY, Resource=["arn:aws:s3:::other", "arn:aws:s3:::other/*"]),
    dict(TLS_DENY, Resource="arn:aws:s3:::b"),
    {k: v for k, v in dict(TLS_DENY, NotPrincipal={"AWS": "arn:aws:iam::123456789012:root"}).items()
     if k != "Principal"},
    dict(TLS_DENY, Principal={"AWS": "arn:aws:iam::123456789012:root"}),
    {k: v for k, v in dict(TLS_DENY, NotAction="s3:GetObject").items() if k != "Action"},
])
def test_tls_deny_that_does_not_cover_this_bucket_or_everyone(deny):
    props = {"bucket": "b", "policy": _policy(deny)}
    assert check("s3-bucket-policy-denies-insecure-transport", BUCKET_POLICY, props, "bp") == [TLS_MESSAGE]


def test_tls_deny_with_bool_if_exists_and_wildcard_resources_passes():
    deny = dict(TLS_DENY, Resource="arn:aws:s3:::b*", Condition={"BoolIfExists": {"aws:SecureTransport": "false"}})
    assert check("s3-bucket-policy-denies-insecure-transport", BUCKET_POLICY,
                 {"bucket": "b", "policy": _policy(deny)}) == []
    # condition keys and actions are case-insensitive in IAM
    deny = dict(TLS_DENY, Action="S3:*", Condition={"Bool": {"aws:securetransport": False}})
    assert check("s3-bucket-policy-denies-insecure-transport", BUCKET_POLICY,
                 {"bucket": "b", "policy": _policy(deny)}) == []


def test_allow_to_everyone_but_some_is_public():
    everyone_but = {k: v for k, v in dict(PUBLIC_READ, NotPrincipal={"AWS": "arn:aws:iam::1:root"}).items()
                    if k != "Principal"}
    assert check("resource-policy-not-public", BUCKET_POLICY, {"bucket": "b", "policy": _policy(everyone_but)}) == [
        f"s3 BucketPolicy 'x' policy lets anyone (Principal '*') s3:GetObject (statement 'PublicRead'); {PUBLIC_FIX}"]


def test_trail_bucket_policy_scoped_to_another_bucket(prod):
    bucket_policy = prod.one(BUCKET_POLICY, "audit-bucket-policy")
    doc = document(bucket_policy)
    deny = next(s for s in doc["Statement"] if s["Effect"] == "Deny")
    deny["Resource"] = ["arn:aws:s3:::other", "arn:aws:s3:::other/*"]
    broken = replaced(prod, bucket_policy, changed(bucket_policy, policy=json.dumps(doc)))
    assert stack_violations("cloudtrail-bucket-protected", broken) == [
        "cloudtrail Trail 'audit-trail' bucket 'cruddur-prod-trail-123456789012' policy does not deny non-TLS "
        "requests; add a Deny of s3:* when aws:SecureTransport is false"]


TRAIL_LABEL = "cloudtrail Trail 'audit-trail'"
MANAGEMENT = (f"{TRAIL_LABEL} does not record every management event (read and write); record them with an "
              "event selector (include_management_events=True, read_write_type='All') or an advanced selector on "
              "eventCategory=Management")


@pytest.mark.parametrize("change, expected", [
    ({"enableLogging": False}, f"{TRAIL_LABEL} is not logging; set enable_logging=True"),
    ({"enableLogging": "false"}, f"{TRAIL_LABEL} is not logging; set enable_logging=True"),
    ({"eventSelectors": [{"includeManagementEvents": False, "readWriteType": "All"}]}, MANAGEMENT),
    ({"eventSelectors": [{"includeManagementEvents": True, "readWriteType": "WriteOnly"}]}, MANAGEMENT),
    ({"eventSelectors": [{"readWriteType": "All", "excludeManagementEventSources": ["kms.amazonaws.com"]}]},
     MANAGEMENT),
    ({"eventSelectors": REMOVE, "advancedEventSelectors": [
        {"name": "data only", "fieldSelectors": [{"field": "eventCategory", "equals": ["Data"]},
                                                 {"field": "resources.type", "equals": ["AWS::S3::Object"]}]}]},
     MANAGEMENT),
    ({"eventSelectors": REMOVE, "advancedEventSelectors": [
        {"name": "reads", "fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]},
                                             {"field": "readOnly", "equals": ["true"]}]}]}, MANAGEMENT),
])
def test_trail_not_logging_or_without_management_events(prod, change, expected):
    trail = changed(prod.one(TRAIL), **change)
    assert check("cloudtrail-hardened", TRAIL, trail.props, "audit-trail") == [expected]


@pytest.mark.parametrize("selectors", [
    {"eventSelectors": [{"includeManagementEvents": True, "readWriteType": "ReadOnly"},
                        {"includeManagementEvents": True, "readWriteType": "WriteOnly"}]},
    {"eventSelectors": REMOVE},
    {"eventSelectors": REMOVE, "advancedEventSelectors": [
        {"name": "all management", "fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]}]},
    {"eventSelectors": REMOVE, "advancedEventSelectors": [
        {"name": "r", "fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]},
                                         {"field": "readOnly", "equals": ["true"]}]},
        {"name": "w", "fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]},
                                         {"field": "readOnly", "equals": ["false"]}]}]},
])
def test_trail_management_events_in_other_valid_forms(prod, selectors):
    trail = changed(prod.one(TRAIL), **selectors)
    assert check("cloudtrail-hardened", TRAIL, trail.props, "audit-trail") == []


def test_snapshot_copy_to_a_region_outside_the_allowed_ones(prod):
    props = {"sourceDbSnapshotIdentifier": "arn:aws:rds:eu-west-1:123456789012:snapshot:s",
             "targetDbSnapshotIdentifier": "s-copy", "destinationRegion": "us-east-1"}
    assert policies.rule("region-allowed").run(with_resource(prod, SNAPSHOT_COPY, props, "copy")) == [
        "rds SnapshotCopy 'copy' copies data to us-east-1, outside the allowed regions (eu-west-1, eu-central-1); "
        "data must stay in them"]
    inside = dict(props, destinationRegion="eu-central-1")
    assert policies.rule("region-allowed").run(with_resource(prod, SNAPSHOT_COPY, inside, "copy")) == []


def test_secret_replica_outside_the_allowed_regions(prod):
    props = {"kmsKeyId": "k", "replicas": [{"region": "eu-central-1"}, {"region": "us-west-2", "kmsKeyId": "k2"}]}
    assert policies.rule("region-allowed").run(with_resource(prod, SECRET, props, "s")) == [
        "secretsmanager Secret 's' replicates data to us-west-2, outside the allowed regions (eu-west-1, "
        "eu-central-1); data must stay in them"]


@pytest.mark.parametrize("require_tls", [False, "false", REMOVE])
def test_rds_proxy_without_tls(require_tls):
    props = {k: v for k, v in {"engineFamily": "POSTGRESQL", "roleArn": "arn:r", "vpcSubnetIds": ["s"],
                               "requireTls": require_tls}.items() if v is not REMOVE}
    assert check("rds-proxy-requires-tls", PROXY, props, "proxy") == [
        "rds Proxy 'proxy' accepts connections without TLS; set require_tls=True"]
    assert check("rds-proxy-requires-tls", PROXY, dict(props, requireTls=True), "proxy") == []


# -- robustness: odd shapes never crash, valid forms never flag ---------------------------------------------------
def test_bucket_policy_condition_that_is_a_list_does_not_crash():
    odd = dict(TLS_DENY, Condition=[{"Bool": {"aws:SecureTransport": "false"}}])
    props = {"bucket": "b", "policy": _policy(odd, dict(PUBLIC_READ, Condition=["x"]))}
    assert check("s3-bucket-policy-denies-insecure-transport", BUCKET_POLICY, props, "bp") == [TLS_MESSAGE]
    assert len(check("resource-policy-not-public", BUCKET_POLICY, props, "bp")) == 1


@pytest.mark.parametrize("shape", [
    "not json {", "[]", "42", json.dumps({"Statement": "nope"}), json.dumps({"Statement": [1, "x", None]}),
    json.dumps({"Statement": {"Effect": "Allow", "Principal": None, "Action": None}}),
])
def test_policy_documents_of_odd_shapes_do_not_crash(shape):
    for resource_type in (BUCKET_POLICY, SECRET_POLICY, KMS_KEY_POLICY):
        assert check("resource-policy-not-public", resource_type, {"bucket": "b", "policy": shape}) == []
    assert check("s3-bucket-policy-denies-insecure-transport", BUCKET_POLICY, {"bucket": "b", "policy": shape}) == [
        TLS_MESSAGE.replace("'bp'", "'x'")]


def test_backup_retention_of_odd_shapes(prod):
    props = prod.one(INSTANCE).props
    assert check("rds-backup-retention", INSTANCE, dict(props, backupRetentionPeriod="7.0"), "db") == []
    assert check("rds-backup-retention", INSTANCE, dict(props, backupRetentionPeriod="6"), "db") == [
        "rds Instance 'db' keeps 6 day(s) of automated backups; set backup_retention_period >= 7 "
        "(cruddur-db:backupRetentionDays)"]
    assert check("rds-backup-retention", INSTANCE, dict(props, backupRetentionPeriod="abc"), "db") == [
        "rds Instance 'db' has backup_retention_period 'abc', which is not a number of days; set "
        "backup_retention_period >= 7 (cruddur-db:backupRetentionDays)"]


def test_key_rotation_spelled_as_a_string_passes():
    assert check("kms-rotation-enabled", KMS_KEY, {"enableKeyRotation": "true"}, "k") == []
    assert check("kms-rotation-enabled", KMS_KEY, {"enableKeyRotation": "false"}, "k") == [
        "kms Key 'k' has automatic key rotation off; set enable_key_rotation=True"]


@pytest.mark.parametrize("rule_name, resource_type, props", [
    ("sg-no-world-open-rules", SG_RULE, {"type": "ingress", "cidrBlocks": [UNKNOWN_STRING_VALUE, "10.1.0.0/16"]}),
    ("prefix-list-not-world-open", PREFIX_LIST, {"entries": UNKNOWN_ARRAY_VALUE}),
    ("rds-snapshot-not-public", SNAPSHOT, {"sharedAccounts": UNKNOWN_ARRAY_VALUE}),
    ("s3-bucket-acl-not-public", BUCKET_ACL_V2,
     {"acl": UNKNOWN_STRING_VALUE, "accessControlPolicy": UNKNOWN_ARRAY_VALUE}),
    ("resource-policy-not-public", BUCKET_POLICY, {"policy": UNKNOWN_STRING_VALUE}),
    ("lambda-function-url-authenticated", FUNCTION_URL, {"authorizationType": UNKNOWN_STRING_VALUE}),
    ("lambda-permission-source-arn", PERMISSION,
     {"principal": UNKNOWN_STRING_VALUE, "sourceArn": UNKNOWN_STRING_VALUE}),
    ("rds-proxy-requires-tls", PROXY, {"requireTls": UNKNOWN_STRING_VALUE}),
    ("cloudtrail-hardened", TRAIL, {"isMultiRegionTrail": True, "includeGlobalServiceEvents": True,
                                    "enableLogFileValidation": True, "kmsKeyId": "k", "snsTopicName": "t",
                                    "enableLogging": UNKNOWN_STRING_VALUE, "eventSelectors": UNKNOWN_ARRAY_VALUE}),
    ("rds-backup-retention", CLUSTER, {"backupRetentionPeriod": UNKNOWN_STRING_VALUE}),
])
def test_unknowns_in_the_new_checks_are_not_violations(rule_name, resource_type, props):
    assert check(rule_name, resource_type, props) == []
