"""`cruddur stack check -s STACK` end to end: the outputs from a fake `pulumi` (tests/ops/conftest.py), the stack in
moto (tests/ops/stack_check_support.py), the report as text, JSON and a Markdown table, the exit code, the progress
on stderr, and never a password on either stream."""

from __future__ import annotations

import json

import pytest

from ops.stack.check.result import GROUPS
from tests.ops.stack_check_support import APP_PASSWORD, MASTER_PASSWORD, build, client


@pytest.fixture
def deployed(fake_pulumi, secrets):
    """The healthy dev stack in moto, and the fake `pulumi` printing its outputs."""
    stack = build()
    (fake_pulumi / "dev.json").write_text(json.dumps(stack.outputs))
    secrets += [MASTER_PASSWORD, APP_PASSWORD]
    return stack


def test_a_stack_that_keeps_its_promises_exits_0(cli, deployed):
    result = cli("stack", "check", "-s", "dev", "-g", "network", "-g", "sign-up")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "stack dev: 4 ok, 0 FAIL, 0 not checked",
        "sign-up",
        f"  ok           the user pool's post-confirmation trigger is this stack's function - {deployed.ids['pool']} -> "
        "cruddur-dev-post-confirmation-3f9a1c2",
        "  ok           the sign-up function had no errors and no throttles in the last 24 hours - 0 errors, 0 "
        "throttles in 24 h",
        "network",
        "  ok           no security group of the stack admits 0.0.0.0/0 or ::/0 - 3 groups, none open to the world",
        "  ok           the instance is in the stack's private subnets, which have no route out - 2 private subnets, "
        "no route out",
    ]
    # progress on stderr: what is being checked, group by group (a terminal also gets a progress bar)
    assert "stack dev: 4 checks in eu-west-1" in result.stderr
    assert "checking sign-up" in result.stderr and "checking network" in result.stderr


def test_a_broken_promise_exits_1_with_the_fix_and_the_tables(cli, deployed, tmp_path):
    group = deployed.ids["app"]
    client("ec2").authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    result = cli("stack", "check", "-s", "dev", "-g", "network", "--json", "--markdown", str(summary))
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["stack"] == "dev" and doc["ok"] is False
    assert doc["counts"] == {"ok": 1, "FAIL": 1, "not checked": 0}
    failed = [r for r in doc["results"] if r["status"] == "FAIL"]
    assert failed == [{"group": "network", "promise": "no security group of the stack admits 0.0.0.0/0 or ::/0",
                       "status": "FAIL", "detail": (
                           f"open to the world: {group} ::/0 all ports: the stack declares no such rule; remove it "
                           f"(`aws ec2 revoke-security-group-ingress --group-id {group} --ip-permissions ...`) and "
                           "run `pulumi up -s dev`")}]
    table = summary.read_text().splitlines()
    assert table[:5] == ["earlier step", "### cruddur stack check -s dev: 1 ok, 1 FAIL, 0 not checked", "",
                         "| group | promise | status | fix / why |", "| --- | --- | --- | --- |"]
    assert table[5].startswith("| network | no security group of the stack admits 0.0.0.0/0 or ::/0 | ❌ FAIL | "
                               f"open to the world: {group} ::/0 all ports")


def test_the_text_report_names_the_fix_and_why(cli, deployed):
    group = deployed.ids["db"]
    client("ec2").authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    result = cli("stack", "check", "-s", "dev", "-g", "network", "-g", "backups and restore drill")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "stack dev: 1 ok, 1 FAIL, 2 not checked",
        "backups and restore drill",
        "  not checked  the latest recovery point of the instance is complete and under 2 days old - why: "
        "restoreDrill is false in the stack file: RDS's own automated backups only (see the database group)",
        "  not checked  the latest restore test restored the copy and passed its validation - why: restoreDrill is "
        "false in the stack file: RDS's own automated backups only (see the database group)",
        "network",
        "  FAIL         no security group of the stack admits 0.0.0.0/0 or ::/0 - fix: open to the world: "
        f"{group} 0.0.0.0/0 port 5432: the stack declares no such rule; remove it (`aws ec2 "
        f"revoke-security-group-ingress --group-id {group} --ip-permissions ...`) and run `pulumi up -s dev`",
        "  ok           the instance is in the stack's private subnets, which have no route out - 2 private subnets, "
        "no route out",
    ]


def test_an_unwritable_summary_file_is_one_line(cli, deployed, tmp_path):
    result = cli("stack", "check", "-s", "dev", "-g", "network", "--markdown", str(tmp_path / "no" / "summary.md"))
    assert result.exit_code == 2
    assert result.stderr == (f"error: cannot write the Markdown table to {tmp_path / 'no' / 'summary.md'}: No such "
                             "file or directory\n")


def test_every_group_is_reported_and_no_password_is_shown(cli, deployed):
    result = cli("stack", "check", "-s", "dev", "--json", "--tunnel-port", "1")
    doc = json.loads(result.stdout)
    assert {r["group"] for r in doc["results"]} == set(GROUPS)
    assert len(doc["results"]) == 32
    assert result.exit_code == (1 if doc["counts"]["FAIL"] else 0)
    # the database checks tried the (closed) tunnel port and say so, in one line, without the password
    login = next(r for r in doc["results"] if r["promise"] == "the master secret's current version logs in")
    assert login["status"] == "not checked"
    assert login["detail"].startswith("cannot reach the database: ")


def test_an_unknown_group_is_one_line(cli, deployed):
    result = cli("stack", "check", "-s", "dev", "-g", "dns")
    assert result.exit_code == 2
    assert result.stderr == (f"error: unknown group 'dns'; the groups are: {', '.join(GROUPS)}\n")


def test_no_aws_credentials_is_one_line(cli, deployed, tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("")
    result = cli("stack", "check", "-s", "dev", env={
        "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None, "AWS_PROFILE": None,
        "AWS_SHARED_CREDENTIALS_FILE": str(empty), "AWS_CONFIG_FILE": str(empty), "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None, "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
        "AWS_WEB_IDENTITY_TOKEN_FILE": None})
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "error: no AWS credentials: sign in (e.g. `aws sso login`, or set AWS_PROFILE) as an operator or the deploy "
        "role; `cruddur stack check --help` lists the read permissions it needs")


def test_a_stack_that_does_not_exist_is_one_line(cli, deployed):
    result = cli("stack", "check", "-s", "qa")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: stack qa does not exist")


def test_the_help_says_what_it_needs_and_covers(cli):
    result = cli("stack", "check", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for needed in ("--tunnel-port", "rds:DescribeDBInstances", "backup:ListRestoreJobs", "budgets:ViewBudget",
                   "operator tunnel", *GROUPS):
        assert needed in text
