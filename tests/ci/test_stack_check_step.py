"""The deploy jobs' `cruddur stack check` step: right after each `pulumi up`, it checks that stack, fails the job when
a promise does not hold, and writes its table into the job summary. The structure is asserted on the parsed
workflow; the step's script is run as written by `bash -e` (GitHub's default shell) with stand-ins for the two CLIs
it calls (`pulumi` answers `login`; `.venv/bin/cruddur` records its arguments, appends a table to the summary file
and exits with the code the test gives, as `cruddur stack check` does: 0 all held, 1 a promise failed, 2 nothing
could be checked)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.ci.ci_helpers import pulumi_commands, steps

PULUMI = """#!/bin/sh
echo "pulumi $*" >> "$FAKE/calls.log"
[ "$1" = login ] || { echo "unexpected pulumi $*" >&2; exit 99; }
"""
CRUDDUR = """#!/bin/sh
echo "cruddur $*" >> "$FAKE/calls.log"
printf '| group | promise | status | fix / why |\\n' >> "$GITHUB_STEP_SUMMARY"
exit "$CHECK_EXIT"
"""


def deploy_jobs(deploy: dict) -> dict[str, dict]:
    return {job_id: job for job_id, job in deploy["jobs"].items()
            if any(s.get("with", {}).get("command") == "up" for s in steps(job))}


def check_step(job: dict) -> tuple[int, dict]:
    found = [(i, s) for i, s in enumerate(steps(job)) if "cruddur stack check" in s.get("run", "")]
    assert len(found) == 1, "one `cruddur stack check` step per deploy job"
    return found[0]


def test_both_deploy_jobs_check_their_stack(deploy):
    assert sorted(deploy_jobs(deploy)) == ["dev", "prod"]


@pytest.mark.parametrize("job_id", ["dev", "prod"])
def test_the_check_runs_right_after_pulumi_up_on_the_same_stack(deploy, job_id):
    job = deploy["jobs"][job_id]
    (up,) = pulumi_commands(job)
    index, step = check_step(job)
    assert steps(job).index(up) == index - 1
    stack = up["with"]["stack-name"]
    assert stack == job_id
    lines = [line.strip() for line in step["run"].strip().splitlines()]
    assert lines == ['pulumi login "$PULUMI_BACKEND_URL"',
                     f'.venv/bin/cruddur stack check --stack {stack} --markdown "$GITHUB_STEP_SUMMARY"']
    assert step["env"] == {"PULUMI_BACKEND_URL": "${{ vars.PULUMI_BACKEND_URL }}"}
    # a failed promise must fail the job: nothing lets the step pass anyway
    assert "continue-on-error" not in step and "if" not in step and "shell" not in step


def run_step(step: dict, tmp_path: Path, exit_code: int) -> tuple[int, list[str], str]:
    fake = tmp_path / "fake"
    (fake / "bin").mkdir(parents=True)
    checkout = tmp_path / "checkout"
    (checkout / ".venv" / "bin").mkdir(parents=True)
    for path, body in ((fake / "bin" / "pulumi", PULUMI), (checkout / ".venv" / "bin" / "cruddur", CRUDDUR)):
        path.write_text(body)
        path.chmod(0o755)
    summary = tmp_path / "summary.md"
    env = {"PATH": f"{fake / 'bin'}{os.pathsep}{os.environ['PATH']}", "FAKE": str(fake), "HOME": str(fake),
           "PULUMI_BACKEND_URL": "s3://state-bucket", "GITHUB_STEP_SUMMARY": str(summary),
           "CHECK_EXIT": str(exit_code)}
    result = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=checkout, env=env, capture_output=True,
                            text=True, timeout=60)
    return result.returncode, (fake / "calls.log").read_text().splitlines(), summary.read_text()


@pytest.mark.parametrize(("exit_code", "job_result"), [(0, 0), (1, 1), (2, 2)], ids=["held", "failed", "unchecked"])
def test_the_step_fails_the_job_exactly_when_the_check_does(deploy, tmp_path, exit_code, job_result):
    _, step = check_step(deploy["jobs"]["prod"])
    code, calls, summary = run_step(step, tmp_path, exit_code)
    assert code == job_result
    assert calls == ["pulumi login s3://state-bucket",
                     "cruddur stack check --stack prod --markdown " + str(tmp_path / "summary.md")]
    assert summary == "| group | promise | status | fix / why |\n"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_deploy_role_may_make_every_read_the_check_makes(stack):
    from ops.stack.check.permissions import READ_ACTIONS
    from tests.ci.test_ci_role_coverage import allowed, denied_outright, statements

    policy = statements(f"permissions-deploy-{stack}.json")
    for action, resource in READ_ACTIONS:
        assert allowed(policy, action, resource.replace("STACK", stack)), f"{stack}'s deploy role lacks {action}"
        assert not denied_outright(policy, action), action
