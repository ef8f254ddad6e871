"""``cruddur cost estimate STACK`` and ``cruddur cost diff BASE.json HEAD.json``; the cost tables ``cruddur plan``
prints too.

The estimate itself is ``ops.offline.cost`` (pure, the price files in ``ops/offline/prices/``). Here: the Rich
tables (fixed lines and the ``fixed: $X.XX/month`` line, usage lines with their assumptions, free tiers, unpriced
resources), the assumption flags shared with ``cruddur plan``, the JSON file CI compares, and the markdown of a
comparison for a pull request's comment. ``--tree DIR`` estimates another checkout's stack (a pull request's base)
with this checkout's estimator and prices, in a fresh process (``ops.offline.cost_tree``).
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ops.cli.console import out
from ops.errors import CruddurError
from ops.offline.cost import Assumptions, CostError, Estimate, usd
from ops.offline.cost_diff import diff_markdown

PANEL = "Cost assumptions (usage lines)"


def _option(flag: str, help_text: str):
    return typer.Option(flag, min=0, rich_help_panel=PANEL, help=help_text)


MauOption = Annotated[int, _option("--mau", "Cognito monthly active users.")]
DataGbOption = Annotated[float, _option("--data-gb", "GB of database data held in backups and snapshots.")]
LogGbOption = Annotated[float, _option("--log-gb", "GB of CloudWatch Logs ingested a month (all log groups).")]
TrailEventsOption = Annotated[int, _option("--trail-events", "CloudTrail management events a month.")]
OtherTrailsOption = Annotated[int, _option(
    "--other-trails", "Trails already recording management events in the account (this one is then a paid copy).")]
InvocationsOption = Annotated[int, _option("--lambda-invocations", "Lambda invocations a month, all functions.")]
LambdaMsOption = Annotated[int, _option("--lambda-ms", "Average Lambda invocation duration in milliseconds.")]
SnsOption = Annotated[int, _option("--sns-publishes", "Messages published to the stack's SNS topics a month.")]
SqsOption = Annotated[int, _option("--sqs-requests", "Requests to the stack's SQS queues a month.")]
EndpointGbOption = Annotated[float, _option("--endpoint-gb", "GB through the interface endpoints a month.")]
S3GbOption = Annotated[float, _option("--s3-gb", "GB held in the stack's S3 buckets.")]
RestoreHoursOption = Annotated[float, _option(
    "--restore-hours", "Hours a restore test's copy runs before its validation window starts.")]
OtherBudgetsOption = Annotated[int, _option(
    "--other-budgets", "Budgets the account already has (they use up the free ones).")]
CostJsonOption = Annotated[Path | None, typer.Option(
    "--cost-json", show_default=False, dir_okay=False, help="Also write the cost estimate to this JSON file (for CI).")]

D = Assumptions()


def assumptions_from(mau: int, data_gb: float, log_gb: float, trail_events: int, other_trails: int,
                     lambda_invocations: int, lambda_ms: int, sns_publishes: int, sqs_requests: int,
                     endpoint_gb: float, s3_gb: float, restore_hours: float, other_budgets: int) -> Assumptions:
    def dec(value: float) -> Decimal:  # 2.0 -> Decimal(2): assumptions read "2 GB", not "2.0 GB"
        return Decimal(int(value)) if float(value).is_integer() else Decimal(str(value))

    return Assumptions(monthly_active_users=mau, data_gb=dec(data_gb), log_gb=dec(log_gb), trail_events=trail_events,
                       other_trails=other_trails, lambda_invocations=lambda_invocations, lambda_ms=lambda_ms,
                       sns_publishes=sns_publishes, sqs_requests=sqs_requests, endpoint_gb=dec(endpoint_gb),
                       s3_gb=dec(s3_gb), restore_hours=dec(restore_hours), other_budgets=other_budgets)


# -- output ---------------------------------------------------------------------------------------------------------
def _qty(value: Decimal) -> str:
    if value == value.to_integral_value():
        return f"{value:,.0f}"
    if abs(value) < 1:
        return f"{value:.4g}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _unit_price(value: Decimal) -> str:
    text = f"{value:f}"
    return "$" + (text.rstrip("0").rstrip(".") if "." in text else text)


def fixed_table(estimate: Estimate) -> Table:
    table = Table(title=f"Fixed monthly cost ({estimate.region}, prices: {estimate.price_file})",
                  title_justify="left")
    for name, justify in (("Item", "left"), ("Quantity", "right"), ("Unit", "left"), ("Unit price", "right"),
                          ("USD/month", "right"), ("Resource", "left")):
        table.add_column(name, justify=justify, no_wrap=name != "Item")
    for line in estimate.lines:
        table.add_row(Text(line.item), _qty(line.quantity), line.unit, _unit_price(line.unit_usd),
                      f"{line.monthly_usd:,.2f}", Text(line.resource))
    for u in estimate.unpriced:
        table.add_row(Text(f"{u.type}: {u.reason}"), "", "", "", Text("unpriced", style="bold yellow"),
                      Text(u.resource))
    return table


def usage_table(estimate: Estimate) -> Table:
    table = Table(title="Usage (under the assumptions; free tiers not subtracted)", title_justify="left")
    for name, justify in (("Item", "left"), ("Assumption", "left"), ("Quantity", "right"), ("Unit", "left"),
                          ("Unit price", "right"), ("USD/month", "right")):
        table.add_column(name, justify=justify)
    for line in estimate.usage:
        table.add_row(Text(line.item), Text(line.assumption), _qty(line.quantity), line.unit,
                      _unit_price(line.unit_usd), f"{line.monthly_usd:,.2f}")
    return table


def print_estimate(estimate: Estimate) -> None:
    out.print(fixed_table(estimate))
    out.print(Text(estimate.fixed_line(), style="bold"))
    if estimate.unpriced:
        out.print(Text(f"unpriced: {len(estimate.unpriced)} resource(s) with a charge the estimate does not "
                       "include (listed above)", style="yellow"))
    out.print(usage_table(estimate))
    out.print(f"usage: {usd(estimate.usage_total)}/month under these assumptions")
    if estimate.free_tiers:
        out.print("Free tiers (per account, listed, not subtracted):")
        for tier in estimate.free_tiers:
            out.print(Text(f"  - {tier}"))
    for note in estimate.notes:
        out.print(Text(f"note: {note}"))
    if estimate.unconfirmed_prices:
        out.print(Text(f"{len(estimate.unconfirmed_prices)} price(s) not confirmed against AWS "
                       f"(see their notes in {estimate.price_file}); `cruddur prices refresh --region "
                       f"{estimate.region}` reads the Price List Query API", style="dim"))


def write_json(estimate: Estimate, path: Path) -> None:
    try:
        path.write_text(json.dumps(estimate.to_dict(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise CruddurError(f"cannot write {path}: {exc.strerror or exc}") from None


# -- commands -------------------------------------------------------------------------------------------------------
cost_app = typer.Typer(help="Monthly cost of a stack: estimate it offline, compare two estimates.",
                       no_args_is_help=True)


@cost_app.command("estimate")
def estimate_cmd(
    stack: Annotated[str, typer.Argument(help="The stack: its committed Pulumi.<stack>.yaml.")],
    tree: Annotated[Path | None, typer.Option(
        "--tree", show_default=False, file_okay=False,
        help="Estimate this other checkout's stack (e.g. a pull request's base) with this checkout's prices.")] = None,
    json_file: Annotated[Path | None, typer.Option(
        "--json", show_default=False, dir_okay=False, help="Write the estimate to this JSON file.")] = None,
    mau: MauOption = D.monthly_active_users, data_gb: DataGbOption = float(D.data_gb),
    log_gb: LogGbOption = float(D.log_gb), trail_events: TrailEventsOption = D.trail_events,
    other_trails: OtherTrailsOption = D.other_trails, lambda_invocations: InvocationsOption = D.lambda_invocations,
    lambda_ms: LambdaMsOption = D.lambda_ms, sns_publishes: SnsOption = D.sns_publishes,
    sqs_requests: SqsOption = D.sqs_requests, endpoint_gb: EndpointGbOption = float(D.endpoint_gb),
    s3_gb: S3GbOption = float(D.s3_gb), restore_hours: RestoreHoursOption = float(D.restore_hours),
    other_budgets: OtherBudgetsOption = D.other_budgets,
) -> None:
    """Offline cost estimate of a stack: fixed lines, usage under the assumptions, free tiers (no AWS call)."""
    assumptions = assumptions_from(mau, data_gb, log_gb, trail_events, other_trails, lambda_invocations, lambda_ms,
                                   sns_publishes, sqs_requests, endpoint_gb, s3_gb, restore_hours, other_budgets)
    try:
        if tree is not None:
            from ops.offline.cost_tree import estimate_tree

            document = estimate_tree(tree, stack, assumptions)
            result = None
        else:
            result = _estimate_here(stack, assumptions)
            document = result.to_dict()
    except CostError as exc:
        raise CruddurError(f"cost of stack '{stack}': {exc}") from None
    if json_file is not None:
        try:
            json_file.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise CruddurError(f"cannot write {json_file}: {exc.strerror or exc}") from None
    if result is not None:
        print_estimate(result)
    else:
        out.print(f"fixed: {usd(Decimal(str(document['fixed']['total_usd'])))}/month")


def _estimate_here(stack: str, assumptions: Assumptions) -> Estimate:
    from components.settings import ConfigError
    from ops.offline.cost import estimate
    from ops.offline.stack_eval import StackFileError, evaluate
    from ops.paths import PROJECT_ROOT, program_dir

    try:
        evaluation = evaluate(stack, project_dir=program_dir() or PROJECT_ROOT)
    except StackFileError as exc:
        raise CostError(str(exc)) from None
    except ConfigError as exc:
        raise CostError(f"bad configuration: {'; '.join(exc.problems)}") from None
    return estimate(evaluation.resources, evaluation.outputs, evaluation.config.get("aws:region", ""), assumptions,
                    stack=stack)


def _load(path: Path) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document["fixed"]["lines"], list):
            raise TypeError("fixed.lines")
        Decimal(str(document["fixed"]["total_usd"]))
        Decimal(str(document["usage"]["total_usd"]))
    except OSError as exc:
        raise CruddurError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError, ArithmeticError):
        raise CruddurError(f"{path} is not a cost estimate (write one with `cruddur plan STACK --cost-json "
                           f"{path.name}`)") from None
    return document


@cost_app.command("diff")
def diff_cmd(
    base: Annotated[Path, typer.Argument(dir_okay=False, help="The base branch's estimate (JSON).")],
    head: Annotated[Path, typer.Argument(dir_okay=False, help="The pull request's estimate (JSON).")],
    title: Annotated[str | None, typer.Option("--title", show_default=False,
                                               help="Heading (default: the head's stack name).")] = None,
) -> None:
    """Markdown of what changed between two estimates: fixed lines added, removed or changed, totals, delta."""
    sys.stdout.write(diff_markdown(_load(base), _load(head), title or ""))


def register(root: typer.Typer) -> None:
    """Mount ``cruddur cost`` on the root CLI (``ops/cli/__init__.py``)."""
    root.add_typer(cost_app, name="cost")
