"""Helpers for the policy pack's tests: run a policy on real recorded resources, or on one with a property changed.

The resources come from the committed stacks evaluated under the mocks (``dev``/``prod`` fixtures of
``tests/components/conftest.py``, re-exported here). ``changed(resource, key=value, other=REMOVE)`` returns a copy of
a recorded resource whose inputs (and outputs) differ only there, so a violation test breaks exactly one property
of a real resource. ``resource_violations``/``stack_violations`` feed a rule the way the engine does
(``ops.offline.verdicts.resource_args``/``stack_args``: unknown-checking proxies, the provider with its default tags).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from ops.offline.verdicts import load_policies, resource_args, stack_args
from tests.components.conftest import dev, evaluate_with, prod, stack  # noqa: F401 - shared fixtures

policies = load_policies()
REMOVE = object()


def _apply(values: dict, changes: dict) -> dict:
    out = dict(values)
    for key, value in changes.items():
        if value is REMOVE:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def changed(resource, **changes):
    """A copy of a recorded resource with ``changes`` applied to its inputs and its outputs."""
    return dataclasses.replace(resource, inputs=_apply(resource.inputs, changes),
                               state=_apply(resource.state, changes))


def replaced(evaluation, old, new=None):
    """A copy of ``evaluation`` with resource ``old`` replaced by ``new`` (or removed when ``new`` is None)."""
    resources = [new if r is old else r for r in evaluation.resources]
    return dataclasses.replace(evaluation, resources=[r for r in resources if r is not None])


def config_of(rule) -> dict:
    return {k: v["default"] for k, v in (rule.config or {}).items()}


def resource_violations(rule_name: str, evaluation, resource, config: dict | None = None) -> list[str]:
    rule = policies.rule(rule_name)
    return rule.run(resource_args(evaluation, resource, config if config is not None else config_of(rule)))


def all_resource_violations(rule_name: str, evaluation) -> list[str]:
    """A resource rule's violations over every custom resource (the engine sends resource policies no component)."""
    rule = policies.rule(rule_name)
    return [m for r in evaluation.resources if r.custom
            for m in rule.run(resource_args(evaluation, r, config_of(rule)))]


def stack_violations(rule_name: str, evaluation, config: dict | None = None) -> list[str]:
    rule = policies.rule(rule_name)
    return rule.run(stack_args(evaluation, config if config is not None else config_of(rule)))


def violations(rule_name: str, evaluation) -> list[str]:
    """Every violation of a rule over a whole evaluated stack."""
    if policies.rule(rule_name).kind == "stack":
        return stack_violations(rule_name, evaluation)
    return all_resource_violations(rule_name, evaluation)


def document(resource, key: str = "policy") -> dict:
    return json.loads(resource.props[key])


@pytest.fixture(scope="session")
def pack():
    return policies


@contextlib.contextmanager
def pack_server(command: list[str]) -> Iterator:
    """The pack process started as ``pulumi preview --policy-pack ./policy`` starts it (``command``, run in policy/):
    it prints its port, and the yielded stub is the engine's side of the analyzer gRPC service."""
    import grpc
    from pulumi.runtime.proto import analyzer_pb2_grpc

    from ops.paths import POLICY_DIR

    process = subprocess.Popen([sys.executable, *command], cwd=POLICY_DIR, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
