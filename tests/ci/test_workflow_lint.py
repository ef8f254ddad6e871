"""The committed workflows pass actionlint and zizmor with zero findings, and both linters do bite: a deliberately
unsafe workflow (pull_request_target checking out the PR head, an unpinned action, a script injection, persisted
credentials, write-all permissions, an unquoted variable, an unknown permission) is reported."""

from __future__ import annotations

import pytest

from tests.ci.ci_helpers import GITHUB, WORKFLOWS, checkout, run_actionlint, run_zizmor, workflow, write_workflow


def test_there_are_workflows_to_lint():
    assert {p.name for p in WORKFLOWS.glob("*.yml")} >= {"pull-request.yml", "deploy.yml"}


def test_actionlint_has_zero_findings_on_the_committed_workflows():
    result = run_actionlint(*sorted(WORKFLOWS.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_zizmor_offline_has_zero_findings_on_the_committed_workflows():
    result = run_zizmor(GITHUB)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout, result.stdout
    assert "suppressed" not in result.stdout, "a finding was hidden by an ignore or the persona"


# Each bad workflow is otherwise reasonable (ci_helpers.workflow), so the finding asserted is the one that makes it bad.
ZIZMOR_CASES = {
    "pull_request_target checking out the PR head": (
        workflow(checkout(ref="${{ github.event.pull_request.head.sha }}"), "- run: make test",
                 on="pull_request_target"),
        "dangerous-triggers",
    ),
    "an action pinned to a tag, not a SHA": (workflow(checkout(action="actions/checkout@v7")), "unpinned-uses"),
    "a PR title expanded into a script": (
        workflow(checkout(), '- run: echo "${{ github.event.pull_request.title }}"', on="pull_request"),
        "template-injection",
    ),
    "a checkout that persists the token": (workflow(checkout(persist_credentials=True)), "artipacked"),
    "write-all permissions": (workflow(checkout(), permissions="write-all", job_permissions=None),
                              "excessive-permissions"),
}

ACTIONLINT_CASES = {
    "an unquoted variable in a script (shellcheck through actionlint)": (
        workflow(checkout(), "- env:\n    TARGET: build\n  run: rm -rf $TARGET"),
        "SC2086",
    ),
    "an untrusted expression in a script": (
        workflow('- run: echo "${{ github.event.pull_request.head.ref }}"', on="pull_request"),
        "potentially untrusted",
    ),
    "a permission that does not exist": (
        workflow('- run: "true"', permissions="\n  id-token: admin", job_permissions=None),
        "permissions",
    ),
}


@pytest.mark.parametrize("linter, body, needle", [
    *((run_zizmor, body, audit) for body, audit in ZIZMOR_CASES.values()),
    *((run_actionlint, body, needle) for body, needle in ACTIONLINT_CASES.values()),
], ids=[*(f"zizmor: {case}" for case in ZIZMOR_CASES), *(f"actionlint: {case}" for case in ACTIONLINT_CASES)])
def test_the_linters_report_a_deliberately_unsafe_workflow(tmp_path, linter, body, needle):
    result = linter(write_workflow(tmp_path, body), cwd=tmp_path)
    assert result.returncode != 0, result.stdout + result.stderr
    assert needle in result.stdout, result.stdout
