"""The pull request's cost comment (pull-request.yml jobs `cost` and `cost-comment`): computed offline by a job that
can only read, for forks too; commented by a job that runs nothing from the pull request. The `cost` job's two
scripts are run as written, by `bash -e`, in a real git checkout whose HEAD is a merge commit like GitHub's
refs/pull/N/merge (first parent: the base branch): the comment shows the pull request's change, line by line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci.ci_helpers import ROOT
from tests.ci.test_workflow_rules import steps, uses

COST_STEP = "Estimate both stacks"
COMMENT_STEP = "The cost comment"


def step(job: dict, name: str) -> dict:
    (found,) = [s for s in steps(job) if s.get("name", "").startswith(name)]
    return found


def test_cost_is_computed_for_everyone_by_a_read_only_job_without_aws(pr):
    cost = pr["jobs"]["cost"]
    assert "if" not in cost  # forks included: the estimate needs no credentials
    assert cost["permissions"] == {"contents": "read"}
    assert not uses(cost, "aws-actions/") and not uses(cost, "pulumi/actions@")
    (checkout,) = uses(cost, "actions/checkout@")
    assert checkout["with"] == {"persist-credentials": False, "fetch-depth": 2}  # the merge commit and its parents
    run = step(cost, COST_STEP)["run"]
    assert 'git archive "$(git rev-parse HEAD^1)" | tar -x -C "$base"' in run
    assert '.venv/bin/cruddur cost estimate "$stack" --tree "$base" --json "$RUNNER_TEMP/base-$stack.json"' in run
    assert '.venv/bin/cruddur cost estimate "$stack" --tree . --json "$RUNNER_TEMP/head-$stack.json"' in run
    comment = step(cost, COMMENT_STEP)
    assert '.venv/bin/cruddur cost diff "$RUNNER_TEMP/base-$stack.json" "$RUNNER_TEMP/head-$stack.json"' in comment["run"]
    assert cost["outputs"] == {"comment": "${{ steps.comment.outputs.comment }}"}
    assert comment["id"] == "comment"


def test_the_comment_job_writes_one_comment_and_runs_nothing_from_the_pull_request(pr):
    job = pr["jobs"]["cost-comment"]
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert job["needs"] == ["cost"]
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    (only,) = steps(job)
    assert "uses" not in only  # no checkout: the pull request's code is not even on the runner
    assert only["env"]["COMMENT"] == "${{ needs.cost.outputs.comment }}"
    assert only["env"]["GH_TOKEN"] == "${{ github.token }}"
    run = only["run"]
    assert "./dev" not in run and ".venv" not in run and "python" not in run
    assert 'startswith("<!-- cruddur-cost -->")' in run  # finds its own comment again, and edits it
    assert 'gh api --method PATCH "repos/$REPO/issues/comments/$id" -F "body=@$body"' in run
    assert 'gh api --method POST "repos/$REPO/issues/$PR/comments" -F "body=@$body"' in run


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.com",
           "GIT_COMMITTER_NAME": "ci", "GIT_COMMITTER_EMAIL": "ci@example.com"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def merge_checkout(tmp_path: Path) -> Path:
    """base: the program as committed; the pull request: dev on db.t4g.small; HEAD: their merge (base first)."""
    repo = tmp_path / "checkout"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "__main__.py"):
        shutil.copy(ROOT / name, repo / name)
    for folder in ("components", "lambda", "sql"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "pr")
    stack_file = repo / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("db.t4g.micro", "db.t4g.small"))
    git(repo, "commit", "-q", "-am", "dev on db.t4g.small")
    git(repo, "checkout", "-q", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "main moved on")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge pr into main", "pr")
    (repo / ".venv").symlink_to(Path(sys.executable).parent.parent)
    return repo


def test_the_cost_job_scripts_compare_the_pull_request_with_its_base(pr, merge_checkout, tmp_path):
    cost = pr["jobs"]["cost"]
    runner = tmp_path / "runner"
    runner.mkdir()
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PULUMI_", "CRUDDUR_"))}
    env.update({"RUNNER_TEMP": str(runner), "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output),
                "COLUMNS": "200"})
    for name in (COST_STEP, COMMENT_STEP):
        done = subprocess.run(["bash", "-e", "-c", step(cost, name)["run"]], cwd=merge_checkout, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    comment = summary.read_text()
    lines = comment.splitlines()
    assert lines[:2] == ["<!-- cruddur-cost -->", "### Monthly cost: fixed charges, base branch -> this pull request"]
    dev_at, prod_at = lines.index("#### dev (eu-west-1)"), lines.index("#### prod (eu-west-1)")
    dev, prod = lines[dev_at:prod_at], lines[prod_at:]
    base, head = (json.loads((runner / f"{side}-dev.json").read_text()) for side in ("base", "head"))
    b, h = base["fixed"]["total_usd"], head["fixed"]["total_usd"]
    assert b < h and dev[2] == f"fixed: ${b:,.2f}/month -> ${h:,.2f}/month (+${h - b:,.2f}/month)"
    (before,) = [x for x in base["fixed"]["lines"] if x["kind"] == "rds instance"]
    (after,) = [x for x in head["fixed"]["lines"] if x["kind"] == "rds instance"]
    assert (f"| changed | `db-instance` | RDS db.t4g.micro (Single-AZ) -> RDS db.t4g.small (Single-AZ) | "
            f"{before['monthly_usd']:.2f} | {after['monthly_usd']:.2f} | "
            f"+${after['monthly_usd'] - before['monthly_usd']:.2f} |") in dev
    assert re.fullmatch(r"fixed: (\$[\d,.]+)/month -> \1/month \(\+\$0\.00/month\)", prod[2])
    assert prod[4].startswith("No fixed line changed (")
    # The same markdown is the job's `comment` output, between a random delimiter.
    text = output.read_text()
    delimiter = re.match(r"comment<<(cost_[0-9a-f]{32})\n", text)
    assert delimiter and text == f"comment<<{delimiter[1]}\n{comment}{delimiter[1]}\n"
