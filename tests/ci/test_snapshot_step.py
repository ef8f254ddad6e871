"""The prod deploy job's snapshot step, run as written in deploy.yml by `bash -e` (GitHub's default shell) in a real
git checkout. The two cloud CLIs are stand-ins on PATH (no cloud here): `pulumi` answers `stack history --json` and
`stack output dbInstanceId` from the test's data, `aws` records its calls and says whether the snapshot already
exists. Everything else (git, the history parsing, the decisions) is the step's own code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci.ci_helpers import git, named

INSTANCE = "cruddur-prod-db"

PULUMI = """#!/bin/sh
case "$*" in
  "stack history --stack prod --json") cat "$FAKE/history.json" ;;
  "stack output dbInstanceId --stack prod")
    [ -f "$FAKE/instance" ] || { echo "error: current stack does not have output property 'dbInstanceId'" >&2; exit 1; }
    cat "$FAKE/instance" ;;
  *) echo "unexpected pulumi $*" >&2; exit 99 ;;
esac
"""
AWS = """#!/bin/sh
echo "$*" >> "$FAKE/aws.log"
case "$2" in
  describe-db-snapshots) [ -f "$FAKE/snapshot-exists" ] || { echo "DBSnapshotNotFound" >&2; exit 254; } ;;
  create-db-snapshot) echo "arn:aws:rds:eu-west-1:111122223333:snapshot:$6" ;;
  wait) ;;
  *) echo "unexpected aws $*" >&2; exit 99 ;;
esac
"""


def commit(repo: Path, path: str, text: str) -> str:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    git(repo, "add", path)
    git(repo, "commit", "-q", "-m", f"change {path}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def checkout(tmp_path):
    repo = tmp_path / "checkout"
    repo.mkdir()
    git(repo, "init", "-q")
    first = commit(repo, "sql/migrations/0001_users.sql", "CREATE TABLE users ();\n")
    (repo / ".venv").symlink_to(Path(sys.executable).parent.parent)
    fake = tmp_path / "fake"
    (fake / "bin").mkdir(parents=True)
    for name, body in (("pulumi", PULUMI), ("aws", AWS)):
        (fake / "bin" / name).write_text(body)
        (fake / "bin" / name).chmod(0o755)
    return repo, fake, first


def history(fake: Path, *updates: tuple[str, str, str | None]) -> None:
    doc = [{"version": 9 - i, "kind": kind, "startTime": "2026-12-01 10:00:00", "message": "",
            "environment": {"exec.kind": "auto.local", **({"git.head": head} if head else {})},
            "config": {}, "result": result} for i, (kind, result, head) in enumerate(updates)]
    (fake / "history.json").write_text(json.dumps(doc))


def run_step(deploy: dict, repo: Path, fake: Path, before: str) -> tuple[int, str, list[str]]:
    (step,) = named(deploy["jobs"]["prod"], "create-db-snapshot")
    env = {"PATH": f"{fake / 'bin'}{os.pathsep}{os.environ['PATH']}", "FAKE": str(fake), "HOME": str(fake),
           "GITHUB_SHA": git(repo, "rev-parse", "HEAD"), "BEFORE": before}
    result = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=repo, env=env,
                            capture_output=True, text=True, timeout=60)
    log = fake / "aws.log"
    return result.returncode, result.stdout + result.stderr, log.read_text().splitlines() if log.exists() else []


def snapshot_calls(sha: str) -> list[str]:
    snap = f"cruddur-prod-pre-migrate-{sha}"
    return [f"rds describe-db-snapshots --db-snapshot-identifier {snap}",
            f"rds create-db-snapshot --db-instance-identifier {INSTANCE} --db-snapshot-identifier {snap} "
            f"--tags Key=Stack,Value=prod Key=Commit,Value={sha} --query DBSnapshot.DBSnapshotArn --output text",
            f"rds wait db-snapshot-available --db-snapshot-identifier {snap}"]



def deployed(fake, head) -> None:
    """The instance exists and the stack's last update succeeded from commit ``head`` (None: outside git)."""
    (fake / "instance").write_text(INSTANCE)
    history(fake, ("update", "succeeded", head))

def test_a_migration_change_since_the_deployed_commit_is_snapshotted_and_waited_for(deploy, checkout):
    repo, fake, first = checkout
    (fake / "instance").write_text(INSTANCE + "\n")
    history(fake, ("update", "failed", "0" * 40), ("update", "succeeded", first), ("update", "succeeded", "1" * 40))
    other = commit(repo, "README.md", "docs\n")
    sha = commit(repo, "sql/migrations/0002_activities.sql", "CREATE TABLE activities ();\n")
    code, out, calls = run_step(deploy, repo, fake, before=other)  # the push itself only touched the migration
    assert code == 0, out
    assert calls == snapshot_calls(sha)
    assert f"changed since {first}:\nsql/migrations/0002_activities.sql\n" in out
    assert f"snapshot cruddur-prod-pre-migrate-{sha} of {INSTANCE} is available" in out


def test_an_earlier_undeployed_migration_change_is_caught_through_the_deployed_commit(deploy, checkout):
    repo, fake, first = checkout
    deployed(fake, first)
    commit(repo, "sql/migrations/0002_activities.sql", "CREATE TABLE activities ();\n")  # prod deploy rejected
    before = git(repo, "rev-parse", "HEAD")
    sha = commit(repo, "README.md", "docs\n")  # this push changes no migration
    code, out, calls = run_step(deploy, repo, fake, before=before)
    assert code == 0, out
    assert calls == snapshot_calls(sha)


def test_no_migration_change_takes_no_snapshot(deploy, checkout):
    repo, fake, first = checkout
    deployed(fake, first)
    commit(repo, "README.md", "docs\n")
    code, out, calls = run_step(deploy, repo, fake, before=first)
    assert (code, calls) == (0, [])
    assert f"no change under sql/migrations/ since {first}: no snapshot needed" in out


def test_without_history_the_push_s_before_commit_is_the_base(deploy, checkout):
    repo, fake, first = checkout
    deployed(fake, None)  # an update run outside git: no git.head
    sha = commit(repo, "sql/migrations/0002_activities.sql", "CREATE TABLE activities ();\n")
    code, out, calls = run_step(deploy, repo, fake, before=first)
    assert code == 0, out
    assert calls == snapshot_calls(sha)


def test_an_unknown_base_takes_the_snapshot_anyway(deploy, checkout):
    repo, fake, _ = checkout
    deployed(fake, "f" * 40)  # deployed from a commit this history does not have
    sha = commit(repo, "README.md", "docs\n")
    code, out, calls = run_step(deploy, repo, fake, before="0" * 40)
    assert code == 0, out
    assert f"cannot compare with '{'f' * 40}' (not in this history): taking the snapshot anyway" in out
    assert calls == snapshot_calls(sha)


def test_a_rerun_finds_its_snapshot_and_only_waits(deploy, checkout):
    repo, fake, first = checkout
    (fake / "instance").write_text(INSTANCE)
    (fake / "snapshot-exists").write_text("")
    history(fake, ("update", "succeeded", first))
    sha = commit(repo, "sql/migrations/0002_activities.sql", "CREATE TABLE activities ();\n")
    code, out, calls = run_step(deploy, repo, fake, before=first)
    assert code == 0, out
    assert calls == [snapshot_calls(sha)[0], snapshot_calls(sha)[2]]


def test_the_first_deploy_has_nothing_to_snapshot(deploy, checkout):
    repo, fake, first = checkout
    (fake / "history.json").write_text("[]")
    code, out, calls = run_step(deploy, repo, fake, before="0" * 40)
    assert (code, calls) == (0, [])
    assert "prod has no database yet (first deploy): nothing to snapshot" in out


def test_a_deployed_stack_without_the_instance_output_fails_the_job(deploy, checkout):
    repo, fake, first = checkout
    history(fake, ("update", "succeeded", first))
    commit(repo, "sql/migrations/0002_activities.sql", "CREATE TABLE activities ();\n")
    code, out, calls = run_step(deploy, repo, fake, before=first)
    assert (code, calls) == (1, [])
    assert f"::error::prod was deployed ({first}) but has no dbInstanceId output: cannot take the snapshot" in out
