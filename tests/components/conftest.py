"""Fixtures for the Pulumi program under mocks: each committed stack evaluated once per session.

``dev`` and ``prod`` are ``ops.offline.stack_eval.Evaluation`` objects for the stack files as committed;
``evaluate_with`` evaluates a stack with config overrides; ``config_problems`` returns the settings problems a
configuration raises (and fails the test if it raises none). Helpers: ``only`` (the one problem), ``trail_bucket``
(a physical name several tests check), ``policy`` (a policy input, parsed); type tokens are in ``types.py``.
"""

from __future__ import annotations

import json

import pytest

from components.settings import ConfigError
from ops.offline.stack_eval import Evaluation, evaluate
from tests.components.types import ACCOUNT

STACKS = ("dev", "prod")


@pytest.fixture(scope="session")
def dev() -> Evaluation:
    return evaluate("dev")


@pytest.fixture(scope="session")
def prod() -> Evaluation:
    return evaluate("prod")


@pytest.fixture(scope="session", params=STACKS)
def stack(request) -> Evaluation:
    """Each committed stack in turn."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def evaluate_with():
    return evaluate


@pytest.fixture
def config_problems():
    def problems(stack: str, **overrides) -> list[str]:
        with pytest.raises(ConfigError) as caught:
            evaluate(stack, overrides={k.replace("__", ":"): v for k, v in overrides.items()})
        return caught.value.problems
    return problems


def only(problems: list[str]) -> str:
    """The one settings problem ``config_problems`` found (the test fails when there are more)."""
    assert len(problems) == 1, problems
    return problems[0]


def trail_bucket(stack: Evaluation) -> str:
    """The trail bucket's physical name: ``cruddur-<stack>-trail-<account>``."""
    return f"cruddur-{stack.stack}-trail-{ACCOUNT}"


def policy(resource, key: str = "policy") -> dict:
    """A resource's IAM/KMS/bucket policy input, parsed."""
    return json.loads(resource.props[key])
