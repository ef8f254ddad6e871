"""The stateful-resource guard (ops/preview_guard.py) and the pre-migration snapshot, wired into the workflows:
every job that previews or deploys a stack writes `pulumi preview --json` to a file and runs the guard on it
before any `pulumi up`; the PR opt-in is the allow-stateful-replace label, the push opt-in the commit's
Allow-Stateful-Replace trailer (exercised here on a real git commit through the workflow's own script); prod takes
its snapshot after the guard and before `up`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ops.preview_guard import STATEFUL_TYPES
from tests.ci.ci_helpers import AWS_ACTION, PULUMI_ACTION, ROOT, git, named, pulumi_commands, steps, uses

FIXTURES = Path(__file__).parent / "fixtures"
GUARD = "-m ops.preview_guard"
TRAILER = "git log -1 --format='%(trailers:key=Allow-Stateful-Replace,valueonly,separator=%x20)'"
DB = "urn:pulumi:prod::cruddur-db::cruddur:database:Database$aws:rds/instance:Instance::db-instance"


def guarded_jobs(pr, deploy):
    return [("pull-request.yml:preview", pr["jobs"]["preview"], "$STACK"),
            ("deploy.yml:dev", deploy["jobs"]["dev"], "dev"),
            ("deploy.yml:prod", deploy["jobs"]["prod"], "prod")]


def test_every_preview_and_deploy_job_runs_the_guard_on_its_json_preview_before_any_up(pr, deploy):
    for where, job, stack in guarded_jobs(pr, deploy):
        all_steps = steps(job)
        (preview,) = named(job, "pulumi preview ")
        (guard,) = named(job, GUARD)
        (aws,) = uses(job, AWS_ACTION)
        out = f'"$RUNNER_TEMP/preview-{stack}.json"'
        stack_arg = '"$STACK"' if stack == "$STACK" else stack
        assert f"pulumi preview --stack {stack_arg} --json --suppress-outputs --non-interactive > {out}" \
            in preview["run"], where
        assert preview["env"]["PULUMI_BACKEND_URL"] == "${{ vars.PULUMI_BACKEND_URL }}", where
        assert 'pulumi login "$PULUMI_BACKEND_URL"' in preview["run"], where
        assert guard["run"].rstrip().endswith(out), where
        assert guard["run"].splitlines()[-1].startswith(".venv/bin/python -m ops.preview_guard "), where
        assert "continue-on-error" not in guard and "if" not in guard, where
        assert all_steps.index(aws) < all_steps.index(preview) < all_steps.index(guard), where
        for up in [s for s in pulumi_commands(job) if s["with"]["command"] == "up"]:
            assert all_steps.index(guard) < all_steps.index(up), where
        # The CLI the JSON preview runs is installed (pinned) before it: by an install-only step or the commented
        # preview.
        installs = [s for s in uses(job, PULUMI_ACTION) if all_steps.index(s) < all_steps.index(preview)]
        assert installs and all(s["with"]["pulumi-version"] == "3.272.0" for s in installs), where


def test_deploy_jobs_install_the_cli_without_running_a_command_before_the_guard(deploy):
    for stack in ("dev", "prod"):
        job = deploy["jobs"][stack]
        install = [s for s in uses(job, PULUMI_ACTION) if "command" not in s.get("with", {})]
        assert [s["with"] for s in install] == [{"pulumi-version": "3.272.0"}], stack
        (up,) = pulumi_commands(job)
        assert up["with"]["command"] == "up"


def test_the_pr_opt_in_is_the_label_and_the_push_opt_in_is_the_commit_trailer(pr, deploy):
    (guard,) = named(pr["jobs"]["preview"], GUARD)
    assert guard["env"]["ALLOW_STATEFUL_REPLACE"] == (
        "${{ contains(github.event.pull_request.labels.*.name, 'allow-stateful-replace') }}")
    assert "--allow" not in guard["run"]
    for stack in ("dev", "prod"):
        (guard,) = named(deploy["jobs"][stack], GUARD)
        assert "ALLOW_STATEFUL_REPLACE" not in guard.get("env", {}), stack
        assert guard["run"].splitlines()[0] == f"allow=$({TRAILER})", stack
        assert f'--allow "$allow" "$RUNNER_TEMP/preview-{stack}.json"' in guard["run"], stack


def test_prod_snapshots_before_a_migration_change_after_the_guard_and_before_up(deploy):
    prod = deploy["jobs"]["prod"]
    all_steps = steps(prod)
    (snap,) = named(prod, "create-db-snapshot")
    (guard,) = named(prod, GUARD)
    (up,) = pulumi_commands(prod)
    assert all_steps.index(guard) < all_steps.index(snap) < all_steps.index(up)
    run = snap["run"]
    assert 'git diff --name-only "$base" "$GITHUB_SHA" -- sql/migrations/' in run
    assert 'instance=$(pulumi stack output dbInstanceId --stack prod 2>/dev/null)' in run
    assert 'snapshot="cruddur-prod-pre-migrate-${GITHUB_SHA}"' in run
    assert '--db-instance-identifier "$instance" --db-snapshot-identifier "$snapshot"' in run
    assert '--tags Key=Stack,Value=prod "Key=Commit,Value=${GITHUB_SHA}"' in run
    assert 'aws rds wait db-snapshot-available --db-snapshot-identifier "$snapshot"' in run
    assert snap["env"] == {"BEFORE": "${{ github.event.before }}"}
    # The comparison base is the commit prod last deployed, so prod's checkout has the whole history.
    (checkout,) = uses(prod, "actions/checkout@")
    assert checkout["with"]["fetch-depth"] == 0
    assert not named(deploy["jobs"]["dev"], "create-db-snapshot")


@pytest.mark.parametrize("message,code,expected", [
    ("db: new data key (#42)\n\nAllow-Stateful-Replace: " + DB + "\n", 0, "allowed by opt-in: replace:"),
    ("db: new data key (#42)\n\nThe body says Allow-Stateful-Replace: yes, which is not a trailer.\n", 1,
     "replace: aws:rds/instance:Instance db-instance"),
    ("db: new data key (#42)\n\nAllow-Stateful-Replace: yes\nCo-authored-by: A <a@example.com>\n", 0,
     "allowed by opt-in: replace:"),
    ("db: new data key (#42)\n", 1, "replace: aws:rds/instance:Instance db-instance"),
])
def test_the_deploy_guard_step_reads_the_trailer_of_the_pushed_commit(deploy, tmp_path, message, code, expected):
    """The prod job's own guard script, run by bash in a git checkout whose HEAD carries (or not) the trailer."""
    (guard,) = named(deploy["jobs"]["prod"], GUARD)
    repo = tmp_path / "checkout"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    (repo / ".venv").symlink_to(Path(sys.executable).parent.parent)
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    (runner_temp / "preview-prod.json").write_text((FIXTURES / "replace-db-instance.json").read_text())
    env = {"PATH": os.environ["PATH"], "RUNNER_TEMP": str(runner_temp), "HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run(["bash", "-e", "-c", guard["run"]], cwd=repo, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == code, result.stdout + result.stderr
    assert expected in result.stdout + result.stderr


def test_the_runbook_documents_the_guarded_types_both_opt_ins_and_the_snapshot():
    text = (ROOT / "runbooks" / "ci-roles.md").read_text()
    for token in STATEFUL_TYPES:
        assert f"`{token}`" in text, token
    assert "label `allow-stateful-replace`" in text
    assert "Allow-Stateful-Replace: urn:pulumi:prod::cruddur-db::" in text
    assert TRAILER.replace(",separator=%x20", "") in text
    assert "`cruddur-prod-pre-migrate-<commit sha>`" in text
