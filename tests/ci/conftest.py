"""Fixtures for the CI tests: the committed workflows, parsed."""

from __future__ import annotations

import pytest

from tests.ci.ci_helpers import WORKFLOWS, load


@pytest.fixture(scope="session")
def pr() -> dict:
    return load("pull-request.yml")


@pytest.fixture(scope="session")
def deploy() -> dict:
    return load("deploy.yml")


@pytest.fixture(scope="session")
def workflows() -> dict[str, dict]:
    return {p.name: load(p.name) for p in sorted(WORKFLOWS.glob("*.y*ml"))}
