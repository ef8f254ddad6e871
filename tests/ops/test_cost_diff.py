"""A pull request's cost change: two estimates compared as markdown (`cruddur cost diff`), and the base estimated
from another checkout's tree with this checkout's estimator (`cruddur cost estimate --tree`), offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ops.cli import app
from ops.offline.cost import Assumptions, estimate
from ops.offline.cost_diff import diff_markdown
from ops.offline.stack_eval import evaluate
from ops.paths import PROJECT_ROOT
from tests.components.conftest import dev, prod  # noqa: F401 - the committed stacks' evaluations


def cli(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"}, prog_name="cruddur")


def estimate_of(evaluation) -> dict:
    return estimate(evaluation.resources, evaluation.outputs, "eu-west-1", stack=evaluation.stack).to_dict()


FULL = {"restoreDrill": True, "dashboard": True}  # dev with the optional parts on


@pytest.fixture(scope="module")
def dev_full():
    return evaluate("dev", overrides=FULL)


@pytest.fixture(scope="module")
def small() -> dict:
    return estimate_of(evaluate("dev", overrides={**FULL, "instanceClass": "db.t4g.small"}))


def test_diff_lists_changed_lines_and_the_totals(dev_full, small):
    dev = dev_full  # noqa: F811 - here dev has its optional parts on
    head = estimate_of(dev)
    (arn,) = dev.one("aws:backup/restoreTestingSelection:RestoreTestingSelection").props["protectedResourceArns"]

    def line(document: dict, kind: str) -> dict:
        (found,) = [x for x in document["fixed"]["lines"] if x["kind"] == kind]
        return found

    rows = []
    for kind, resource in (("rds instance", "db-instance"), (f"restore test instance {arn}",
                                                             "restore-drill-restore-testing")):
        before, after = line(small, kind), line(head, kind)
        delta = after["monthly_usd"] - before["monthly_usd"]
        rows.append(f"| changed | `{resource}` | {before['item']} -> {after['item']} | {before['monthly_usd']:.2f} | "
                    f"{after['monthly_usd']:.2f} | -${-delta:.2f} |")
    base_total, head_total = small["fixed"]["total_usd"], head["fixed"]["total_usd"]
    delta = head_total - base_total
    text = diff_markdown(small, head).splitlines()
    assert text[:6] == [
        "#### dev (eu-west-1)",
        "",
        f"fixed: ${base_total:,.2f}/month -> ${head_total:,.2f}/month (-${-delta:,.2f}/month)",
        "",
        "| change | resource | item | base $/month | head $/month | delta |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    assert sorted(text[6:]) == sorted(rows)  # in the stack's declaration order
    assert rows[0].startswith("| changed | `db-instance` | RDS db.t4g.small (Single-AZ) -> RDS db.t4g.micro "
                              "(Single-AZ) |")
    assert "Restore test: db.t4g.small copy (4.35 runs x 5 h) -> Restore test: db.t4g.micro copy" in rows[1]


def test_added_and_removed_lines_and_no_change(dev_full):
    head = estimate_of(dev_full)
    base = json.loads(json.dumps(head))
    dashboard = next(x for x in base["fixed"]["lines"] if x["kind"] == "CloudWatch dashboard")
    base["fixed"]["lines"].remove(dashboard)
    base["fixed"]["lines"].append({**dashboard, "resource": "old-dashboard"})
    text = diff_markdown(base, head, title="dev stack")
    assert text.startswith("#### dev stack (eu-west-1)\n")
    assert "| removed | `old-dashboard` | CloudWatch dashboard | 3.00 |  | -$3.00 |" in text
    assert "| added | `monitoring-dashboard` | CloudWatch dashboard |  | 3.00 | +$3.00 |" in text
    assert f"No fixed line changed ({len(head['fixed']['lines'])} lines)." in diff_markdown(head, head)
    assert "(+$0.00/month)" in diff_markdown(head, head)


def test_cost_diff_command_prints_the_markdown_and_names_a_bad_file(tmp_path, dev, small):  # noqa: F811
    base, head = tmp_path / "base.json", tmp_path / "head.json"
    base.write_text(json.dumps(small))
    head.write_text(json.dumps(estimate_of(dev)))
    result = cli("cost", "diff", str(base), str(head), "--title", "dev")
    assert result.exit_code == 0, result.output
    assert result.stdout == diff_markdown(small, estimate_of(dev), "dev")
    (tmp_path / "bad.json").write_text('{"fixed": {}}')
    result = cli("cost", "diff", str(tmp_path / "bad.json"), str(head))
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: {tmp_path / 'bad.json'} is not a cost estimate (write one with "
                                     "`cruddur plan STACK --cost-json bad.json`)")


def test_estimate_of_another_tree_uses_that_trees_components(tmp_path, prod):  # noqa: F811
    """The base's program, components included (a changed validation window), with this checkout's prices."""
    tree = tmp_path / "base"
    tree.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "__main__.py"):
        shutil.copy(PROJECT_ROOT / name, tree / name)
    for folder in ("components", "lambda", "sql"):
        shutil.copytree(PROJECT_ROOT / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__"))
    drill = tree / "components" / "restore_drill.py"
    assert "VALIDATION_WINDOW_HOURS = 4\n" in drill.read_text()
    drill.write_text(drill.read_text().replace("VALIDATION_WINDOW_HOURS = 4\n", "VALIDATION_WINDOW_HOURS = 2\n"))
    out = tmp_path / "base.json"
    result = cli("cost", "estimate", "prod", "--tree", str(tree), "--json", str(out))
    assert result.exit_code == 0, result.output
    base = json.loads(out.read_text())
    here = estimate_of(prod)
    assert result.stdout.strip() == f"fixed: ${base['fixed']['total_usd']:,.2f}/month"
    copy = {x["kind"]: x for x in base["fixed"]["lines"]}
    ours = {x["kind"]: x for x in here["fixed"]["lines"]}
    kind = "restore test instance arn:aws:rds:eu-west-1:123456789012:db:cruddur-prod-db"
    assert copy[kind]["quantity"] == pytest.approx(730 / 168 * (1 + 2))  # 1 h restore + the tree's 2 h window
    assert ours[kind]["quantity"] == pytest.approx(730 / 168 * (1 + 4))
    assert base["price_file"] == "ops/offline/prices/eu-west-1.json"
    assert base["assumptions"] == Assumptions().to_dict()


def test_estimate_of_a_tree_without_the_stack_is_one_line(tmp_path):
    tree = tmp_path / "base"
    tree.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(PROJECT_ROOT / name, tree / name)
    result = cli("cost", "estimate", "dev", "--tree", str(tree))
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: cost of stack 'dev': stack 'dev' of {tree}: no stack file "
                                     "Pulumi.dev.yaml; known stacks: none")
    result = cli("cost", "estimate", "dev", "--tree", str(Path(tmp_path)))
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: cost of stack 'dev': {tmp_path} is not a checkout of the program "
                                     "(no Pulumi.yaml and __main__.py)")
