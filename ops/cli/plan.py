"""``cruddur plan -s STACK`` (``./dev plan STACK``): what a stack will build, every policy's verdict and what it will
cost a month, offline.

The verdicts come from ``ops.offline.verdicts.build_plan`` (the real ``__main__.py`` evaluated under the mocks, every
policy of the pack run on it); this module prints the resource tree (type, name, parent), a verdict per policy, then
the cost estimate of the same evaluation (``ops.offline.cost``: the fixed lines and ``fixed: $X.XX/month``, usage
lines under the assumption flags, free tiers; ``--cost-json FILE`` writes it for CI). It exits 1 when any MANDATORY
policy is violated, 2 when the stack cannot be evaluated (unknown stack, bad configuration) or ``--cost-json`` was
asked for and the estimate cannot be made (e.g. no price file for the region), 0 otherwise; without ``--cost-json``
an estimate that cannot be made is one line on stderr and leaves the exit status to the verdicts.
``CRUDDUR_PROJECT_DIR`` points it at another copy of the project (its ``Pulumi.yaml``,
stack files and ``__main__.py``); the policies always come from this checkout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from ops.cli import cost as cost_cli
from ops.cli.console import out
from ops.offline.cost import Assumptions, CostError
from ops.offline.cost import estimate as cost_estimate
from ops.offline.stack_eval import Evaluation, StackFileError
from ops.offline.verdicts import PlanResult, build_plan
from ops.paths import program_dir

D = Assumptions()


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


def run(stack: str, project_dir: Path | None = None, assumptions: Assumptions | None = None,
        cost_json: Path | None = None) -> int:
    """Plan ``stack``, print the tables, the summary and the cost estimate, and return the exit status (0, 1 or 2)."""
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
    evaluation = result.evaluation
    try:
        estimate = cost_estimate(evaluation.resources, evaluation.outputs, evaluation.config.get("aws:region", ""),
                                 assumptions, stack=stack)
    except CostError as exc:
        print(f"cruddur plan: stack '{stack}': no cost estimate: {exc}", file=sys.stderr)
        return 2 if cost_json is not None else result.exit_code
    cost_cli.print_estimate(estimate)
    if cost_json is not None:
        cost_cli.write_json(estimate, cost_json)
    return result.exit_code


def plan(
    stack_name: str | None = typer.Argument(None, metavar="[STACK]", show_default=False,
                                               help="The stack to plan (same as -s)."),
    stack: str | None = typer.Option(None, "-s", "--stack", show_default=False,
                                        help="The stack to plan: its committed Pulumi.<stack>.yaml."),
    cost_json: cost_cli.CostJsonOption = None,
    mau: cost_cli.MauOption = D.monthly_active_users, data_gb: cost_cli.DataGbOption = float(D.data_gb),
    log_gb: cost_cli.LogGbOption = float(D.log_gb), trail_events: cost_cli.TrailEventsOption = D.trail_events,
    other_trails: cost_cli.OtherTrailsOption = D.other_trails,
    lambda_invocations: cost_cli.InvocationsOption = D.lambda_invocations,
    lambda_ms: cost_cli.LambdaMsOption = D.lambda_ms, sns_publishes: cost_cli.SnsOption = D.sns_publishes,
    sqs_requests: cost_cli.SqsOption = D.sqs_requests, endpoint_gb: cost_cli.EndpointGbOption = float(D.endpoint_gb),
    s3_gb: cost_cli.S3GbOption = float(D.s3_gb), restore_hours: cost_cli.RestoreHoursOption = float(D.restore_hours),
    other_budgets: cost_cli.OtherBudgetsOption = D.other_budgets,
) -> None:
    """Offline plan: a stack's resources, every policy's verdict and its monthly cost (no AWS credentials, no Pulumi CLI).

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
    assumptions = cost_cli.assumptions_from(mau, data_gb, log_gb, trail_events, other_trails, lambda_invocations,
                                            lambda_ms, sns_publishes, sqs_requests, endpoint_gb, s3_gb, restore_hours,
                                            other_budgets)
    raise typer.Exit(run(chosen, program_dir(), assumptions, cost_json))


def register(root: typer.Typer) -> None:
    """Mount ``cruddur plan`` on the root CLI (``ops/cli/__init__.py``)."""
    root.command("plan")(plan)
