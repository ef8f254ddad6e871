"""The pack as a whole: zero mandatory violations on both committed stacks, every rule wired into a CrossGuard policy
with its level, the pack process really serving those policies over the analyzer protocol, and the constants it
shares with the program kept equal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE

import components.database as database
import components.settings as settings
from ops.offline.verdicts import check
from ops.paths import POLICY_DIR, PROJECT_ROOT
from tests.policy.conftest import pack_server, policies

ROOT = PROJECT_ROOT


# -- the whole pack over the committed stacks --------------------------------------------------------------------
def test_no_mandatory_violation_on_either_stack(dev, prod):
    for evaluation in (dev, prod):
        _, verdicts = check(evaluation, policies)
        assert [v for v in verdicts if v.mandatory_violation] == [], evaluation.stack
        assert {v.policy for v in verdicts} == {r.name for r in policies.RULES}


def test_prod_passes_every_policy_that_applies(prod):
    environment, verdicts = check(prod, policies)
    assert environment == "prod"
    # The stack's confirmation Lambda and its Cognito permission are checked, not skipped.
    statuses = {v.policy: v.status for v in verdicts}
    assert statuses["lambda-permission-source-arn"] == statuses["lambda-supported-runtime"] == "pass"
    assert (statuses["lambda-code-signing"] == statuses["lambda-code-signing-enforced"]
            == statuses["lambda-environment-encrypted-with-cmk"] == "pass")
    assert {v.policy: v.status for v in verdicts if v.status != "pass"} == {
        "rds-deletion-protection-dev": "n/a", "rds-backup-retention-dev": "n/a", "audit-trail-present-dev": "n/a",
        "cloudtrail-bucket-retained-dev": "n/a", "guardduty-rds-protection-dev": "n/a",
        "s3-bucket-access-logging-dev": "n/a", "cost-within-budget-dev": "n/a",
        # rules for resource types the program does not declare (snapshots, proxies, prefix lists, function URLs)
        "rds-snapshot-not-public": "n/a", "rds-proxy-requires-tls": "n/a", "prefix-list-not-world-open": "n/a",
        "rds-proxy-in-vpc": "n/a", "rds-proxy-strong-auth": "n/a", "rds-proxy-no-debug-logging": "n/a",
        "rds-proxy-pool-bounded": "n/a", "rds-proxy-targets-this-stack": "n/a",  # rdsProxy is off by default
        "lambda-function-url-authenticated": "n/a", "lambda-layer-permission-not-public": "n/a",
        "guardduty-findings-not-archived": "n/a", "iam-no-long-lived-credentials": "n/a",
        "resource-type-allowed-dev": "n/a",
        "prod-database-never-scheduled-off": "n/a"}  # prod declares no schedule


def test_dev_reports_only_its_documented_advisories(dev):
    environment, verdicts = check(dev, policies)
    assert environment == "dev"
    violated = {v.policy: v.enforcement for v in verdicts if v.status == "violated"}
    assert violated == {"rds-backup-retention-dev": "advisory", "cloudtrail-bucket-retained-dev": "advisory"}


# -- the rules and their CrossGuard policies -----------------------------------------------------------------------
PRACTICE_POLICIES = [
    "rds-not-public", "rds-encrypted-with-cmk", "rds-deletion-protection", "rds-backup-retention", "rds-iam-auth",
    "rds-tls-enforced", "rds-log-exports", "rds-no-default-admin-username", "sg-no-world-open-rules",
    "secrets-encrypted-with-cmk", "kms-rotation-enabled", "cloudtrail-hardened", "cloudtrail-bucket-protected",
    "guardduty-rds-protection", "region-allowed", "lambda-permission-source-arn", "lambda-supported-runtime",
    "lambda-code-signing", "lambda-code-signing-enforced", "lambda-environment-encrypted-with-cmk",
    "rds-no-paid-extended-support", "cost-within-budget",
]


def test_every_practice_has_a_mandatory_policy():
    levels = {r.name: r.enforcement for r in policies.RULES}
    assert {name: levels.get(name) for name in PRACTICE_POLICIES} == {
        name: EnforcementLevel.MANDATORY for name in PRACTICE_POLICIES}


def test_build_policies_wraps_every_rule_with_its_level():
    built = policies.build_policies()
    assert [p.name for p in built] == [r.name for r in policies.RULES]
    assert len({p.name for p in built}) == len(built)
    for policy, rule in zip(built, policies.RULES, strict=True):
        assert policy.enforcement_level == rule.enforcement
        assert isinstance(policy, ResourceValidationPolicy if rule.kind == "resource" else StackValidationPolicy)
        assert policy.description == rule.description


def test_advisory_policies_are_dev_twins_with_their_reason():
    for rule in policies.RULES:
        if rule.enforcement == EnforcementLevel.ADVISORY:
            assert rule.name.endswith("-dev") and rule.environments == ("dev",)
            twin = policies.rule(rule.name[:-len("-dev")])
            assert twin.enforcement == EnforcementLevel.MANDATORY and twin.environments == ("prod",)
            assert twin.validate is rule.validate
            assert "advisory on dev stacks: " in rule.description


def test_wrapped_policy_reports_through_the_callback(dev):
    from ops.offline.verdicts import resource_args
    from tests.policy.conftest import changed

    policy = next(p for p in policies.build_policies() if p.name == "rds-not-public")
    reported = []
    args = resource_args(dev, changed(dev.one("aws:rds/instance:Instance"), publiclyAccessible=True))
    policy.validate(args, lambda message, urn=None: reported.append(message))
    assert len(reported) == 1 and "is publicly accessible" in reported[0]


# -- the pack process, as `pulumi preview --policy-pack ./policy` starts it ---------------------------------------
@pytest.fixture(scope="module")
def analyzer():
    with pack_server(["__main__.py"]) as stub:
        yield stub


def test_pack_serves_every_policy_with_its_level(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == policies.PACK_NAME
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert set(levels) == {r.name for r in policies.RULES}
    assert levels["rds-not-public"] == analyzer_pb2.MANDATORY
    assert levels["rds-backup-retention-dev"] == analyzer_pb2.ADVISORY


def _analyze(analyzer, props: dict):
    properties = struct_pb2.Struct()
    properties.update(props)
    return analyzer.Analyze(analyzer_pb2.AnalyzeRequest(
        type="aws:rds/instance:Instance", properties=properties,
        urn="urn:pulumi:prod::cruddur-db::aws:rds/instance:Instance::db-instance", name="db-instance",
        options=analyzer_pb2.AnalyzerResourceOptions()))


def test_pack_reports_a_violation_through_the_engine_protocol(analyzer, prod):
    props = dict(prod.one("aws:rds/instance:Instance").props, publiclyAccessible=True)
    props.pop("password")
    response = _analyze(analyzer, props)
    assert [(d.policyName, d.enforcementLevel) for d in response.diagnostics] == [
        ("rds-not-public", analyzer_pb2.MANDATORY)]
    assert "'db-instance' is publicly accessible" in response.diagnostics[0].message


def test_pack_reports_nothing_for_unknown_values(analyzer, prod):
    props = dict(prod.one("aws:rds/instance:Instance").props, publiclyAccessible=UNKNOWN_BOOLEAN_VALUE,
                 deletionProtection=UNKNOWN_BOOLEAN_VALUE)
    props.pop("password")
    assert list(_analyze(analyzer, props).diagnostics) == []


# -- the pack stays in step with the program ------------------------------------------------------------------------
def test_shared_constants_match_the_program():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert list(policies.DEFAULT_ALLOWED_REGIONS) == declared["allowedRegions"]["default"]
    assert policies.RESERVED_USERNAMES == settings.RESERVED_USERNAMES
    assert policies.PROD_MIN_BACKUP_DAYS == settings.PROD_MIN_BACKUP_DAYS
    assert policies.PROD_MIN_TRAIL_EXPIRE_DAYS == settings.PROD_MIN_TRAIL_EXPIRE_DAYS
    assert policies.RDS_LOG_EXPORTS == database.LOG_EXPORTS


def _pins(path: Path) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", path.read_text(), re.M))


def test_pack_requirements_pin_the_projects_versions():
    pack, project = _pins(POLICY_DIR / "requirements.txt"), _pins(ROOT / "requirements.txt")
    assert pack == {"pulumi": project["pulumi"], "pulumi-policy": "1.21.0"}
    assert project["pulumi-policy"] == "1.21.0"


def test_pulumi_policy_yaml_runs_python_from_its_venv():
    doc = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert doc["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}
    assert doc["description"]
    assert "policy/venv/" in (ROOT / ".gitignore").read_text().split()


def test_pack_main_only_builds_the_pack():
    source = (POLICY_DIR / "__main__.py").read_text()
    assert "PolicyPack(" in source and "def " not in source
