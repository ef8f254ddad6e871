"""``cruddur plan -s STACK`` (``./dev plan STACK``): what a stack will build and every policy's verdict, offline.

The verdicts come from ``ops.offline.verdicts.build_plan`` (the real ``__main__.py`` evaluated under the mocks, every
policy of the pack run on it); this module prints the resource tree (type, name, parent) and a verdict per policy,
and exits 1 when any MANDATORY policy is violated, 2 when the stack cannot be evaluated (unknown stack, bad
configuration), 0 otherwise. ``CRUDDUR_PROJECT_DIR`` points it at another copy of the project (its ``Pulumi.yaml``,
stack files and ``__main__.py``); the policies always come from this checkout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from ops.cli.console import out
from ops.offline.stack_eval import Evaluation, StackFileError
from ops.offline.verdicts import PlanResult, build_plan
from ops.paths import program_dir


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


def run(stack: str, project_dir: Path | None = None) -> int:
    """Plan ``stack``, print the tables and the summary, and return the exit status (0, 1 or 2)."""
    from components.settings import ConfigError

    try:
        result = build_plan(stack, project_dir)
    except StackFileError as exc:
        print(f"cruddur plan: stack '{stack}': {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"cruddur plan: stack '{stack}' has bad configuration: {'; '.join(exc.problems)}", file=sys.stderr)
        return 2
    out.print(resource_table(result.evaluation))
    out.print(verdict_table(result))
    out.print(Text(summary(result), style="bold red" if result.exit_code else "bold green"))
    return result.exit_code


def plan(
    stack_name: str | None = typer.Argument(None, metavar="[STACK]", show_default=False,
                                               help="The stack to plan (same as -s)."),
    stack: str | None = typer.Option(None, "-s", "--stack", show_default=False,
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
    raise typer.Exit(run(chosen, program_dir()))


def register(root: typer.Typer) -> None:
    """Mount ``cruddur plan`` on the root CLI (``ops/cli/__init__.py``)."""
    root.command("plan")(plan)
