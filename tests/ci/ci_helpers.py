"""Helpers for the CI tests: the repository's workflows, and the two workflow linters from the venv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / ".github"
WORKFLOWS = GITHUB / "workflows"
BIN = Path(sys.executable).parent  # the venv's bin: actionlint, shellcheck and zizmor come from requirements-test.txt


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


def load(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the bare key `on` as the boolean True.
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc
