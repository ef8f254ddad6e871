"""The committed workflows pass actionlint and zizmor with zero findings, and both linters do bite: a deliberately
unsafe workflow (pull_request_target checking out the PR head, an unpinned action, a script injection, persisted
credentials, write-all permissions, an unquoted variable, an unknown permission) is reported."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.ci.ci_helpers import GITHUB, WORKFLOWS, run_actionlint, run_zizmor

CHECKOUT = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"


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


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / ".github" / "workflows" / "bad.yml"
    path.parent.mkdir(parents=True)
    path.write_text(textwrap.dedent(body).lstrip())
    return path


# Each bad workflow is otherwise reasonable, so the finding asserted is the one that makes it bad.
ZIZMOR_CASES = {
    "pull_request_target checking out the PR head": (
        f"""
        name: bad
        on: pull_request_target
        permissions: {{}}
        jobs:
          test:
            runs-on: ubuntu-24.04
            permissions:
              contents: read
            steps:
              - uses: {CHECKOUT}
                with:
                  ref: ${{{{ github.event.pull_request.head.sha }}}}
                  persist-credentials: false
              - run: make test
        """,
        "dangerous-triggers",
    ),
    "an action pinned to a tag, not a SHA": (
        """
        name: bad
        on: push
        permissions: {}
        jobs:
          test:
            runs-on: ubuntu-24.04
            permissions:
              contents: read
            steps:
              - uses: actions/checkout@v7
                with:
                  persist-credentials: false
        """,
        "unpinned-uses",
    ),
    "a PR title expanded into a script": (
        f"""
        name: bad
        on: pull_request
        permissions: {{}}
        jobs:
          test:
            runs-on: ubuntu-24.04
            permissions:
              contents: read
            steps:
              - uses: {CHECKOUT}
                with:
                  persist-credentials: false
              - run: echo "${{{{ github.event.pull_request.title }}}}"
        """,
        "template-injection",
    ),
    "a checkout that persists the token": (
        f"""
        name: bad
        on: push
        permissions: {{}}
        jobs:
          test:
            runs-on: ubuntu-24.04
            permissions:
              contents: read
            steps:
              - uses: {CHECKOUT}
        """,
        "artipacked",
    ),
    "write-all permissions": (
        f"""
        name: bad
        on: push
        permissions: write-all
        jobs:
          test:
            runs-on: ubuntu-24.04
            steps:
              - uses: {CHECKOUT}
                with:
                  persist-credentials: false
        """,
        "excessive-permissions",
    ),
}


@pytest.mark.parametrize("case", ZIZMOR_CASES)
def test_zizmor_reports_a_deliberately_unsafe_workflow(tmp_path, case):
    body, audit = ZIZMOR_CASES[case]
    result = run_zizmor(_write(tmp_path, body), cwd=tmp_path)
    assert result.returncode != 0, result.stdout + result.stderr
    assert audit in result.stdout, result.stdout


ACTIONLINT_CASES = {
    "an unquoted variable in a script (shellcheck through actionlint)": (
        f"""
        name: bad
        on: push
        permissions: {{}}
        jobs:
          test:
            runs-on: ubuntu-24.04
            permissions:
              contents: read
            steps:
              - uses: {CHECKOUT}
                with:
                  persist-credentials: false
              - env:
                  TARGET: build
                run: rm -rf $TARGET
        """,
        "SC2086",
    ),
    "an untrusted expression in a script": (
        """
        name: bad
        on: pull_request
        permissions: {}
        jobs:
          test:
            runs-on: ubuntu-24.04
            permissions:
              contents: read
            steps:
              - run: echo "${{ github.event.pull_request.head.ref }}"
        """,
        "potentially untrusted",
    ),
    "a permission that does not exist": (
        """
        name: bad
        on: push
        permissions:
          id-token: admin
        jobs:
          test:
            runs-on: ubuntu-24.04
            steps:
              - run: "true"
        """,
        "permissions",
    ),
}


@pytest.mark.parametrize("case", ACTIONLINT_CASES)
def test_actionlint_reports_a_deliberately_broken_workflow(tmp_path, case):
    body, needle = ACTIONLINT_CASES[case]
    result = run_actionlint(_write(tmp_path, body), cwd=tmp_path)
    assert result.returncode != 0, result.stdout + result.stderr
    assert needle in result.stdout, result.stdout
