"""The pack's registry: each rule names its resource types once and the pack dispatches on them; the tables of
docs/security.md are kept equal to the registry; the modules the pack shares with the program are kept equal."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from pulumi_policy import PolicyProviderResource, ResourceValidationArgs
from pulumi_policy.proxy import unknown_checking_proxy

import components.cidrs as cidrs
from ops.paths import POLICY_DIR, PROJECT_ROOT
from tests.policy.conftest import policies

ROOT = PROJECT_ROOT
RESOURCE_RULES = [r for r in policies.RULES if r.kind == "resource" and not r.generic]
GENERIC_RULES = [r for r in policies.RULES if r.kind == "resource" and r.generic]


def _args(resource_type: str, props: dict, stack: str = "prod") -> ResourceValidationArgs:
    """A resource of ``stack`` (its provider tagged Environment=dev when the stack is named dev)."""
    provider = PolicyProviderResource("pulumi:providers:aws", {"defaultTags": {"tags": {"Environment": stack}}},
                                      f"urn:pulumi:{stack}::cruddur-db::pulumi:providers:aws::p", "p")
    return ResourceValidationArgs(resource_type, unknown_checking_proxy(props),
                                  f"urn:pulumi:{stack}::cruddur-db::{resource_type}::r", "r", None, provider, {})


# -- dispatch -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", RESOURCE_RULES, ids=lambda r: r.name)
def test_resource_rules_are_dispatched_only_their_types(rule):
    seen = []
    probe = policies.Rule(rule.name, rule.description, lambda subject: seen.append(subject) or [], rule.kind,
                          rule.enforcement, rule.types, rule.environments)
    assert probe.run(_args("aws:ec2/vpc:Vpc", {"publiclyAccessible": True})) == []
    assert seen == []
    stack = "prod" if "prod" in rule.environments else "dev"
    for resource_type in rule.types:
        probe.run(_args(resource_type, {"k": "v"}, stack))
    assert [(s.type, s.label, s.props) for s in seen] == [
        (t, f"{policies.short_type(t)} 'r'", {"k": "v"}) for t in rule.types]


@pytest.mark.parametrize("rule", GENERIC_RULES, ids=lambda r: r.name)
def test_generic_rules_are_dispatched_every_type(rule):
    seen = []
    probe = policies.Rule(rule.name, rule.description, lambda subject: seen.append(subject.type) or [], rule.kind,
                          rule.enforcement, rule.types, rule.environments)
    stack = "prod" if "prod" in rule.environments else "dev"
    for resource_type in ("aws:ec2/vpc:Vpc", "aws:iam/user:User", "pulumi:providers:aws", "vendor:x/y:Z"):
        probe.run(_args(resource_type, {"k": "v"}, stack))
    assert seen == ["aws:ec2/vpc:Vpc", "aws:iam/user:User", "pulumi:providers:aws", "vendor:x/y:Z"]


def test_registering_a_rule_needs_types_practices_and_a_reason_for_dev():
    with pytest.raises(ValueError, match="names no resource types"):
        policies.resource_rule("x", types=(), description="d", practices=("region",))
    with pytest.raises(ValueError, match="not keys of PRACTICES"):
        policies.resource_rule("x", types=("t",), description="d", practices=("nope",))
    with pytest.raises(ValueError, match="dev_reason"):
        policies.stack_rule("x", description="d", practices=("region",), prod_only=True)
    with pytest.raises(ValueError, match="registered twice"):
        policies.resource_rule("rds-not-public", types=("t",), description="d", practices=("region",))(
            lambda subject: [])
    assert [r.name for r in policies.RULES].count("x") == 0


def test_rule_names_are_unique_and_every_rule_serves_a_practice():
    names = [r.name for r in policies.RULES]
    assert len(names) == len(set(names))
    assert all(r.practices and set(r.practices) <= set(policies.PRACTICES) for r in policies.RULES)


# -- docs/security.md ---------------------------------------------------------------------------------------------
def _security_page() -> str:
    return (ROOT / "docs" / "security.md").read_text()


def test_security_page_practices_table_is_the_registry():
    """Regenerate with: .venv/bin/python -c 'import sys; sys.path.insert(0, "policy"); import policies;
    print(policies.practices_table())'"""
    assert policies.practices_table() in _security_page()


def test_practices_name_real_settings_keys():
    source = (ROOT / "components" / "settings.py").read_text()
    for practice in policies.PRACTICES.values():
        for key in practice.settings:
            assert f'"{key}"' in source, (practice.title, key)


def test_security_page_policy_table_lists_every_rule():
    section = _security_page().split("## Policy pack", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`([a-z0-9-]+)`", section))
    assert {r.name for r in policies.RULES if not r.name.endswith("-dev")} <= listed


def test_readme_lists_every_practice_of_the_brief():
    titles = [p.title for p in policies.PRACTICES.values()]
    for practice in ("region pinning / data residency", "encryption at rest", "encryption in transit (TLS)",
                     "no public access", "deletion protection", "audit trail", "GuardDuty", "no 0.0.0.0/0",
                     "secrets in Secrets Manager", "least privilege",
                     "strong auth (IAM auth / scram / Cognito password policy)", "disposing of unused databases"):
        assert practice in titles


# -- modules shared with the program ------------------------------------------------------------------------------
@pytest.mark.parametrize("module", ["cidrs.py", "stack_names.py"])
def test_pack_copies_of_shared_modules_are_identical(module):
    assert (POLICY_DIR / module).read_bytes() == (ROOT / "components" / module).read_bytes()


@pytest.mark.parametrize("ranges, wide", [
    (["0.0.0.0/0"], True), (["0.0.0.0/1", "128.0.0.0/1"], True), (["::/1", "8000::/1"], True),
    (["10.0.0.0/8"], True), ([f"10.{i}.0.0/16" for i in range(256)], True),
    ([f"10.{i}.0.0/16" for i in range(255)], False), (["10.0.0.0/9"], False), (["203.0.113.0/24"], False),
    (["10.0.0.0/9", "10.0.0.0/9"], False), (["2001:db8::/32"], False), (["100::/8"], True),
    # IPv6 against the allocated unicast space: the registries' blocks, alone or in pieces
    (["2400::/12", "2600::/12", "2800::/12", "2a00::/12", "2c00::/12"], True), (["2c00::/12"], True),
    ([f"2a00:{i:x}000::/20" for i in range(16)], True), (["2001::/16"], True), (["2001:db8::/32", "2600::/32"], False),
    (["2001:4860::/32"], False), ([f"2600:{i * 0x800:x}::/21" for i in range(1, 15)], False), (["fd00::/8"], True),
    (["not a cidr", None, 5], False), ([], False),
])
def test_covers_too_much(ranges, wide):
    assert cidrs.covers_too_much(ranges) is wide


def test_allocated_ipv6_share():
    assert cidrs.allocated_share(["::/0"]) == 1
    assert cidrs.allocated_share(["fc00::/7", "10.0.0.0/8"]) == 0
    assert cidrs.allocated_share([str(n) for n in cidrs.ALLOCATED_IPV6]) == 1
    half = ["2400::/13", "2600::/13", "2630::/13", "2800::/13", "2a00::/13", "2a10::/13", "2c00::/13"]
    assert float(cidrs.allocated_share(half)) == pytest.approx(0.4918, abs=1e-4)
    assert cidrs.too_wide(["2600::/12"]) == [(6, cidrs.allocated_share(["2600::/12"]), "allocated IPv6 unicast space")]
    assert cidrs.too_wide(["8000::/1"]) == [(6, Fraction(1, 2), "IPv6 address space")]
    assert cidrs.too_wide(["::/1"]) == [(6, Fraction(1), "allocated IPv6 unicast space")]  # holds all of 2000::/3


def test_share_and_percent():
    assert cidrs.share(["0.0.0.0/1", "64.0.0.0/2"], 4) == Fraction(1, 2)
    assert cidrs.share(["0.0.0.0/1"], 6) == 0
    assert cidrs.MAX_SHARE == Fraction(1, 256)
    assert [cidrs.percent(Fraction(1, 256)), cidrs.percent(Fraction(1, 2)), cidrs.percent(Fraction(1))] == [
        "0.39%", "50%", "100%"]
