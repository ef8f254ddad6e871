"""Helpers for the CI tests: the repository's workflows and the readers of their jobs and steps, the documented CI
role policies, the linters from the venv (actionlint, zizmor, ruff), small workflows for the linters to judge, and
git in a scratch repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / ".github"
WORKFLOWS = GITHUB / "workflows"
ROLES = ROOT / "runbooks" / "ci-roles"
BIN = Path(sys.executable).parent  # the venv's bin: actionlint, shellcheck, zizmor and ruff come from requirements


# -- the workflows, parsed ----------------------------------------------------------------------------------------
AWS_ACTION = "aws-actions/configure-aws-credentials@"
PULUMI_ACTION = "pulumi/actions@"


def load(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the bare key `on` as the boolean True.
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def uses(job: dict, prefix: str) -> list[dict]:
    """The steps that use an action whose reference starts with ``prefix``."""
    return [s for s in steps(job) if s.get("uses", "").startswith(prefix)]


def named(job: dict, needle: str) -> list[dict]:
    """The steps whose script contains ``needle``."""
    return [s for s in steps(job) if needle in s.get("run", "")]


def pulumi_commands(job: dict) -> list[dict]:
    """The pulumi/actions steps that run a command (an install-only step has no `command`)."""
    return [s for s in uses(job, PULUMI_ACTION) if s.get("with", {}).get("command")]


# -- the CI roles' documented policies (runbooks/ci-roles/) -------------------------------------------------------
def role_document(name: str) -> dict:
    return json.loads((ROLES / name).read_text())


def listify(value) -> list:
    """An IAM field that may be one value or a list, as a list."""
    return value if isinstance(value, list) else [value]


# -- the linters, as `./dev lint` runs them -----------------------------------------------------------------------
def run_actionlint(*paths: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """actionlint exactly as `./dev lint` runs it (shellcheck on, pyflakes off), on the given files."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(BIN / "actionlint"), "-no-color", "-oneline", "-shellcheck", str(BIN / "shellcheck"), "-pyflakes=",
         *map(str, paths)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )


def run_zizmor(*paths: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """zizmor exactly as `./dev lint` runs it: offline (no network, no token), pedantic persona."""
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")}
    return subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", "--persona=pedantic", "--format=plain",
         *map(str, paths)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )


def run_ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """ruff check as `./dev lint` runs it (no cache, one line per finding)."""
    return subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "--output-format=concise", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


# -- small workflows for the linters to judge ---------------------------------------------------------------------
CHECKOUT = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"


def checkout(ref: str = "", action: str = CHECKOUT, persist_credentials: bool = False) -> str:
    """A checkout step (pinned, not keeping the token unless asked), of ``ref`` when given."""
    options = ([f"ref: {ref}"] if ref else []) + ([] if persist_credentials else ["persist-credentials: false"])
    return f"- uses: {action}" + ("\n  with:\n" + "\n".join(f"    {o}" for o in options) if options else "")


def workflow(*job_steps: str, on: str = "push", permissions: str = "{}",
             job_permissions: str | None = "contents: read") -> str:
    """A one-job workflow, reasonable but for what a test passes in: the trigger ``on``, the top-level
    ``permissions`` (YAML after the key), the job's ``job_permissions`` (None: no job-level block) and its steps."""
    job = ["runs-on: ubuntu-24.04"]
    if job_permissions is not None:
        job += ["permissions:", textwrap.indent(job_permissions, "  ")]
    job += ["steps:", *(textwrap.indent(step, "  ") for step in job_steps)]
    separator = "" if permissions.startswith("\n") else " "  # a block mapping starts on the next line
    header = f"name: bad\non: {on}\npermissions:{separator}{permissions}\njobs:\n  test:\n"
    return header + textwrap.indent("\n".join(job), "    ") + "\n"


def write_workflow(tmp_path: Path, body: str) -> Path:
    """``body`` as ``.github/workflows/bad.yml`` of a scratch repository in ``tmp_path``."""
    path = tmp_path / ".github" / "workflows" / "bad.yml"
    path.parent.mkdir(parents=True)
    path.write_text(body)
    return path


# -- git in a scratch repository ----------------------------------------------------------------------------------
def git(repo: Path, *args: str) -> str:
    """``git ARGS`` in ``repo`` as a CI identity; its output, stripped."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.com",
           "GIT_COMMITTER_NAME": "ci", "GIT_COMMITTER_EMAIL": "ci@example.com"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()
