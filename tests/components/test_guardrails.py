"""Organization guardrails: the SCPs, their documents and attachments, and the `organization` setting.

Committed stacks keep the guardrails off; the "guarded" evaluations switch them on with config overrides, the way
a stack file holding `cruddur-db:organization` would.
"""

from __future__ import annotations

import json

import pytest

from ops.offline.stack_eval import evaluate

SCP = "aws:organizations/policy:Policy"
ATTACHMENT = "aws:organizations/policyAttachment:PolicyAttachment"
SCP_MAX_CHARS = 5120
OU = "ou-ab12-cd34ef56"
BREAK_GLASS = "CruddurBreakGlass"
BREAK_GLASS_EXEMPTION = {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::*:role/{BREAK_GLASS}"}}
ORG_ON = {"manageGuardrails": True, "targetId": OU, "breakGlassRoleName": BREAK_GLASS}

# The AWS Organizations user guide's region-deny example, global services exempt from aws:RequestedRegion.
AWS_GLOBAL_SERVICES = [
    "a4b:*", "acm:*", "aws-marketplace-management:*", "aws-marketplace:*", "aws-portal:*", "budgets:*", "ce:*",
    "chime:*", "cloudfront:*", "config:*", "cur:*", "directconnect:*", "ec2:DescribeRegions",
    "ec2:DescribeTransitGateways", "ec2:DescribeVpnGateways", "fms:*", "globalaccelerator:*", "health:*", "iam:*",
    "importexport:*", "kms:*", "mobileanalytics:*", "networkmanager:*", "organizations:*", "pricing:*",
    "route53:*", "route53domains:*", "route53-recovery-cluster:*", "route53-recovery-control-config:*",
    "route53-recovery-readiness:*", "s3:GetAccountPublic*", "s3:ListAllMyBuckets",
    "s3:ListMultiRegionAccessPoints", "s3:PutAccountPublic*", "shield:*", "sts:*", "support:*",
    "trustedadvisor:*", "waf-regional:*", "waf:*", "wafv2:*", "wellarchitected:*",
]


@pytest.fixture(scope="module")
def guarded():
    """prod with the guardrails on, attached to an OU."""
    return evaluate("prod", overrides={"cruddur-db:organization": ORG_ON})


@pytest.fixture(scope="module")
def guarded_dev():
    """dev with the guardrails on, attached to an account, one region and one extra exempt service."""
    return evaluate("dev", overrides={
        "cruddur-db:allowedRegions": ["eu-west-1"],
        "cruddur-db:organization": {"manageGuardrails": True, "targetId": "012345678901",
                                    "breakGlassRoleName": "ops-break-glass", "exemptRegionsServices": ["bedrock:*"]},
    })


def document(evaluation, part: str) -> dict:
    return json.loads(evaluation.one(SCP, f"guardrails-{part}").props["content"])


def statements(evaluation, part: str) -> dict:
    return {s["Sid"]: s for s in document(evaluation, part)["Statement"]}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# -- off by default -----------------------------------------------------------------------------------------------
def test_committed_stacks_declare_no_organizations_resources(stack):
    assert [r.type for r in stack.resources if r.type.startswith("aws:organizations")] == []
    assert stack.of_type("cruddur:guardrails:Guardrails") == []
    assert "guardrailPolicyIds" not in stack.outputs


def test_manage_guardrails_false_declares_nothing_even_with_a_target(evaluate_with):
    evaluation = evaluate_with("dev", overrides={"cruddur-db:organization": {
        "manageGuardrails": False, "targetId": OU, "breakGlassRoleName": BREAK_GLASS}})
    assert [r.type for r in evaluation.resources if r.type.startswith("aws:organizations")] == []


# -- the three SCPs and their attachments -------------------------------------------------------------------------
def test_three_service_control_policies_under_the_component(guarded):
    component = guarded.one("cruddur:guardrails:Guardrails", "guardrails")
    policies = guarded.of_type(SCP)
    assert sorted(p.props["name"] for p in policies) == [
        "cruddur-prod-deny-outside-regions", "cruddur-prod-protect-audit", "cruddur-prod-rds-private-encrypted"]
    for policy in policies:
        assert policy.props["type"] == "SERVICE_CONTROL_POLICY"
        assert policy.props["description"]
        assert guarded.parent_of(policy) is component


def test_each_policy_is_attached_to_the_configured_target(guarded):
    policies = {p.id: p for p in guarded.of_type(SCP)}
    attachments = guarded.of_type(ATTACHMENT)
    assert len(attachments) == 3
    assert sorted(a.props["policyId"] for a in attachments) == sorted(policies)
    for attachment in attachments:
        assert attachment.props["targetId"] == OU
        assert attachment.parent_urn == guarded.parent_of(policies[attachment.props["policyId"]]).urn
    assert guarded.outputs["guardrailPolicyIds"] == {
        part: guarded.one(SCP, f"guardrails-{part}").id
        for part in ("deny-outside-regions", "protect-audit", "rds-private-encrypted")}


def test_an_account_target_is_attached_as_given(guarded_dev):
    assert {a.props["targetId"] for a in guarded_dev.of_type(ATTACHMENT)} == {"012345678901"}


@pytest.mark.parametrize("part", ["deny-outside-regions", "protect-audit", "rds-private-encrypted"])
def test_each_policy_is_minified_json_within_the_scp_size_limit(guarded, guarded_dev, part):
    for evaluation in (guarded, guarded_dev):
        content = evaluation.one(SCP, f"guardrails-{part}").props["content"]
        assert content == json.dumps(json.loads(content), separators=(",", ":"))  # AWS counts whitespace too
        assert len(content) <= SCP_MAX_CHARS


def test_an_oversized_policy_fails_the_deployment_with_a_clear_message(evaluate_with):
    many = [f"service{i:03d}-with-a-long-name:*" for i in range(200)]
    with pytest.raises(Exception, match=r"SCP cruddur-dev-deny-outside-regions is \d+ characters; AWS allows 5120"):
        evaluate_with("dev", overrides={"cruddur-db:organization": {**ORG_ON, "exemptRegionsServices": many}})


def test_a_failed_evaluation_does_not_leak_into_the_next(evaluate_with, config_problems):
    many = [f"service{i:03d}-with-a-long-name:*" for i in range(200)]
    with pytest.raises(Exception, match="AWS allows 5120"):
        evaluate_with("dev", overrides={"cruddur-db:organization": {**ORG_ON, "exemptRegionsServices": many}})
    assert config_problems("dev", **{"cruddur-db:organization": {"manageGuardrails": "maybe"}})[0].startswith(
        "cruddur-db:organization.manageGuardrails = 'maybe'")
    assert len(evaluate_with("dev").of_type("aws:rds/instance:Instance")) == 1


# -- region deny --------------------------------------------------------------------------------------------------
def test_region_deny_denies_everything_but_global_services_outside_the_allowed_regions(guarded):
    doc = document(guarded, "deny-outside-regions")
    assert doc["Version"] == "2012-10-17"
    (statement,) = doc["Statement"]
    assert statement["Sid"] == "DenyOutsideAllowedRegions"
    assert statement["Effect"] == "Deny"
    assert "Action" not in statement
    assert statement["NotAction"] == AWS_GLOBAL_SERVICES
    assert statement["Resource"] == "*"
    assert statement["Condition"] == {
        "StringNotEquals": {"aws:RequestedRegion": json.loads(guarded.config["cruddur-db:allowedRegions"])},
        **BREAK_GLASS_EXEMPTION,
    }


def test_region_list_follows_allowed_regions_and_exemptions_are_added(guarded, guarded_dev):
    assert json.loads(guarded.config["cruddur-db:allowedRegions"]) == ["eu-west-1", "eu-central-1"]
    (statement,) = document(guarded_dev, "deny-outside-regions")["Statement"]
    assert as_list(statement["Condition"]["StringNotEquals"]["aws:RequestedRegion"]) == ["eu-west-1"]
    assert statement["NotAction"] == AWS_GLOBAL_SERVICES + ["bedrock:*"]
    assert statement["Condition"]["ArnNotLike"] == {"aws:PrincipalArn": "arn:aws:iam::*:role/ops-break-glass"}


# -- audit protection ---------------------------------------------------------------------------------------------
def test_protect_audit_denies_exactly_the_tampering_actions_except_for_break_glass(guarded):
    found = statements(guarded, "protect-audit")
    expected = {
        "ProtectCloudTrail": (["cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "cloudtrail:UpdateTrail",
                               "cloudtrail:PutEventSelectors"], "*"),
        "ProtectGuardDuty": (["guardduty:DeleteDetector", "guardduty:UpdateDetector",
                              "guardduty:DisassociateFromMasterAccount",
                              "guardduty:DisassociateFromAdministratorAccount", "guardduty:StopMonitoringMembers",
                              "guardduty:DeletePublishingDestination"], "*"),
        "ProtectAuditBucket": (["s3:DeleteBucket", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
                                "s3:PutLifecycleConfiguration", "s3:PutBucketVersioning"],
                               "arn:aws:s3:::cruddur-prod-trail*"),
        "ProtectAuditLogs": (["s3:DeleteObject", "s3:DeleteObjectVersion"], "arn:aws:s3:::cruddur-prod-trail*/*"),
        "ProtectKmsKeys": (["kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:DisableKeyRotation"], "*"),
    }
    assert sorted(found) == sorted(expected)
    for sid, (actions, resource) in expected.items():
        statement = found[sid]
        assert statement["Effect"] == "Deny", sid
        assert as_list(statement["Action"]) == actions, sid
        assert statement["Resource"] == resource, sid
        assert statement["Condition"] == BREAK_GLASS_EXEMPTION, sid


# -- RDS ----------------------------------------------------------------------------------------------------------
def test_rds_policy_denies_public_and_unencrypted_databases_for_everyone(guarded):
    found = statements(guarded, "rds-private-encrypted")
    assert found == {
        "DenyPublicDatabases": {
            "Sid": "DenyPublicDatabases", "Effect": "Deny",
            "Action": ["rds:CreateDBInstance", "rds:CreateDBInstanceReadReplica",
                       "rds:RestoreDBInstanceFromDBSnapshot", "rds:RestoreDBInstanceFromS3",
                       "rds:RestoreDBInstanceToPointInTime"],
            "Resource": "*",
            "Condition": {"BoolIfExists": {"rds:PubliclyAccessible": "true"}},
        },
        "DenyUnencryptedDatabases": {
            "Sid": "DenyUnencryptedDatabases", "Effect": "Deny",
            "Action": ["rds:CreateDBInstance", "rds:CreateDBCluster", "rds:RestoreDBClusterFromS3"],
            "Resource": "*",
            "Condition": {"BoolIfExists": {"rds:StorageEncrypted": "false"}},
        },
    }


def test_the_stacks_own_database_request_passes_the_rds_guardrail(guarded):
    """The instance this program declares states both settings explicitly, so BoolIfExists does not deny it."""
    instance = guarded.one("aws:rds/instance:Instance")
    assert instance.props["publiclyAccessible"] is False
    assert instance.props["storageEncrypted"] is True


# -- settings -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["12345678901", "1234567890123", "ou-ab12", "OU-AB12-CD34EF56", "r-",
                                    "arn:aws:organizations::123456789012:ou/o-x/ou-ab12-cd34ef56", ""])
def test_bad_targets_are_rejected_with_a_clear_message(config_problems, target):
    problems = config_problems("dev", **{"cruddur-db:organization": {**ORG_ON, "targetId": target}})
    assert problems == [f"cruddur-db:organization.targetId = {target!r}: must be a 12-digit account id (quote it "
                        "in the stack file so YAML keeps leading zeros), an OU id (ou-xxxx-yyyyyyyy) or the root "
                        "id (r-xxxx)"]


@pytest.mark.parametrize("target", ["123456789012", 123456789012, "ou-ab12-cd34ef56", "r-ab12"])
def test_account_ou_and_root_targets_are_accepted(evaluate_with, target):
    evaluation = evaluate_with("dev", overrides={"cruddur-db:organization": {**ORG_ON, "targetId": target}})
    assert {a.props["targetId"] for a in evaluation.of_type(ATTACHMENT)} == {str(target)}


def test_guardrails_on_without_target_or_break_glass_role(config_problems):
    problems = config_problems("prod", **{"cruddur-db:organization": {"manageGuardrails": True}})
    assert problems == [
        "cruddur-db:organization.targetId = None: must be set when organization.manageGuardrails is true: the "
        "account, OU or root the guardrails attach to (start with a test OU)",
        "cruddur-db:organization.breakGlassRoleName = None: must be set when organization.manageGuardrails is "
        "true: the role exempt from the guardrails (runbooks/guardrails.md)",
    ]


def test_unknown_keys_are_rejected(config_problems):
    problems = config_problems("dev", **{"cruddur-db:organization": {**ORG_ON, "targetID": OU}})
    assert problems == ["cruddur-db:organization.targetID = 'ou-ab12-cd34ef56': unknown key; allowed: "
                        "manageGuardrails, targetId, breakGlassRoleName, exemptRegionsServices"]


def test_organization_must_be_an_object(config_problems):
    problems = config_problems("dev", **{"cruddur-db:organization": "true"})
    assert problems == ["cruddur-db:organization = 'true': must be an object with the keys manageGuardrails, "
                        "targetId, breakGlassRoleName, exemptRegionsServices (set them with `pulumi config set "
                        "--path organization.KEY VALUE`)"]


@pytest.mark.parametrize("role", ["*", "Break*Glass", "path/Role", "a" * 65])
def test_break_glass_role_must_be_a_plain_role_name(config_problems, role):
    problems = config_problems("dev", **{"cruddur-db:organization": {**ORG_ON, "breakGlassRoleName": role}})
    assert problems == [f"cruddur-db:organization.breakGlassRoleName = {role!r}: must be an IAM role name (letters, "
                        "digits and +=,.@_-, at most 64; no wildcards, no path)"]


def test_manage_guardrails_must_be_a_boolean(config_problems):
    problems = config_problems("dev", **{"cruddur-db:organization": {**ORG_ON, "manageGuardrails": "yes"}})
    assert problems == ["cruddur-db:organization.manageGuardrails = 'yes': must be true or false"]


def test_manage_guardrails_accepts_the_string_the_cli_may_store(evaluate_with):
    evaluation = evaluate_with("dev", overrides={"cruddur-db:organization": {**ORG_ON, "manageGuardrails": "true"}})
    assert len(evaluation.of_type(SCP)) == 3


@pytest.mark.parametrize("exempt", [["*"], ["*:*"], ["bedrock"], ["bedrock:*", "not an action"]])
def test_exempt_region_services_must_be_iam_actions(config_problems, exempt):
    problems = config_problems("dev", **{"cruddur-db:organization": {**ORG_ON, "exemptRegionsServices": exempt}})
    bad = [a for a in exempt if a != "bedrock:*"]
    assert problems == [f"cruddur-db:organization.exemptRegionsServices = {a!r}: is not an IAM action pattern "
                        "such as service:* or service:Action" for a in bad]
