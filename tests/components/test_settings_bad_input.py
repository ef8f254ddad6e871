"""Config that is wrong in ways a careless user or an attacker would try: each is one line naming the key.

Evaluated on the settings alone (``settings_support``); ``test_settings.py`` runs the whole program for the rest."""

from __future__ import annotations

import contextvars
import json

import pulumi
import pytest

from components import settings
from components.settings import ConfigError
from ops.offline.stack_eval import stack_config
from tests.components.settings_support import load, only, problems

# -- every key in the namespace is a declared one ---------------------------------------------------------------------
TYPO = "is not a setting of this project (a typo would be silently ignored)"


@pytest.mark.parametrize("key,hint", [
    ("foo", "see the configuration keys in docs/stacks-and-settings.md"),
    ("multiAZ", "did you mean multiAz?"),
    ("deletionProtecton", "did you mean deletionProtection?"),
    ("operatorCidr", "did you mean operatorCidrs?"),
    ("allowedRegion", "did you mean allowedRegions?"),
    ("organisation", "did you mean organization?"),
    ("MULTIAZ", "did you mean multiAz?"),
])
def test_unknown_keys_are_named_with_the_nearest_declared_one(key, hint):
    assert problems("dev", **{f"cruddur-db:{key}": "true"}) == [f"cruddur-db:{key} {TYPO}; {hint}"]


@pytest.mark.parametrize("namespace", ["cruddurdb", "cruddur_db", "Cruddur-DB", "cruddr-db", "cruddur", "cruddur-app"])
def test_a_namespace_that_looks_like_the_projects_is_an_error(namespace):
    assert problems("prod", **{f"{namespace}:multiAz": "false"}) == [
        f"{namespace}:multiAz is not in this project's namespace, so it would be silently ignored; "
        "did you mean cruddur-db:multiAz?"]


def test_other_namespaces_are_left_to_their_owners():
    assert problems("dev", **{"aws:profile": "ops", "pulumi:template": "x", "random:seed": "1"}) == []


def test_a_long_or_odd_unknown_key_is_quoted_and_cut():
    key = "cruddur-db:" + "x" * 200
    assert problems("dev", **{key: "1"}) == [
        f"'cruddur-db:{'x' * 69}'… (211 characters) {TYPO}; see the configuration keys in docs/stacks-and-settings.md"]
    assert problems("dev", **{"cruddur-db:multi\nAz": "1"}) == [
        f"'cruddur-db:multi\\nAz' {TYPO}; did you mean multiAz?"]


def test_unknown_keys_are_seen_in_the_engines_config_too(monkeypatch):
    """`pulumi up` hands the program its config as JSON in PULUMI_CONFIG, not through set_all_config."""
    _, config, _ = stack_config("prod")
    config["cruddur-db:deletionProtecton"] = "false"
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))

    def run():
        pulumi.runtime.set_all_config({}, [])
        return settings._Loader("prod").load()
    with pytest.raises(ConfigError) as caught:
        contextvars.Context().run(run)
    assert caught.value.problems == [f"cruddur-db:deletionProtecton {TYPO}; did you mean deletionProtection?"]
    del config["cruddur-db:deletionProtecton"]
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    assert contextvars.Context().run(run).database.deletion_protection is True


# -- operator ranges: the union counts ----------------------------------------------------------------------------
REGISTRY_BLOCKS = ["2400::/12", "2600::/12", "2800::/12", "2a00::/12", "2c00::/12"]  # APNIC ARIN LACNIC RIPE AFRINIC


@pytest.mark.parametrize("ranges,share,space", [
    (["0.0.0.0/1", "128.0.0.0/1"], "100%", "IPv4 address space"),
    (["::/1", "8000::/1"], "100%", "IPv6 address space"),
    (["10.0.0.0/8"], "0.39%", "IPv4 address space"),
    ([f"11.{i}.0.0/16" for i in range(256)], "0.39%", "IPv4 address space"),
    # the IPv6 internet in pieces: the registries' blocks are 0.12% of the whole space, most of the allocated one
    (REGISTRY_BLOCKS, "70.25%", "allocated IPv6 unicast space"),
    (["2a00::/12"], "14.05%", "allocated IPv6 unicast space"),
    ([f"2600:{i * 0x800:x}::/21" for i in range(1, 17)], "0.44%", "allocated IPv6 unicast space"),
    (["2001::/16"], "0.54%", "allocated IPv6 unicast space"),
])
def test_operator_ranges_that_together_open_too_much_are_rejected(ranges, share, space):
    assert only(problems("dev", operatorCidrs=ranges)) == (
        f"cruddur-db:operatorCidrs = {settings.shown(ranges)}: together cover {share} of the {space} "
        "(the limit is under 1/256); name your office or VPN range instead")


def test_operator_ranges_of_an_office_and_a_vpn_are_fine():
    ranges = ["203.0.113.0/24", "198.51.100.0/24", "10.8.0.0/16", "2001:db8::/48", "11.0.0.0/16"]
    assert load("prod", {"operatorCidrs": ranges}).network.operator_cidrs == tuple(ranges)


# -- the VPC: private ranges only, /16 to /24 -----------------------------------------------------------------------
@pytest.mark.parametrize("cidr", ["127.0.0.0/16", "0.0.0.0/16", "169.254.0.0/16", "240.0.0.0/16", "100.128.0.0/16",
                                  "172.32.0.0/16", "192.169.0.0/16", "10.0.0.0/25", "10.0.0.0/15", "100.0.0.0/9"])
def test_vpc_cidr_outside_the_private_ranges_is_rejected(cidr):
    assert problems("dev", vpcCidr=cidr) == [
        f"cruddur-db:vpcCidr = '{cidr}': must be a private IPv4 range from /16 to /24, e.g. 10.40.0.0/16"]


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "172.31.0.0/16", "192.168.10.0/24", "100.64.0.0/16",
                                  "100.127.0.0/24"])
def test_vpc_cidr_in_a_private_range_is_accepted(cidr):
    assert load("dev", {"vpcCidr": cidr}).network.vpc_cidr == cidr


# -- names RDS refuses at deploy --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["pg_admin", "pg_monitor", "rds_superuser", "rdsrepl", "rds"])
def test_reserved_prefixes_are_refused_as_the_master_username(name):
    prefix = name[:3]
    assert problems("dev", masterUsername=name) == [
        f"cruddur-db:masterUsername = '{name}': starts with '{prefix}', a prefix PostgreSQL (pg_) or Amazon RDS (rds) "
        "keeps for its own roles; use another, e.g. cruddur_admin"]


@pytest.mark.parametrize("key", ["masterUsername", "dbName"])
@pytest.mark.parametrize("word", ["select", "using", "table", "system_user", "all"])
def test_postgresql_reserved_words_are_refused(key, word):
    assert problems("dev", **{key: word}) == [
        f"cruddur-db:{key} = '{word}': is a PostgreSQL reserved word, which RDS refuses; use another"]


def test_ordinary_names_and_non_reserved_key_words_are_fine():
    loaded = load("dev", {"masterUsername": "ops_admin", "dbName": "name"})  # "name" is an unreserved key word
    assert (loaded.database.master_username, loaded.database.name) == ("ops_admin", "name")


@pytest.mark.parametrize("klass", ["db.t4g.micro", "db.m7g.large", "db.r6gd.xlarge", "db.m5.24xlarge", "db.x2g.large",
                                   "db.t3.small", "db.r5b.8xlarge", "db.x2iedn.2xlarge", "db.z1d.12xlarge",
                                   "db.m6idn.32xlarge", "db.r8g.48xlarge", "db.m1.medium"])
def test_real_instance_classes_are_accepted(klass):
    # The class pattern alone: with alarms on, a class the connection budget cannot size is refused by its own
    # rule (tests/components/test_monitoring.py::test_alarms_need_a_known_instance_class).
    assert load("dev", {"instanceClass": klass, "alarms": "false"}).database.instance_class == klass


@pytest.mark.parametrize("klass", ["db.x.y", "db.serverless", "db.t4g.huge", "db.t4g.0xlarge", "db.4g.micro",
                                   "db.t4g.micro.", "db..micro", "db.t4g.micro\n", "db.t4g.micro x"])
def test_made_up_instance_classes_are_rejected(klass):
    why = ("has spaces or a line break around it; remove them" if klass != klass.strip()
           else "must be an RDS instance class such as db.t4g.micro or db.m7g.large")
    assert problems("dev", instanceClass=klass) == [f"cruddur-db:instanceClass = {klass!r}: {why}"]


@pytest.mark.parametrize("key,value", [("dbName", "cruddur\n"), ("dbName", " cruddur"),
                                       ("masterUsername", "cruddur_admin "), ("instanceClass", "\tdb.t4g.micro"),
                                       ("guardDutyDetectorId", "0123456789abcdef0123456789abcdef\n"),
                                       ("environment", "prod\n"), ("engineVersion", "17 ")])
def test_surrounding_whitespace_is_refused_naming_the_key(key, value):
    assert problems("prod", **{key: value}) == [
        f"cruddur-db:{key} = {value!r}: has spaces or a line break around it; remove them"]


def test_list_items_with_surrounding_whitespace_are_refused():
    assert problems("dev", allowedRegions=["eu-west-1", "eu-central-1\n"]) == [
        "cruddur-db:allowedRegions = 'eu-central-1\\n': has spaces or a line break around it; remove them"]


# -- one spelling of a number for every key ---------------------------------------------------------------------------
NUMBER_KEYS = ["backupRetentionDays", "logRetentionDays", "trailLogRetentionDays", "trailBucketTransitionDays",
               "availabilityZones", "allocatedStorageGb", "monitoringIntervalSeconds"]


@pytest.mark.parametrize("key", NUMBER_KEYS)
@pytest.mark.parametrize("spelling", ["1_4", "١٤", "１４", "+14", "1 4", "14.0", "0x10", "1e3", "", "-", "14days"])
def test_odd_number_spellings_are_refused_for_every_key(key, spelling):
    found = only(problems("dev", **{key: spelling}))
    assert found.startswith(f"cruddur-db:{key} = {spelling!r}: must be a whole number from ")


def test_a_negative_number_gets_the_bounds_message_and_surrounding_spaces_are_harmless():
    assert problems("dev", backupRetentionDays="-1") == ["cruddur-db:backupRetentionDays = -1: must be from 1 to 35"]
    assert problems("dev", backupRetentionDays="9" * 5000) == [
        f"cruddur-db:backupRetentionDays = '{'9' * 80}'… (5000 characters): must be a whole number from 1 to 35"]
    assert load("dev", {"backupRetentionDays": " 14 "}).database.backup_retention_days == 14


# -- long values are cut in one place ---------------------------------------------------------------------------
def test_a_long_value_is_cut_to_80_characters_with_its_length():
    assert problems("dev", dbName="a" * 5000) == [
        f"cruddur-db:dbName = '{'a' * 80}'… (5000 characters): must be a lower-case identifier (letters, digits, _)"]
    assert settings.shown("a" * 80) == repr("a" * 80)  # short values are shown whole, as before
    assert settings.shown(["x" * 50, "y" * 50]) == repr(["x" * 50, "y" * 50])[:80] + "… (108 characters)"


def test_a_long_region_is_cut_too():
    found = problems("dev", aws__region="eu-west-1" * 100)
    assert found == [f"aws:region = '{('eu-west-1' * 100)[:80]}'… (900 characters): not in "
                     "cruddur-db:allowedRegions (eu-west-1, eu-central-1); data must stay in the allowed regions"]


# -- prod loosening -------------------------------------------------------------------------------------------------
def test_prod_keeps_performance_insights_on():
    assert problems("prod", performanceInsights="false") == [
        "cruddur-db:performanceInsights = False: prod must keep Performance Insights on (what a prod incident is "
        "diagnosed with)"]
    assert load("dev", {"performanceInsights": "false"}).database.performance_insights is False


ORG_ON = {"manageGuardrails": True, "targetId": "ou-ab12-cd34ef56", "breakGlassRoleName": "ops-break-glass"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("action", ["rds:*", "rds:CreateDBInstance", "rds:Create*"])
def test_no_stack_exempts_rds_from_the_region_guardrail(stack, action):
    found = problems(stack, organization={**ORG_ON, "exemptRegionsServices": ["bedrock:*", action]})
    assert found == [f"cruddur-db:organization.exemptRegionsServices = {action!r}: would let RDS run in any region; "
                     "the region guardrail exists to keep the database in allowedRegions"]


def test_other_exemptions_stay_allowed():
    loaded = load("prod", {"organization": {**ORG_ON, "exemptRegionsServices": ["bedrock:*", "rdsdata:*"]}})
    assert loaded.organization.exempt_region_services == ("bedrock:*", "rdsdata:*")


def test_a_long_unknown_organization_key_is_cut_too():
    found = problems("dev", organization={"z" * 300: True})
    assert found == [f"'cruddur-db:organization.{'z' * 56}'… (324 characters) = True: unknown key; allowed: "
                     "manageGuardrails, targetId, breakGlassRoleName, exemptRegionsServices"]
