"""Markdown of what a change does to a stack's monthly cost: two ``Estimate.to_dict()`` documents (a pull request's
base and head) compared line by line (``cruddur cost diff BASE.json HEAD.json``, the pull request's cost comment).
Lines match by resource and what they charge for (``kind``), so a new instance class shows as one changed line."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ops.offline.cost import money, usd


def _key(line: dict) -> tuple[str, str]:
    return (line["resource"], line.get("kind") or line["item"])


def diff_markdown(base: dict, head: dict, title: str = "") -> str:
    """Markdown for a pull request: the fixed total before and after, and every fixed line added, removed or
    changed (by resource and item), from two ``Estimate.to_dict()`` documents."""
    def dec(value: Any) -> Decimal:
        return money(Decimal(str(value)))

    base_lines = {_key(x): x for x in base["fixed"]["lines"]}
    head_lines = {_key(x): x for x in head["fixed"]["lines"]}
    rows = []
    for key in list(base_lines) + [k for k in head_lines if k not in base_lines]:
        before, after = base_lines.get(key), head_lines.get(key)
        b = dec(before["monthly_usd"]) if before else Decimal("0.00")
        a = dec(after["monthly_usd"]) if after else Decimal("0.00")
        if before and after and a == b:
            continue
        change = "added" if before is None else "removed" if after is None else "changed"
        item = (after or before)["item"]
        if before and after and before["item"] != item:
            item = f"{before['item']} -> {item}"
        rows.append(f"| {change} | `{key[0]}` | {item} | {_cell(before, b)} | {_cell(after, a)} | "
                    f"{_signed(a - b)} |")
    base_total, head_total = dec(base["fixed"]["total_usd"]), dec(head["fixed"]["total_usd"])
    name = title or head.get("stack") or "stack"
    out = [f"#### {name} ({head.get('region', '?')})", "",
           f"fixed: {usd(base_total)}/month -> {usd(head_total)}/month ({_signed(head_total - base_total)}/month)",
           ""]
    if rows:
        out += ["| change | resource | item | base $/month | head $/month | delta |",
                "| --- | --- | --- | ---: | ---: | ---: |", *rows]
    else:
        out.append(f"No fixed line changed ({len(head_lines)} lines).")
    unpriced = head.get("unpriced") or []
    if unpriced:
        out += ["", f"Unpriced in head ({len(unpriced)}): " + "; ".join(
            f"`{u['resource']}` ({u['type']}): {u['reason']}" for u in unpriced)]
    usage_b, usage_h = dec(base["usage"]["total_usd"]), dec(head["usage"]["total_usd"])
    if usage_b != usage_h:
        out += ["", f"usage under the default assumptions: {usd(usage_b)}/month -> {usd(usage_h)}/month "
                    f"({_signed(usage_h - usage_b)}/month)"]
    return "\n".join(out) + "\n"


def _cell(line: dict | None, value: Decimal) -> str:
    return "" if line is None else f"{value:,.2f}"


def _signed(value: Decimal) -> str:
    value = money(value)
    return f"+${value:,.2f}" if value >= 0 else f"-${-value:,.2f}"
