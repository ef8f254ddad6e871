"""``cruddur plan -s STACK`` (``./dev plan STACK``): what a stack will build and every policy's verdict, offline.

The real ``__main__.py`` is evaluated for the stack's committed configuration under the mocks
(``ops.stack_eval.evaluate``: no AWS credentials, no Pulumi CLI), then every validator of the policy pack
(``policy/policies.py``) runs on the recorded resources, fed the way the Pulumi engine feeds them:

- resource policies get a ``ResourceValidationArgs`` per resource whose ``props`` are the resource's inputs with
  the provider's camelCase names, wrapped in pulumi_policy's unknown-checking proxy, and whose ``provider`` is the
  resource's provider (its props carry the default tags that say which environment the stack is);
- stack policies get one ``StackValidationArgs`` whose ``PolicyResource`` objects carry each resource's outputs
  (what the mocks answered: inputs plus computed attributes), parent links included.

It prints the resource tree (type, name, parent) and a verdict per policy, and exits 1 when any MANDATORY policy
is violated, 2 when the stack cannot be evaluated (unknown stack, bad configuration), 0 otherwise.
``CRUDDUR_PROJECT_DIR`` points it at another copy of the project (its ``Pulumi.yaml``, stack files and
``__main__.py``); the policies always come from this checkout.
"""

from __future__ import annotations

import copy
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ops.console import out
from ops.stack_eval import PROJECT_DIR, Evaluation, StackFileError, evaluate

PROJECT_DIR_ENV = "CRUDDUR_PROJECT_DIR"
POLICY_DIR = Path(__file__).resolve().parent.parent / "policy"
STACK_TYPE = "pulumi:pulumi:Stack"


def load_policies() -> ModuleType:
    """``policy/policies.py``, imported as the pack imports it (module ``policies`` from the pack's folder)."""
    if str(POLICY_DIR) not in sys.path:
        sys.path.insert(0, str(POLICY_DIR))
    import policies  # noqa: PLC0415 - the pack's folder is on sys.path only now

    return policies


# -- feeding the validators as the engine does -----------------------------------------------------------------
def _options(resource) -> Any:
    from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions

    return PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[],
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


def stack_args(evaluation: Evaluation, config: dict | None = None) -> Any:
    """The ``StackValidationArgs`` the engine would pass (props = each resource's outputs, parents linked)."""
    from pulumi_policy import PolicyResource, StackValidationArgs

    by_urn: dict[str, Any] = {}
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
        if rule.types and not types.intersection(rule.types):
            verdict.status = "n/a"
            verdict.note = "no " + ", ".join(rule.types) + " in this stack"
            continue
        config = _config(rule)
        if rule.kind == "resource":
            for resource in evaluation.resources:
                if resource.type in rule.types:
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


def build_plan(stack: str, project_dir: Path | None = None, overrides: dict | None = None) -> PlanResult:
    """Evaluate ``stack`` and judge it. Raises ``StackFileError`` / ``ConfigError`` when it cannot be evaluated."""
    evaluation = evaluate(stack, overrides=overrides, project_dir=project_dir or PROJECT_DIR)
    environment, verdicts = check(evaluation)
    return PlanResult(evaluation, environment, verdicts)


# -- output ---------------------------------------------------------------------------------------------------------
def _tree(evaluation: Evaluation) -> list[tuple[Any, int]]:
    """Resources depth-first from the stack's roots, each with its depth (declaration order among siblings)."""
    urns = {r.urn for r in evaluation.resources}
    children: dict[str, list] = {}
    roots = []
    for r in evaluation.resources:
        if r.parent_urn in urns:
            children.setdefault(r.parent_urn, []).append(r)
        else:
            roots.append(r)
    ordered: list[tuple[Any, int]] = []

    def walk(resource, depth: int) -> None:
        ordered.append((resource, depth))
        for child in children.get(resource.urn, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return ordered


def resource_table(evaluation: Evaluation) -> Table:
    table = Table(title=f"Resources of stack '{evaluation.stack}'", title_justify="left")
    table.add_column("Type", no_wrap=True)
    table.add_column("Name", no_wrap=True)
    table.add_column("Parent", no_wrap=True)
    for resource, depth in _tree(evaluation):
        parent = evaluation.by_urn(resource.parent_urn)
        table.add_row(Text(resource.type), Text("  " * depth + resource.name),
                      Text(parent.name if parent else "(stack)"))
    return table


_STYLES = {"pass": "green", "n/a": "dim", "violated": "bold red"}


def verdict_table(result: PlanResult) -> Table:
    table = Table(title=f"Policy verdicts ({result.environment} stack)", title_justify="left")
    table.add_column("Policy", no_wrap=True)
    table.add_column("Level", no_wrap=True)
    table.add_column("Verdict", no_wrap=True)
    table.add_column("Details")
    for v in result.verdicts:
        style = _STYLES[v.status] if v.status != "violated" or v.enforcement == "mandatory" else "yellow"
        details = "\n".join(v.messages) if v.messages else v.note
        table.add_row(Text(v.policy), Text(v.enforcement), Text(v.status, style=style), Text(details))
    return table


def summary(result: PlanResult) -> str:
    counts = {s: sum(1 for v in result.verdicts if v.status == s) for s in ("pass", "n/a")}
    mandatory = len(result.mandatory_violations)
    advisory = sum(1 for v in result.verdicts if v.status == "violated" and v.enforcement != "mandatory")
    return (f"{result.evaluation.stack} ({result.environment}): {len(result.evaluation.resources)} resources, "
            f"{len(result.verdicts)} policies: {counts['pass']} passed, {counts['n/a']} not applicable, "
            f"{mandatory} mandatory violation(s), {advisory} advisory violation(s)")


def run(stack: str, project_dir: Path | None = None, overrides: dict | None = None,
        console: Console | None = None) -> int:
    """Plan ``stack``, print the tables and the summary, and return the exit status (0, 1 or 2)."""
    from components.settings import ConfigError

    console = console or out
    try:
        result = build_plan(stack, project_dir, overrides)
    except StackFileError as exc:
        print(f"cruddur plan: stack '{stack}': {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"cruddur plan: stack '{stack}' has bad configuration: {'; '.join(exc.problems)}", file=sys.stderr)
        return 2
    console.print(resource_table(result.evaluation))
    console.print(verdict_table(result))
    console.print(Text(summary(result), style="bold red" if result.exit_code else "bold green"))
    return result.exit_code


def plan(
    stack_name: Optional[str] = typer.Argument(None, metavar="[STACK]", show_default=False,
                                               help="The stack to plan (same as -s)."),
    stack: Optional[str] = typer.Option(None, "-s", "--stack", show_default=False,
                                        help="The stack to plan: its committed Pulumi.<stack>.yaml."),
) -> None:
    """Offline plan: the resources a stack declares and every policy's verdict (no AWS credentials, no Pulumi CLI).

    Exit status 1 when a mandatory policy is violated, 2 when the stack cannot be evaluated.
    """
    if stack and stack_name and stack != stack_name:
        print(f"cruddur plan: two different stacks given ('{stack_name}' and -s '{stack}'); give one",
              file=sys.stderr)
        raise typer.Exit(2)
    chosen = stack or stack_name
    if not chosen:
        print("cruddur plan: which stack? e.g. `cruddur plan -s dev`", file=sys.stderr)
        raise typer.Exit(2)
    project_dir = os.environ.get(PROJECT_DIR_ENV)
    raise typer.Exit(run(chosen, Path(project_dir).resolve() if project_dir else None))


def register(root: typer.Typer) -> None:
    """Mount ``cruddur plan`` on the root CLI (``ops/cli.py``)."""
    root.command("plan")(plan)
