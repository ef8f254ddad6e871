"""The cost rule: what the stack declares, priced, stays within the AWS Budgets budget it declares.

The estimate is ``ops/offline/cost.py``'s, the one ``cruddur plan`` prints: ``policy/cost.py`` and ``policy/prices``
are git symlinks to it and its price files, so the pack, which runs in its own virtualenv where ``ops`` cannot be
imported, reads the same files (the estimator needs only the standard library). It is priced over the resources'
outputs (what the engine passes a stack policy) in the region of their AWS provider, with the stack's outputs (the
root ``pulumi:pulumi:Stack`` resource's props) for the database's run schedule, under the estimate's default
assumptions (only the fixed lines count here, and none of them depends on traffic).

Values not known at preview follow the pack's rule (never a violation, judged when known): a value not known yet
stands in the estimate as a marker that stops it the moment the estimate reads it, so the rule is undecided only
when the estimate actually depends on something unknown (an instance class, the budget's limit); ARNs and ids that
no price depends on do not keep the rule from judging a preview.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import cost

from .constants import AWS_PROVIDER, BUDGET, MONTHLY_BUDGET_KEY, STACK
from .environment import stack_name_from_urn
from .props import UNKNOWN, known, plain, short_type
from .registry import stack_rule

PRICES_DIR = Path(cost.__file__).resolve().parent / "prices"
DECLARE_THE_BUDGET = (f"declare the budget: {MONTHLY_BUDGET_KEY} (cruddur-db:{MONTHLY_BUDGET_KEY} in the stack "
                      "file; components/budget.py declares the aws.budgets.Budget from it)")
LARGEST_SHOWN = 2  # fixed lines named in a violation, largest first


class _Undecided(Exception):
    """The estimate read a value that is not known yet (preview)."""


class _NotKnownYet(str):
    """A value not known at preview, as the estimate sees it: a string (so that the estimate's number and text
    readers take it) whose every use (text, truth, comparison, hash, iteration...) raises ``_Undecided``."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise _Undecided

    def __getattribute__(self, name: str) -> Any:  # its str methods (.strip(), .lower()...) too
        raise _Undecided


for _dunder in ("__str__", "__repr__", "__format__", "__bool__", "__len__", "__iter__", "__getitem__",
                "__contains__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__add__",
                "__radd__", "__mul__", "__rmul__", "__mod__", "__rmod__", "__float__", "__int__", "__index__"):
    setattr(_NotKnownYet, _dunder, _NotKnownYet._refuse)


def _for_estimate(value: Any) -> Any:
    """Plain props with each unknown replaced by a ``_NotKnownYet`` marker."""
    if value is UNKNOWN:
        return _NotKnownYet()
    if isinstance(value, dict):
        return {k: _for_estimate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_for_estimate(v) for v in value]
    return value


def _dollars(amount: Decimal) -> str:
    """``$50``, ``$50.50``, ``$1,200``."""
    return f"${amount:,.0f}" if amount == amount.to_integral_value() else cost.usd(amount)


def _region_of(resource: Any, default: Any) -> Any:
    provider = getattr(resource, "provider", None)
    if provider is not None and getattr(provider, "resource_type", None) == AWS_PROVIDER:
        props = plain(provider.props)
        region = props.get("region") if isinstance(props, dict) else None
        if region is not None:
            return region
    return default


def _stack_region(args) -> Any:
    """The one region of the stack's AWS providers; UNKNOWN when one is not known yet, None when none pins one."""
    regions = []
    for resource in args.resources:
        if resource.resource_type == AWS_PROVIDER:
            props = plain(resource.props)
            regions.append(props.get("region") if isinstance(props, dict) else None)
    if any(not known(r) for r in regions):
        return UNKNOWN
    named = sorted({r for r in regions if isinstance(r, str) and r})
    return named[0] if len(named) == 1 else None


def _estimates(args, outputs: dict) -> list[cost.Estimate]:
    """The estimate of each region's resources (one region for this project's stacks); ``_Undecided`` when a value
    it reads is not known yet, ``cost.CostError`` when it cannot be made."""
    default = _stack_region(args)
    by_region: dict[Any, list[dict]] = {}
    for resource in args.resources:
        props = plain(resource.props)
        if not resource.resource_type.startswith("aws:") or not isinstance(props, dict):
            continue
        region = _region_of(resource, default)
        if not known(region):
            raise _Undecided
        by_region.setdefault(region, []).append(
            {"type": resource.resource_type, "name": resource.name, "props": _for_estimate(props), "custom": True})
    estimates = []
    for region, resources in sorted(by_region.items(), key=lambda item: str(item[0])):
        if not isinstance(region, str) or not region:
            names = ", ".join(f"{short_type(r['type'])} '{r['name']}'" for r in resources[:3])
            raise cost.CostError(f"no AWS provider pins the region of {names}; set aws:region in the stack file")
        estimates.append(cost.estimate(resources, outputs, region, prices_dir=PRICES_DIR))
    return estimates


def _stack_outputs(args) -> dict:
    """The stack outputs the estimate reads (the database's run schedule), from the root Stack resource."""
    for resource in args.resources:
        if resource.resource_type == STACK:
            props = plain(resource.props)
            if isinstance(props, dict) and cost.SCHEDULE_OUTPUT in props:
                return {cost.SCHEDULE_OUTPUT: _for_estimate(props[cost.SCHEDULE_OUTPUT])}
    return {}


def _limit(budget: Any, p: dict) -> tuple[Decimal | None, list[str]]:
    """(the budget's monthly USD limit, problems); (None, []) when it is not known yet."""
    label = f"budgets Budget '{budget.name}'"
    amount, unit, period = p.get("limitAmount"), p.get("limitUnit"), p.get("timeUnit")
    budget_type = p.get("budgetType")
    if not all(known(v) for v in (amount, unit, period, budget_type)):
        return None, []
    if budget_type != "COST" or period != "MONTHLY" or unit != "USD":
        return None, [f"{label} is a {budget_type} budget of {amount} {unit} {period}, not a monthly cost budget in "
                      f"USD; {DECLARE_THE_BUDGET}"]
    try:
        limit = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        limit = Decimal("NaN")
    if not limit.is_finite() or limit <= 0:
        return None, [f"{label} has limit_amount {amount!r}, not an amount in USD; {DECLARE_THE_BUDGET}"]
    return limit, []


def _over(total: Decimal, limit: Decimal, estimates: list[cost.Estimate], stack: str) -> str:
    lines = sorted((line for e in estimates for line in e.lines), key=lambda line: line.monthly_usd, reverse=True)
    largest = " and ".join(f"{line.item} {cost.usd(line.monthly_usd)} on {line.resource}"
                           for line in lines[:LARGEST_SHOWN])
    return (f"estimated fixed cost {cost.usd(total)}/month is above the budget {_dollars(limit)}/month "
            f"({MONTHLY_BUDGET_KEY}); raise cruddur-db:{MONTHLY_BUDGET_KEY} to at least "
            f"{total.to_integral_value(rounding=ROUND_CEILING)} or cut the fixed cost: its largest lines are {largest} "
            f"(`cruddur plan {stack}` lists every line)")


@stack_rule("cost-within-budget", reads=(BUDGET,),
            description="The stack declares its AWS Budgets budget (cruddur-db:monthlyBudgetUsd) and its estimated "
                        "fixed monthly cost (ops/offline/cost.py over the stack's resources, the pack's copy and "
                        "price files) is not above the budget's limit_amount; a charge the estimate cannot price "
                        "is reported, never taken as $0.",
            practices=("cost",), prod_only=True,
            dev_reason="a dev stack over its budget is worth a warning, not a blocked deploy: its budget's alerts "
                       "still reach the alarm topic (cruddur-db:monthlyBudgetUsd).")
def cost_within_budget(args) -> list[str]:
    budgets = [(r, plain(r.props)) for r in args.resources if r.resource_type == BUDGET]
    if not budgets:
        return [f"the stack declares no AWS Budgets budget; {DECLARE_THE_BUDGET}"]
    limits, problems = [], []
    for budget, p in budgets:
        limit, found = _limit(budget, p if isinstance(p, dict) else {})
        problems += found
        if limit is not None:
            limits.append(limit)
    if problems or not limits:
        return problems  # nothing to compare with: wrong budgets reported, or a limit not known yet
    stack = next((n for r in args.resources if (n := stack_name_from_urn(getattr(r, "urn", None)))), "STACK")
    try:
        estimates = _estimates(args, _stack_outputs(args))
    except _Undecided:
        return []
    except cost.CostError as exc:
        return [f"cannot estimate the stack's fixed cost to compare it with its budget: {exc}; the pack prices with "
                "policy/cost.py and policy/prices/, links to ops/offline/'s estimator and price files"]
    unpriced = [u for e in estimates for u in e.unpriced]
    if unpriced:
        items = "; ".join(f"{short_type(u.type)} '{u.resource}' ({u.reason})" for u in unpriced)
        return [f"the estimate cannot price {items}; so it cannot show the stack within its budget: once priced "
                "(ops/offline/cost.py and its price files, which policy/cost.py and policy/prices link to)"]
    total = sum((e.fixed_total for e in estimates), Decimal("0.00"))
    return [_over(total, limit, estimates, stack) for limit in sorted(set(limits)) if total > limit]
