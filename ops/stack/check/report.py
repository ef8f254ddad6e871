"""The report of ``cruddur stack check``: text (one line per promise, grouped), JSON (``--json``) and a Markdown
table (``--markdown FILE``, e.g. $GITHUB_STEP_SUMMARY). Exit code 1 when a promise fails."""

from __future__ import annotations

import json
from collections import Counter

from ops.stack.check.result import FAIL, GROUPS, NOT_CHECKED, OK, STATUSES, Result

FAILED_EXIT = 1
WIDTH = max(len(s) for s in STATUSES)


def counts(results: list[Result]) -> dict[str, int]:
    found = Counter(r.status for r in results)
    return {status: found.get(status, 0) for status in STATUSES}


def summary(results: list[Result]) -> str:
    c = counts(results)
    return f"{c[OK]} ok, {c[FAIL]} FAIL, {c[NOT_CHECKED]} not checked"


def exit_code(results: list[Result]) -> int:
    return FAILED_EXIT if any(r.status == FAIL for r in results) else 0


def _grouped(results: list[Result]) -> list[tuple[str, list[Result]]]:
    return [(g, [r for r in results if r.group == g]) for g in GROUPS if any(r.group == g for r in results)]


def text(stack: str, results: list[Result]) -> str:
    lines = [f"stack {stack}: {summary(results)}"]
    for group, rows in _grouped(results):
        lines.append(group)
        for r in rows:
            label = {OK: "", FAIL: "fix: ", NOT_CHECKED: "why: "}[r.status]
            detail = f" - {label}{r.detail}" if r.detail else ""
            lines.append(f"  {r.status:<{WIDTH}}  {r.promise}{detail}")
    return "\n".join(lines) + "\n"


def as_json(stack: str, results: list[Result]) -> str:
    return json.dumps({"stack": stack, "ok": exit_code(results) == 0, "counts": counts(results),
                       "results": [r.as_dict() for r in results]}, indent=2) + "\n"


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def markdown(stack: str, results: list[Result]) -> str:
    icon = {OK: "✅ ok", FAIL: "❌ FAIL", NOT_CHECKED: "➖ not checked"}
    lines = [f"### cruddur stack check -s {stack}: {summary(results)}", "",
             "| group | promise | status | fix / why |", "| --- | --- | --- | --- |"]
    lines += [f"| {r.group} | {_cell(r.promise)} | {icon[r.status]} | {_cell(r.detail)} |" for r in results]
    return "\n".join(lines) + "\n"
