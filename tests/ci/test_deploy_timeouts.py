"""The deploy jobs outlast a blue/green major upgrade (runbooks/upgrade-major.md runs it through the deploy
workflow): each `pulumi up` job's timeout covers the RDS instance's update timeout (components/database.py
TIMEOUTS) plus a margin, within GitHub-hosted runners' 6-hour limit, and its AWS role session outlasts the job."""

from __future__ import annotations

import re

import pytest

from components.database import TIMEOUTS
from tests.ci.ci_helpers import AWS_ACTION, ROOT, steps, uses

GITHUB_HOSTED_MAX_MINUTES = 360
MARGIN_MINUTES = 60  # checkout, venv, preview and guard, a pre-migration snapshot, the rest of `pulumi up`
UNITS = {"h": 60, "m": 1}


def minutes(duration: str) -> int:
    """A Pulumi custom timeout (``"4h"``, ``"90m"``, ``"1h30m"``) in minutes."""
    parts = re.findall(r"(\d+)([hm])", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(int(n) * UNITS[u] for n, u in parts)


def deploy_jobs(deploy: dict) -> dict[str, dict]:
    """The jobs that run `pulumi up`."""
    return {job_id: job for job_id, job in deploy["jobs"].items()
            if any(s.get("with", {}).get("command") == "up" for s in steps(job))}


def test_minutes():
    assert [minutes("4h"), minutes("90m"), minutes("1h30m")] == [240, 90, 90]


def test_the_instance_update_timeout_is_what_the_jobs_are_sized_for():
    assert minutes(TIMEOUTS.update) == 240


def test_deploy_jobs_outlast_the_instance_update_timeout(deploy):
    jobs = deploy_jobs(deploy)
    assert set(jobs) == {"dev", "prod"}
    for job_id, job in jobs.items():
        timeout = job["timeout-minutes"]
        assert minutes(TIMEOUTS.update) + MARGIN_MINUTES <= timeout <= GITHUB_HOSTED_MAX_MINUTES, job_id


def test_deploy_credentials_outlast_the_job(deploy):
    for job_id, job in deploy_jobs(deploy).items():
        (step,) = uses(job, AWS_ACTION)
        assert step["with"]["role-duration-seconds"] >= job["timeout-minutes"] * 60, job_id


def test_deploy_roles_allow_sessions_that_long(deploy):
    """runbooks/ci-roles.md creates the deploy roles with a maximum session at least as long as the jobs ask."""
    text = (ROOT / "runbooks" / "ci-roles.md").read_text()
    assert 'hours=2; [ "$role" = preview ] || hours=6' in text
    assert '--max-session-duration $((hours * 3600))' in text
    asked = {s["with"]["role-duration-seconds"] for job in deploy_jobs(deploy).values()
             for s in uses(job, AWS_ACTION)}
    assert asked == {6 * 3600}
    assert "--max-session-duration 21600" in text  # the update of roles created with 2 hours


@pytest.mark.parametrize("phrase", [
    "runs through the deploy workflow",
    "not from a workstation",
])
def test_the_upgrade_runbook_names_the_workflow_path(phrase):
    text = (ROOT / "runbooks" / "upgrade-major.md").read_text()
    assert phrase in " ".join(text.split())
    assert "120 minutes" not in text
