"""The pipeline's security and behaviour rules, asserted on the parsed workflows (each would fail if the property
were dropped): triggers, least-privilege permissions, pinned actions, no credentials for forks, previews with the
policy pack, per-stack deploy concurrency, prod behind its environment with its own role, no long-lived keys."""

from __future__ import annotations

import re

import pytest

from tests.ci.ci_helpers import AWS_ACTION, ROOT, WORKFLOWS, pulumi_commands, steps, uses

PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+){0,2}$")
def all_jobs(workflows):
    return [(name, job_id, job) for name, wf in workflows.items() for job_id, job in wf["jobs"].items()]


def test_triggers_are_pull_request_and_push_to_main_never_pull_request_target(pr, deploy, workflows):
    # labeled/unlabeled: adding or removing the allow-stateful-replace label re-runs the guarded preview.
    assert pr["on"] == {"pull_request": {"branches": ["main"],
                                         "types": ["opened", "synchronize", "reopened", "labeled", "unlabeled"]}}
    assert deploy["on"] == {"push": {"branches": ["main"]}}
    for name in workflows:
        text = (WORKFLOWS / name).read_text()
        assert not re.search(r"^\s*(pull_request_target|workflow_run)\s*:", text, re.M), name


def test_top_level_permissions_are_empty_and_every_job_declares_its_own(workflows):
    for name, wf in workflows.items():
        assert wf["permissions"] == {}, name
    for name, job_id, job in all_jobs(workflows):
        assert "permissions" in job, f"{name}:{job_id}"
        assert job["permissions"].get("contents") == "read", f"{name}:{job_id}"


def test_id_token_write_only_where_aws_credentials_are_configured(workflows):
    for name, job_id, job in all_jobs(workflows):
        wants_aws = bool(uses(job, AWS_ACTION))
        assert (job["permissions"].get("id-token") == "write") == wants_aws, f"{name}:{job_id}"


def test_pull_requests_write_only_on_the_preview_and_cost_comment_jobs_and_no_other_write_permission(workflows):
    for name, job_id, job in all_jobs(workflows):
        writes = {k for k, v in job["permissions"].items() if v == "write"}
        expected = {"id-token"} if uses(job, AWS_ACTION) else set()
        if (name, job_id) in (("pull-request.yml", "preview"), ("pull-request.yml", "cost-comment")):
            expected |= {"pull-requests"}
        assert writes == expected, f"{name}:{job_id}: {writes}"


def test_every_action_is_pinned_to_a_full_sha_with_its_version_in_a_comment(workflows):
    seen = 0
    for name in workflows:
        for line in (WORKFLOWS / name).read_text().splitlines():
            m = re.match(r"^\s*(?:- )?uses:\s*(.+)$", line)
            if m:
                seen += 1
                assert PIN.match(m.group(1).strip()), f"{name}: {line.strip()}"
    assert seen >= 10


def test_every_checkout_drops_the_token(workflows):
    for name, job_id, job in all_jobs(workflows):
        for step in uses(job, "actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, f"{name}:{job_id}"
            assert "ref" not in step.get("with", {}), f"{name}:{job_id} checks out a ref of its own"


def test_no_expression_is_expanded_inside_a_script(workflows):
    for name, job_id, job in all_jobs(workflows):
        for step in steps(job):
            assert "${{" not in step.get("run", ""), f"{name}:{job_id}:{step.get('name')}"


def test_no_long_lived_credentials_or_passphrase_anywhere(workflows):
    for name in workflows:
        text = (WORKFLOWS / name).read_text()
        for forbidden in ("secrets.", "aws-access-key-id", "aws-secret-access-key", "PULUMI_CONFIG_PASSPHRASE",
                          "PULUMI_ACCESS_TOKEN"):
            assert forbidden not in text, f"{name}: {forbidden}"


def test_pr_checks_lint_then_test_and_plan_both_stacks_offline_for_everyone(pr):
    checks, plan = pr["jobs"]["checks"], pr["jobs"]["plan"]
    runs = [s.get("run", "") for s in steps(checks)]
    assert runs.index("./dev lint") < runs.index("./dev test -p no:cacheprovider")
    assert "if" not in checks and "if" not in plan  # forks included
    assert plan["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert any(s.get("run") == './dev plan "$STACK"' and s["env"]["STACK"] == "${{ matrix.stack }}"
               for s in steps(plan))
    assert not uses(checks, AWS_ACTION) and not uses(plan, AWS_ACTION)


def test_preview_runs_for_same_repo_prs_only_after_the_checks(pr):
    preview = pr["jobs"]["preview"]
    assert preview["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert set(preview["needs"]) == {"checks", "plan"}
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert "environment" not in preview  # its token sub is repo:OWNER/REPO:pull_request


def test_preview_uses_the_read_only_role_and_comments_a_policy_checked_preview(pr):
    preview = pr["jobs"]["preview"]
    (aws,) = uses(preview, AWS_ACTION)
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    (pulumi,) = pulumi_commands(preview)
    w = pulumi["with"]
    assert w["command"] == "preview"
    assert w["stack-name"] == "${{ matrix.stack }}"
    assert w["policyPacks"] == "policy"
    assert w["comment-on-pr"] is True
    assert w["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert steps(preview).index(aws) < steps(preview).index(pulumi)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_deploy_job_per_stack_is_serialised_and_never_cancelled(deploy, stack):
    job = deploy["jobs"][stack]
    assert job["concurrency"] == {"group": f"pulumi-deploy-{stack}", "cancel-in-progress": False}
    (pulumi,) = pulumi_commands(job)
    assert pulumi["with"]["command"] == "up"
    assert pulumi["with"]["stack-name"] == stack
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"


def test_dev_deploys_after_the_checks_with_the_dev_role_outside_any_environment(deploy):
    dev = deploy["jobs"]["dev"]
    assert dev["needs"] == "checks"
    assert "environment" not in dev  # its token sub is repo:OWNER/REPO:ref:refs/heads/main
    (aws,) = uses(dev, AWS_ACTION)
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_DEV_ROLE_ARN }}"


def test_prod_deploys_after_dev_in_the_prod_environment_with_its_own_role(deploy):
    prod = deploy["jobs"]["prod"]
    assert prod["needs"] == "dev"
    assert prod["environment"] == "prod"  # its token sub is repo:OWNER/REPO:environment:prod
    (aws,) = uses(prod, AWS_ACTION)
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_PROD_ROLE_ARN }}"


def test_each_role_variable_is_used_by_exactly_one_kind_of_job(workflows):
    roles = {}
    for name, job_id, job in all_jobs(workflows):
        for step in uses(job, AWS_ACTION):
            roles.setdefault(step["with"]["role-to-assume"], set()).add(f"{name}:{job_id}")
    assert roles == {
        "${{ vars.AWS_PREVIEW_ROLE_ARN }}": {"pull-request.yml:preview"},
        "${{ vars.AWS_DEPLOY_DEV_ROLE_ARN }}": {"deploy.yml:dev"},
        "${{ vars.AWS_DEPLOY_PROD_ROLE_ARN }}": {"deploy.yml:prod"},
    }


def test_jobs_with_credentials_check_the_stack_uses_the_kms_secrets_provider(workflows):
    for name, job_id, job in all_jobs(workflows):
        if uses(job, AWS_ACTION):
            assert any("secretsprovider: awskms://" in s.get("run", "") for s in steps(job)), f"{name}:{job_id}"


def test_ci_run_lints_the_workflows_before_the_tests():
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert lines.index("./dev lint") < lines.index("./dev test -p no:cacheprovider")
