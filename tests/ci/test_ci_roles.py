"""The documented IAM policies for the CI roles (runbooks/ci-roles/): each trust policy trusts GitHub's OIDC
provider, the sts.amazonaws.com audience and exactly one `sub`, the one the workflow job that uses the role gets;
the permissions keep each deploy role to its own stack and the preview role read-only."""

from __future__ import annotations

import json

import pytest

from tests.ci.ci_helpers import ROOT

ROLES = ROOT / "runbooks" / "ci-roles"
PROVIDER = "arn:aws:iam::ACCOUNT_ID:oidc-provider/token.actions.githubusercontent.com"
SUBS = {
    "preview": "repo:OWNER/REPO:pull_request",
    "deploy-dev": "repo:OWNER/REPO:ref:refs/heads/main",
    "deploy-prod": "repo:OWNER/REPO:environment:prod",
}


def doc(name: str) -> dict:
    return json.loads((ROLES / name).read_text())


def statements(name: str) -> list[dict]:
    return doc(name)["Statement"]


def listify(v):
    return v if isinstance(v, list) else [v]


def test_the_runbook_documents_every_policy_file():
    text = (ROOT / "runbooks" / "ci-roles.md").read_text()
    for role, sub in SUBS.items():
        assert f"trust-{role}.json" in text or "trust-$role.json" in text
        assert sub in text


@pytest.mark.parametrize("role", SUBS)
def test_trust_policy_trusts_one_exact_github_sub_for_sts(role):
    (st,) = statements(f"trust-{role}.json")
    assert st["Effect"] == "Allow"
    assert st["Principal"] == {"Federated": PROVIDER}
    assert st["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert st["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": SUBS[role],
    }}


@pytest.mark.parametrize("role", SUBS)
def test_no_policy_allows_every_action(role):
    for st in statements(f"permissions-{role}.json"):
        if st["Effect"] == "Allow":
            assert "*" not in listify(st.get("Action", [])), st["Sid"]
            assert "NotAction" not in st, st["Sid"]


def test_preview_role_writes_nothing():
    actions = [a for st in statements("permissions-preview.json") if st["Effect"] == "Allow"
               for a in listify(st["Action"])]
    assert actions
    for action in actions:
        verb = action.split(":")[1]
        assert verb.startswith(("Get", "List", "Describe")) or verb == "Decrypt", action


@pytest.mark.parametrize("stack,other", [("dev", "prod"), ("prod", "dev")])
def test_deploy_role_writes_only_its_own_stack_state_and_secrets(stack, other):
    sts = {st["Sid"]: st for st in statements(f"permissions-deploy-{stack}.json")}
    state = sts["ReadWriteThisStackStateOnly"]
    assert all(f"/cruddur-db/{stack}" in r for r in state["Resource"])
    assert sts["DecryptThisStackSecretsOnly"]["Resource"].endswith(f"key/{stack.upper()}_SECRETS_KEY_ID")
    assert sts["NeverUseTheOtherStackSecretsKey"]["Effect"] == "Deny"
    assert sts["NeverUseTheOtherStackSecretsKey"]["Resource"].endswith(f"key/{other.upper()}_SECRETS_KEY_ID")
    assert sts["NeverTouchTheOtherStack"] == {
        "Sid": "NeverTouchTheOtherStack", "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/Stack": other}}}
    assert sts["PassThisStackRolesToItsServicesOnly"]["Condition"]["StringEquals"]["aws:ResourceTag/Stack"] == stack
    assert sts["StayInTheStackRegion"]["Condition"] == {"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}
    assert "iam:CreateAccessKey" in sts["NoLongLivedCredentialsOrUsers"]["Action"]


def test_prod_deploy_role_cannot_destroy_the_database_or_its_protections():
    (deny,) = [st for st in statements("permissions-deploy-prod.json")
               if st["Sid"] == "ProdIsNeverDestroyedByThePipeline"]
    assert deny["Effect"] == "Deny"
    assert {"rds:DeleteDBInstance", "kms:ScheduleKeyDeletion", "secretsmanager:DeleteSecret",
            "cloudtrail:StopLogging", "guardduty:DeleteDetector"} <= set(deny["Action"])
