"""``cruddur plan`` end to end: the resource tree and the verdict table, and exit codes 0 (clean), 1 (a mandatory
policy violated), 2 (unknown stack, bad configuration)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ops.cli import app
from ops.offline.aws_mocks import mock_password
from ops.offline.cost import estimate
from ops.paths import PROJECT_DIR_ENV, PROJECT_ROOT
from tests.components.conftest import dev, prod  # noqa: F401 - the committed stacks' evaluations
from tests.policy.conftest import policies

PASSWORD = mock_password("db-master-password", 40)  # what the mocks generate; must never be printed


def plan(*args: str, project_dir: Path | None = None):
    env = {"COLUMNS": "250", PROJECT_DIR_ENV: str(project_dir) if project_dir else None}
    result = CliRunner().invoke(app, ["plan", *args], env=env, prog_name="cruddur")
    assert PASSWORD not in result.stdout and PASSWORD not in result.stderr
    return result


def rows(text: str) -> list[list[str]]:
    """The cells of every table row in Rich's output."""
    return [[cell.strip() for cell in line.strip().strip("│").split("│")] for line in text.splitlines()
            if line.startswith("│")]


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the project's program and config, to which a test adds a stack file."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("Pulumi.yaml", "__main__.py", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copy(PROJECT_ROOT / name, copy / name)
    return copy


def write_stack(project: Path, name: str, config: dict) -> None:
    (project / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))


def test_prod_plan_is_clean(prod):  # noqa: F811 - the imported fixture, requested by name
    result = plan("prod")
    assert result.exit_code == 0, result.output
    table = rows(result.stdout)
    resources = [r for r in table if len(r) == 3]
    verdicts = {r[0]: r[1:] for r in table if len(r) == 4}
    # Every declared resource, with its type and its parent's name.
    assert len(resources) == len(prod.resources)
    assert ["aws:cloudtrail/trail:Trail", "audit-trail", "audit"] in resources
    assert ["aws:kms/key:Key", "audit-key-key", "audit-key"] in resources
    assert ["cruddur:audit:Audit", "audit", "(stack)"] in resources
    assert ["aws:guardduty/detectorFeature:DetectorFeature", "audit-rds-protection", "audit"] in resources
    # A verdict for every policy; none violated.
    assert set(verdicts) == {r.name for r in policies.RULES}
    assert verdicts["rds-not-public"] == ["mandatory", "pass", ""]
    assert verdicts["rds-backup-retention-dev"] == ["advisory", "n/a", "dev stacks only; this is a prod stack"]
    assert verdicts["lambda-supported-runtime"][:2] == ["mandatory", "pass"]
    assert "violated" not in {v[1] for v in verdicts.values()}
    assert f"prod (prod): {len(prod.resources)} resources, {len(policies.RULES)} policies:" in result.stdout
    assert "0 mandatory violation(s), 0 advisory violation(s)" in result.stdout


def test_dev_plan_shows_advisories_and_exits_0():
    result = plan("-s", "dev")
    assert result.exit_code == 0, result.output
    verdicts = {r[0]: r[1:] for r in rows(result.stdout) if len(r) == 4}
    assert verdicts["rds-backup-retention-dev"][:2] == ["advisory", "violated"]
    assert "keeps 1 day(s) of automated backups" in verdicts["rds-backup-retention-dev"][2]
    assert verdicts["rds-backup-retention"][:2] == ["mandatory", "n/a"]
    assert "0 mandatory violation(s), 2 advisory violation(s)" in result.stdout


def test_stack_given_twice_must_agree():
    assert plan("dev", "-s", "dev").exit_code == 0
    result = plan("dev", "-s", "prod")
    assert result.exit_code == 2
    assert result.stderr.strip() == "cruddur plan: two different stacks given ('dev' and -s 'prod'); give one"


def test_missing_stack_name_exits_2():
    result = plan()
    assert result.exit_code == 2
    assert result.stderr.strip() == "cruddur plan: which stack? e.g. `cruddur plan -s dev`"


def test_unknown_stack_is_one_line_and_exit_2():
    result = plan("-s", "staging")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "cruddur plan: stack 'staging': no stack file Pulumi.staging.yaml; known stacks: dev, prod"]


def test_bad_configuration_is_one_line_and_exit_2(project_copy):
    write_stack(project_copy, "prodlike", {"aws:region": "eu-west-1", "cruddur-db:environment": "prod",
                                           "cruddur-db:backupRetentionDays": 3, "cruddur-db:guardDuty": False})
    result = plan("-s", "prodlike", project_dir=project_copy)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "cruddur plan: stack 'prodlike' has bad configuration: cruddur-db:backupRetentionDays = 3: prod needs at "
        "least 7 days of backups; cruddur-db:guardDuty = False: prod must keep GuardDuty with RDS Protection on "
        "(adopt an existing detector with guardDutyDetectorId)"]


def test_mandatory_violation_exits_1(project_copy):
    """Settings allow what the pack forbids: a stack that widens its own allowedRegions to leave the EU."""
    write_stack(project_copy, "useast-dev", {"aws:region": "us-east-1", "cruddur-db:environment": "dev",
                                         "cruddur-db:allowedRegions": ["us-east-1"]})
    result = plan("-s", "useast-dev", project_dir=project_copy)
    assert result.exit_code == 1, result.output
    verdicts = {r[0]: r[1:] for r in rows(result.stdout) if len(r) == 4}
    assert verdicts["region-allowed"][:2] == ["mandatory", "violated"]
    assert ("aws provider 'aws-pinned' is in us-east-1, outside the allowed regions (eu-west-1, eu-central-1); "
            "data must stay in them") in verdicts["region-allowed"][2]
    assert "1 mandatory violation(s)" in result.stdout
    # No price file for us-east-1: one line on stderr, the verdicts' exit status unchanged.
    assert result.stderr.splitlines() == [
        "cruddur plan: stack 'useast-dev': no cost estimate: no prices for region us-east-1: add "
        "ops/offline/prices/us-east-1.json (cruddur prices refresh --region us-east-1 writes it)"]
    assert "fixed:" not in result.stdout
    asked = plan("-s", "useast-dev", "--cost-json", str(project_copy / "cost.json"), project_dir=project_copy)
    assert asked.exit_code == 2  # the JSON CI asked for cannot be written
    assert not (project_copy / "cost.json").exists()


def _minimal_program(tmp_path: Path, source: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: cruddur-db\nruntime: python\n")
    (tmp_path / "Pulumi.prod.yaml").write_text("config:\n  aws:region: eu-west-1\n")
    (tmp_path / "__main__.py").write_text(source)
    return tmp_path


def test_a_resource_type_the_pack_does_not_know_exits_1(tmp_path):
    project = _minimal_program(tmp_path, "import pulumi_aws as aws\n"
                                         "aws.ec2.Eip('ip', domain='vpc')\n")
    result = plan("prod", project_dir=project)
    assert result.exit_code == 1, result.output
    verdicts = {r[0]: r[1:] for r in rows(result.stdout) if len(r) == 4}
    assert verdicts["resource-type-allowed"][:2] == ["mandatory", "violated"]
    assert "ec2 Eip 'ip' is of type aws:ec2/eip:Eip, which the pack has no rules for" in verdicts[
        "resource-type-allowed"][2]


def test_a_transform_the_mocks_cannot_apply_is_one_line_and_exit_2(tmp_path):
    project = _minimal_program(tmp_path, """import pulumi, pulumi_aws as aws
def keep(args):
    return pulumi.ResourceTransformResult(args.props, pulumi.ResourceOptions.merge(
        args.opts, pulumi.ResourceOptions(retain_on_delete=True)))
aws.kms.Key("k", enable_key_rotation=True, opts=pulumi.ResourceOptions(transforms=[keep]))
""")
    result = plan("prod", project_dir=project)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "cruddur plan: stack 'prod': cannot judge what the engine would deploy: aws:kms/key:Key 'k': a transform "
        "changes its retain_on_delete option(s), which the mocks cannot apply; judge it with `pulumi preview "
        "--policy-pack ./policy`, or express the change without a transform"]


def test_dev_script_plans_prod_on_the_installed_cli():
    """What a fresh clone runs: `./dev plan prod` -> the `cruddur` console script, in its own process."""
    cruddur = Path(sys.executable).with_name("cruddur")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PULUMI_"))}
    env.pop(PROJECT_DIR_ENV, None)
    done = subprocess.run([str(cruddur), "plan", "prod"], cwd="/", env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "prod (prod):" in done.stdout and "0 mandatory violation(s)" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr


FIXED_LINE = re.compile(r"^fixed: \$(\d[\d,]*\.\d\d)/month$")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_plan_prints_the_cost_after_the_verdicts_and_writes_it_as_json(stack, tmp_path, request):
    evaluation = request.getfixturevalue(stack)
    out = tmp_path / "cost.json"
    result = plan(stack, "--cost-json", str(out), "--mau", "2500")
    assert result.exit_code == 0, result.output
    text = result.stdout.splitlines()
    (fixed_at,) = [i for i, line in enumerate(text) if FIXED_LINE.match(line)]
    summary_at = next(i for i, line in enumerate(text) if line.startswith(f"{stack} ({stack}): "))
    assert summary_at < fixed_at  # after the resources, the verdicts and their summary
    expected = estimate(evaluation.resources, evaluation.outputs, "eu-west-1")
    assert text[fixed_at] == expected.fixed_line()
    fixed_rows = [r for r in rows("\n".join(text[:fixed_at])) if len(r) == 6]  # the table above the line
    usage_rows = [r for r in rows("\n".join(text[fixed_at:])) if len(r) == 6]
    assert len(fixed_rows) == len(expected.lines)
    assert sum(float(r[4].replace(",", "")) for r in fixed_rows) == pytest.approx(float(expected.fixed_total))
    assert ["RDS gp3 storage (" + ("Multi-AZ" if stack == "prod" else "Single-AZ") + ")"] == [
        r[0] for r in fixed_rows if r[0].startswith("RDS gp3")]
    assert ["Cognito monthly active users (essentials)", "2,500 MAU (--mau)", "2,500", "MAU", "$0.015",
            "37.50"] in usage_rows
    assert "Free tiers (per account, listed, not subtracted):" in text
    document = json.loads(out.read_text())
    assert document["stack"] == stack and document["region"] == "eu-west-1"
    assert f"fixed: ${document['fixed']['total_usd']:,.2f}/month" == text[fixed_at]
    assert document["assumptions"]["monthly_active_users"] == 2500
    print(f"{stack}: {text[fixed_at]}")  # the measured total, shown with -s


def test_plan_lists_unpriced_resources_in_the_cost_table(project_copy):
    """A class the price file does not list is an unpriced row, never $0 (db.m6g.large is a valid dev class)."""
    write_stack(project_copy, "devbig", {"aws:region": "eu-west-1", "cruddur-db:environment": "dev",
                                         "cruddur-db:instanceClass": "db.m6g.large", "cruddur-db:multiAz": False})
    result = plan("devbig", project_dir=project_copy)
    assert result.exit_code == 0, result.output
    unpriced = [r for r in rows(result.stdout) if len(r) == 6 and r[4] == "unpriced"]
    assert ["aws:rds/instance:Instance: instance class db.m6g.large: no price in eu-west-1.json (add "
            "rds.instance.db.m6g.large)", "", "", "", "unpriced", "db-instance"] in unpriced
    assert re.search(r"^unpriced: \d+ resource\(s\) with a charge the estimate does not include", result.stdout,
                     re.M)
