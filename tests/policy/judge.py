"""Judging a synthetic stack with the whole pack, as the engine feeds it, and evaluating a minimal program.

``judge(resources)`` runs EVERY rule of the pack on a stack made of ``(type, props, name)`` resources (their props
are both the inputs resource rules see and the outputs stack rules see), and returns ``{policy: (level,
messages)}`` for the policies violated. A case is written as "this resource, in this stack, is rejected by this
policy with this message": the pack before the fail-closed design judged every one of them clean.

``program(tmp_path, source)`` writes a minimal Pulumi program (``Pulumi.yaml``, ``Pulumi.<stack>.yaml`` pinning
the region, ``__main__.py``) and evaluates it under the mocks, as ``cruddur plan`` does.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from pulumi_policy import PolicyProviderResource, PolicyResource, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import unknown_checking_proxy

from ops.offline.stack_eval import evaluate
from tests.policy.conftest import config_of, policies

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "999999999999"
# A resource of the stack whose ARN says which account the stack is in (the same-account rule reads ARNs).
ROLE = ("aws:iam/role:Role", {"arn": f"arn:aws:iam::{ACCOUNT}:role/r", "assumeRolePolicy": ""}, "r")


def _urn(stack: str, resource_type: str, name: str) -> str:
    return f"urn:pulumi:{stack}::cruddur-db::{resource_type}::{name}"


def judge(resources: list[tuple[str, dict, str]], stack: str = "prod",
          provider_tags: dict | None = None) -> dict[str, tuple[str, list[str]]]:
    """Every policy the stack violates: ``{policy: (enforcement, messages)}``. ``provider_tags``: the default tags
    of a provider every resource is declared with (none by default)."""
    provider = None
    if provider_tags is not None:
        provider = PolicyProviderResource("pulumi:providers:aws", {"defaultTags": {"tags": provider_tags}},
                                          _urn(stack, "pulumi:providers:aws", "second"), "second")
    stack_resources = [PolicyResource(t, unknown_checking_proxy(p), _urn(stack, t, n), n, None, provider, None, [],
                                      {}) for t, p, n in resources]
    found = {}
    for rule in policies.RULES:
        config = config_of(rule)
        if rule.kind == "resource":
            messages = [m for t, p, n in resources for m in rule.run(ResourceValidationArgs(
                t, unknown_checking_proxy(p), _urn(stack, t, n), n, None, provider, config))]
        else:
            messages = rule.run(StackValidationArgs(stack_resources, config))
        if messages:
            found[rule.name] = (rule.enforcement.value, messages)
    return found


# What a stack of a few synthetic resources lacks (a trail, GuardDuty, a budget): not what a case is about.
ABSENT_FROM_A_SYNTHETIC_STACK = ("audit-trail-present", "guardduty-rds-protection", "cost-within-budget")


def rejected(resources: list[tuple[str, dict, str]], stack: str = "prod", provider_tags: dict | None = None,
             level: str = "mandatory") -> dict[str, list[str]]:
    """The policies of ``level`` that reject ``resources`` declared in ``stack`` beside ``ROLE``: ``{policy:
    messages}``, leaving out what any synthetic stack lacks."""
    found = judge([ROLE, *resources], stack, provider_tags)
    return {name: messages for name, (found_level, messages) in found.items()
            if found_level == level and name.removesuffix("-dev") not in ABSENT_FROM_A_SYNTHETIC_STACK}


def program(tmp_path: Path, source: str, stack: str = "prod"):
    """Evaluate a minimal program (``source``, dedented) for ``stack`` under the mocks."""
    (tmp_path / "Pulumi.yaml").write_text("name: cruddur-db\nruntime: python\n")
    (tmp_path / f"Pulumi.{stack}.yaml").write_text("config:\n  aws:region: eu-west-1\n")
    (tmp_path / "__main__.py").write_text(textwrap.dedent(source))
    return evaluate(stack, project_dir=tmp_path)
