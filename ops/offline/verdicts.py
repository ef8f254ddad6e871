"""The offline plan's verdicts: every policy of the pack judged on a stack evaluated under the mocks.

Shared by ``cruddur plan`` (``ops/cli/plan.py`` prints the tables), the policy tests and the benchmarks.
The real ``__main__.py`` is evaluated for the stack's committed configuration under the mocks
(``ops.offline.stack_eval.evaluate``: no AWS credentials, no Pulumi CLI), then every validator of the policy pack
(``policy/policies.py``) runs on the recorded resources, fed the way the Pulumi engine feeds them:

- resource policies get a ``ResourceValidationArgs`` per custom resource (the engine sends them no component) whose
  ``props`` are the resource's inputs with the provider's camelCase names, wrapped in pulumi_policy's
  unknown-checking proxy, whose ``urn`` names the stack (which says the environment) and whose ``provider`` is the
  resource's provider;
- stack policies get one ``StackValidationArgs`` whose ``PolicyResource`` objects carry each resource's outputs
  (what the mocks answered: inputs plus computed attributes), parent links included, and the root
  ``pulumi:pulumi:Stack`` resource whose props are the stack's outputs (the engine passes its final outputs too).
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ops.offline.stack_eval import Evaluation, evaluate
from ops.paths import POLICY_DIR, PROJECT_ROOT


def load_policies() -> ModuleType:
    """``policy/policies.py``, imported as the pack imports it (module ``policies`` from the pack's folder)."""
    if str(POLICY_DIR) not in sys.path:
        sys.path.insert(0, str(POLICY_DIR))
    import policies

    return policies


# -- feeding the validators as the engine does -----------------------------------------------------------------
STACK_TYPE = "pulumi:pulumi:Stack"
_UNITS = {"h": 3600, "m": 60, "s": 1}


def _seconds(duration: str) -> float:
    """A Pulumi custom timeout (``"4h"``, ``"90m"``, ``"1h30m"``) in seconds, as the engine passes it."""
    total, number = 0.0, ""
    for char in duration:
        if char.isdigit() or char == ".":
            number += char
        elif char in _UNITS and number:
            total, number = total + float(number) * _UNITS[char], ""
    return total


def _options(resource) -> Any:
    """The resource's options as the engine passes them to policies (protect, custom timeouts...)."""
    from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions

    timeouts = {k: _seconds(resource.custom_timeouts.get(k, "")) for k in ("create", "update", "delete")}
    return PolicyResourceOptions(protect=resource.protect, ignore_changes=list(resource.ignore_changes),
                                 delete_before_replace=resource.delete_before_replace or None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(timeouts["create"], timeouts["update"],
                                                                      timeouts["delete"]),
                                 additional_secret_outputs=list(resource.additional_secret_outputs),
                                 parent=resource.parent_urn or None)


def _proxy(props: dict) -> Any:
    from pulumi_policy.proxy import unknown_checking_proxy

    return unknown_checking_proxy(copy.deepcopy(props))


def _provider(evaluation: Evaluation, resource) -> Any:
    from pulumi_policy import PolicyProviderResource

    if not resource.provider:
        return None
    provider = evaluation.by_urn(resource.provider.rsplit("::", 1)[0])
    if provider is None:
        return None
    return PolicyProviderResource(provider.type, _proxy(provider.props), provider.urn, provider.name)


def resource_args(evaluation: Evaluation, resource, config: dict | None = None) -> Any:
    """The ``ResourceValidationArgs`` the engine would pass for ``resource`` (props = its inputs)."""
    from pulumi_policy import ResourceValidationArgs

    return ResourceValidationArgs(resource.type, _proxy(resource.props), resource.urn, resource.name,
                                  _options(resource), _provider(evaluation, resource), config)


def _root(evaluation: Evaluation) -> Any:
    """The root ``pulumi:pulumi:Stack`` resource as the engine passes it to stack policies: its props are the stack's
    outputs (secret ones wrapped as secrets). None when no recorded resource names the root."""
    from pulumi_policy import PolicyResource
    from pulumi_policy.secret import Secret

    urn = next((r.parent_urn for r in evaluation.resources if r.parent_urn.split("::")[2:3] == [STACK_TYPE]), None)
    if urn is None:
        return None
    outputs = {k: Secret(v) if k in evaluation.secret_outputs else v for k, v in evaluation.outputs.items()}
    return PolicyResource(STACK_TYPE, _proxy(outputs), urn, urn.rsplit("::", 1)[1], _options_of_root(), None, None,
                          [], {})


def _options_of_root() -> Any:
    from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions

    return PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0.0, 0.0, 0.0), additional_secret_outputs=[],
                                 parent=None)


def stack_args(evaluation: Evaluation, config: dict | None = None) -> Any:
    """The ``StackValidationArgs`` the engine would pass (props = each resource's outputs, parents linked; the root
    Stack resource first, its props the stack's outputs)."""
    from pulumi_policy import PolicyResource, StackValidationArgs

    by_urn: dict[str, Any] = {}
    root = _root(evaluation)
    if root is not None:
        by_urn[root.urn] = root
    for r in evaluation.resources:
        by_urn[r.urn] = PolicyResource(r.type, _proxy(r.outputs if r.custom else {}), r.urn, r.name, _options(r),
                                       _provider(evaluation, r), None, [], {})
    for r in evaluation.resources:
        by_urn[r.urn].parent = by_urn.get(r.parent_urn)
    return StackValidationArgs(list(by_urn.values()), config)


# -- verdicts -----------------------------------------------------------------------------------------------------
@dataclass
class Verdict:
    policy: str
    enforcement: str  # "mandatory" or "advisory"
    kind: str  # "resource" or "stack"
    status: str  # "pass", "violated" or "n/a"
    messages: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def mandatory_violation(self) -> bool:
        return self.status == "violated" and self.enforcement == "mandatory"


def _config(rule) -> dict:
    return {key: schema["default"] for key, schema in (rule.config or {}).items() if "default" in schema}


def check(evaluation: Evaluation, policies: ModuleType | None = None) -> tuple[str, list[Verdict]]:
    """(the stack's environment as the policies judge it, a verdict per policy) for an evaluated stack."""
    policies = policies or load_policies()
    environment = policies.stack_environment(stack_args(evaluation))
    types = {r.type for r in evaluation.resources}
    verdicts = []
    for rule in policies.RULES:
        verdict = Verdict(rule.name, rule.enforcement.value, rule.kind, "pass")
        verdicts.append(verdict)
        if not rule.applies_to(environment):
            verdict.status = "n/a"
            verdict.note = f"{' and '.join(rule.environments)} stacks only; this is a {environment} stack"
            continue
        if rule.types and not rule.generic and not types.intersection(rule.types):
            verdict.status = "n/a"
            verdict.note = "no " + ", ".join(rule.types) + " in this stack"
            continue
        config = _config(rule)
        if rule.kind == "resource":
            for resource in evaluation.resources:  # the engine sends resource policies custom resources only
                if resource.custom and rule.judges(resource.type):
                    verdict.messages += rule.run(resource_args(evaluation, resource, config))
        else:
            verdict.messages += rule.run(stack_args(evaluation, config))
        if verdict.messages:
            verdict.status = "violated"
    return environment, verdicts


@dataclass
class PlanResult:
    evaluation: Evaluation
    environment: str
    verdicts: list[Verdict]

    @property
    def mandatory_violations(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.mandatory_violation]

    @property
    def exit_code(self) -> int:
        return 1 if self.mandatory_violations else 0


def build_plan(stack: str, project_dir: Path | None = None) -> PlanResult:
    """Evaluate ``stack`` (from ``project_dir``, default this checkout) and judge it.
    Raises ``StackFileError`` / ``ConfigError`` when it cannot be evaluated."""
    evaluation = evaluate(stack, project_dir=project_dir or PROJECT_ROOT)
    environment, verdicts = check(evaluation)
    return PlanResult(evaluation, environment, verdicts)
