"""The documented IAM policies for the CI roles (runbooks/ci-roles/): each trust policy trusts GitHub's OIDC
provider, the sts.amazonaws.com audience and exactly one `sub`, the one the workflow job that uses the role gets;
the permissions keep each deploy role to its own stack and the preview role read-only."""

from __future__ import annotations

import pytest

from tests.ci.ci_helpers import ROOT, listify, role_document

PROVIDER = "arn:aws:iam::ACCOUNT_ID:oidc-provider/token.actions.githubusercontent.com"
SUBS = {
    "preview": "repo:OWNER/REPO:pull_request",
    "deploy-dev": "repo:OWNER/REPO:ref:refs/heads/main",
    "deploy-prod": "repo:OWNER/REPO:environment:prod",
}


def statements(name: str) -> list[dict]:
    return role_document(name)["Statement"]


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
    # iam:PassRole ignores role tags, so the statement names this stack's roles (test_ci_role_coverage.py checks it
    # covers every role the stack declares).
    passable = sts["PassThisStackRolesToItsServicesOnly"]["Resource"]
    assert f"arn:aws:iam::ACCOUNT_ID:role/cruddur-{stack}-*" in passable
    assert not any(f"cruddur-{other}" in r or r.endswith("role/*") for r in passable)
    assert sts["StayInTheStackRegion"]["Condition"] == {"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}
    assert "iam:CreateAccessKey" in sts["NoLongLivedCredentialsOrUsers"]["Action"]


def test_prod_deploy_role_cannot_destroy_the_database_or_its_protections():
    (deny,) = [st for st in statements("permissions-deploy-prod.json")
               if st["Sid"] == "ProdIsNeverDestroyedByThePipeline"]
    assert deny["Effect"] == "Deny"
    assert {"rds:DeleteDBInstance", "kms:ScheduleKeyDeletion", "secretsmanager:DeleteSecret",
            "cloudtrail:StopLogging", "guardduty:DeleteDetector"} <= set(deny["Action"])


PROD_DB = "arn:aws:rds:eu-west-1:ACCOUNT_ID:db:cruddur-prod-db"
PRE_MIGRATE = "arn:aws:rds:eu-west-1:ACCOUNT_ID:snapshot:cruddur-prod-pre-migrate-*"


def test_prod_deploy_role_may_snapshot_the_prod_database_before_migrations_and_nothing_more():
    sts = {st["Sid"]: st for st in statements("permissions-deploy-prod.json")}
    assert sts["SnapshotProdBeforeMigrations"] == {
        "Sid": "SnapshotProdBeforeMigrations", "Effect": "Allow", "Action": "rds:CreateDBSnapshot",
        "Resource": [PROD_DB, PRE_MIGRATE]}
    assert sts["TagThePreMigrationSnapshots"] == {
        "Sid": "TagThePreMigrationSnapshots", "Effect": "Allow", "Action": "rds:AddTagsToResource",
        "Resource": PRE_MIGRATE,
        "Condition": {"StringEquals": {"aws:RequestTag/Stack": "prod"},
                      "ForAllValues:StringEquals": {"aws:TagKeys": ["Stack", "Commit"]}}}
    assert sts["WaitForThePreMigrationSnapshots"] == {
        "Sid": "WaitForThePreMigrationSnapshots", "Effect": "Allow", "Action": "rds:DescribeDBSnapshots",
        "Resource": [PROD_DB, PRE_MIGRATE]}


def test_the_snapshot_permissions_match_what_the_deploy_workflow_does():
    workflow = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    assert 'snapshot="cruddur-prod-pre-migrate-${GITHUB_SHA}"' in workflow
    assert '--tags Key=Stack,Value=prod "Key=Commit,Value=${GITHUB_SHA}"' in workflow
    for call in ("aws rds describe-db-snapshots", "aws rds create-db-snapshot", "aws rds wait db-snapshot-available"):
        assert call in workflow
    # The prod instance's identifier is cruddur-<stack>-db (components/settings.py: Settings.name("db")).
    assert PROD_DB.rsplit(":", 1)[1] == "cruddur-prod-db"


def test_the_prod_pipeline_never_deletes_or_shares_a_snapshot():
    (deny,) = [st for st in statements("permissions-deploy-prod.json")
               if st["Sid"] == "ProdIsNeverDestroyedByThePipeline"]
    assert {"rds:DeleteDBSnapshot", "rds:ModifyDBSnapshotAttribute"} <= set(deny["Action"])
