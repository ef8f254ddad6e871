"""Values in the one form AWS and PostgreSQL take, and files too large or too repetitive to be meant: CIDR
spellings, names the server or the migrations already own, AWS's cron grammar, a hundred thousand unknown keys.

Evaluated on the settings alone (``settings_support``), like test_settings_bad_input.py."""

from __future__ import annotations

import contextvars
import time

import pulumi
import pytest

from components.settings import MAX_PROBLEMS_SHOWN, ConfigError, _Loader
from ops.offline.stack_eval import stack_config
from tests.components.settings_support import load, only, problems

# -- CIDRs: the spelling AWS stores and shows --------------------------------------------------------------------
SPELLING = ("is not written the way AWS takes a CIDR (address/prefix length, no leading zeros, no netmask); "
            "write it as {}")


@pytest.mark.parametrize("cidr,canonical", [
    ("203.0.113.0/024", "203.0.113.0/24"),
    ("203.0.113.0/255.255.255.0", "203.0.113.0/24"),
    ("203.0.113.0/0.0.0.255", "203.0.113.0/24"),
    ("203.0.113.7", "203.0.113.7/32"),
    ("2001:DB8::/48", "2001:db8::/48"),
    ("2001:db8:0:0::/64", "2001:db8::/64"),
    ("2001:db8::/048", "2001:db8::/48"),
])
def test_operator_cidrs_in_another_spelling_are_refused_with_the_canonical_one(cidr, canonical):
    assert problems("dev", operatorCidrs=["198.51.100.0/24", cidr]) == [
        f"cruddur-db:operatorCidrs = {cidr!r}: {SPELLING.format(canonical)}"]


@pytest.mark.parametrize("cidr,network", [("203.0.113.9/24", "203.0.113.0/24"), ("2001:db8::1/64", "2001:db8::/64")])
def test_operator_cidrs_with_host_bits_are_refused(cidr, network):
    assert problems("dev", operatorCidrs=[cidr]) == [
        f"cruddur-db:operatorCidrs = {cidr!r}: has host bits set; did you mean {network}?"]


@pytest.mark.parametrize("cidr", ["010.0.0.0/16", "10.0.0.0/+16", "10.0.0.0/ 16"])
def test_unreadable_operator_cidrs_are_not_cidrs(cidr):
    assert problems("dev", operatorCidrs=[cidr]) == [
        f"cruddur-db:operatorCidrs = {cidr!r}: is not a CIDR, e.g. 203.0.113.0/24"]


@pytest.mark.parametrize("cidr,canonical", [("10.40.0.0/016", "10.40.0.0/16"),
                                            ("10.40.0.0/255.255.0.0", "10.40.0.0/16")])
def test_the_vpc_cidr_in_another_spelling_is_refused(cidr, canonical):
    assert problems("dev", vpcCidr=cidr) == [f"cruddur-db:vpcCidr = {cidr!r}: {SPELLING.format(canonical)}"]


def test_the_vpc_cidr_with_host_bits_is_refused():
    assert problems("dev", vpcCidr="10.40.0.1/16") == [
        "cruddur-db:vpcCidr = '10.40.0.1/16': has host bits set; did you mean 10.40.0.0/16?"]


# -- names the server, RDS or the migrations already own ----------------------------------------------------------
@pytest.mark.parametrize("name", ["cruddur_app", "cruddur_app_clone", "cruddur_confirmation"])
def test_the_master_user_is_not_a_role_the_migrations_create(name):
    assert problems("dev", masterUsername=name) == [
        f"cruddur-db:masterUsername = '{name}': is a role the migrations create (cruddur_app, cruddur_app_clone, "
        "cruddur_confirmation); the master user is a role of its own, e.g. cruddur_admin"]


@pytest.mark.parametrize("name", ["public", "none"])
def test_the_master_user_is_not_a_role_name_postgresql_reserves(name):
    assert problems("dev", masterUsername=name) == [
        f"cruddur-db:masterUsername = '{name}': is a role name PostgreSQL reserves (public, none); use another, "
        "e.g. cruddur_admin"]


@pytest.mark.parametrize("name", ["current_user", "session_user", "current_role"])
def test_the_master_user_is_not_a_role_keyword(name):
    assert problems("dev", masterUsername=name) == [
        f"cruddur-db:masterUsername = '{name}': is a PostgreSQL reserved word, which RDS refuses; use another"]


@pytest.mark.parametrize("name", ["postgres", "template0", "template1", "rdsadmin"])
def test_the_database_is_not_one_the_server_keeps(name):
    assert problems("dev", dbName=name) == [
        f"cruddur-db:dbName = '{name}': is a database PostgreSQL or RDS keeps for itself (postgres, template0, "
        "template1, rdsadmin); name the app's own, e.g. cruddur"]


def test_a_database_and_a_user_of_their_own_are_fine():
    loaded = load("prod", {"masterUsername": "cruddur_owner", "dbName": "cruddur_app"})
    assert (loaded.database.master_username, loaded.database.name) == ("cruddur_owner", "cruddur_app")


# -- schedules: AWS's cron grammar ----------------------------------------------------------------------------------
FORMAT = "cron(minutes hours day-of-month month day-of-week year) in UTC, e.g. cron(0 6 ? * MON *)"


@pytest.mark.parametrize("expression,why", [
    ("cron(0 25 ? * MON *)", "hours field: 25 is out of range (0-23)"),
    ("cron(60 6 ? * MON *)", "minutes field: 60 is out of range (0-59)"),
    ("cron(0 6 ? 13 MON *)", "month field: 13 is out of range (1-12)"),
    ("cron(0 6 32 * ? *)", "day-of-month field: 32 is out of range (1-31)"),
    ("cron(0 6 ? * 8 *)", "day-of-week field: 8 is out of range (1-7)"),
    ("cron(0 6 ? * MON 1969)", "year field: 1969 is out of range (1970-2199)"),
    ("cron(0 6 ? * MUN *)", "day-of-week field: 'MUN' is not a value (1-7 or SUN-SAT)"),
    ("cron(0 6 ? * MON)", f"has 5 fields; AWS takes six: {FORMAT}"),
    ("cron(0 6 * * MON *)", "exactly one of day-of-month and day-of-week must be '?' (e.g. cron(0 6 ? * MON *) or "
                            "cron(0 6 1 * ? *))"),
    ("cron(0 6 ? * ? *)", "exactly one of day-of-month and day-of-week must be '?' (e.g. cron(0 6 ? * MON *) or "
                          "cron(0 6 1 * ? *))"),
    ("cron(0 6 ? * MON *)\n", "has a control character or line break; write it on one line"),
    ("cron(0\t6 ? * MON *)", "has a control character or line break; write it on one line"),
    ("cron(0  6 ? * MON *)", f"has a doubled, leading or trailing space; separate the fields by single spaces: {FORMAT}"),
    ("cron(0/0 6 ? * MON *)", "minutes field: '0/0': the step after / must be a whole number from 1 to 59"),
    ("cron(0 19-8 ? * MON *)", "hours field: '19-8': a range goes from low to high"),
    ("cron(0 6 ? * MON#6 *)", "day-of-week field: 'MON#6': the week after # must be 1 to 5"),
    ("cron(0 6 ?,1 * MON *)", "day-of-month field: '?' is not a value (1-31)"),
    ("rate(1 day)", f"is a rate expression; this schedule takes cron only: {FORMAT}"),
    ("cron(0 6 ? * MON *) x", f"is not a cron expression: {FORMAT}"),
])
def test_the_drill_schedule_follows_aws_cron_grammar(expression, why):
    assert only(problems("dev", restoreDrillSchedule=expression)) == (
        f"cruddur-db:restoreDrillSchedule = {expression!r}: {why}")


@pytest.mark.parametrize("expression", ["cron(0 6 ? * MON *)", "cron(30 4 ? * WED *)", "cron(0/15 8-17 ? * MON-FRI *)",
                                        "cron(0 6 L * ? *)", "cron(0 6 15W * ? *)", "cron(0 6 ? * 6#3 *)",
                                        "cron(0 6 ? * FRIL *)", "cron(0 6 1 JAN,JUL ? 2027-2030)"])
def test_aws_cron_expressions_are_taken(expression):
    assert load("dev", {"restoreDrillSchedule": expression}).restore_drill.schedule == expression


# -- a file nobody meant: bounded and quick -------------------------------------------------------------------------
def test_a_hundred_thousand_unknown_keys_are_refused_quickly_in_a_bounded_message():
    _, config, secret_keys = stack_config("dev", {f"cruddur-db:junk{i:06d}": "1" for i in range(300_000)})

    def validate() -> tuple[list[str], float]:
        pulumi.runtime.set_all_config(config, secret_keys)
        started = time.perf_counter()
        with pytest.raises(ConfigError) as caught:
            _Loader("dev").load()
        return caught.value.problems, time.perf_counter() - started
    found, elapsed = contextvars.Context().run(validate)
    assert len(found) == MAX_PROBLEMS_SHOWN + 1
    assert found[0] == ("cruddur-db:junk000000 is not a setting of this project (a typo would be silently ignored); "
                        "see the configuration keys in docs/stacks-and-settings.md")
    assert found[-1] == f"and {300_000 - MAX_PROBLEMS_SHOWN} more problem(s) of the same kinds; fix these first"
    assert sum(map(len, found)) < 4000
    assert elapsed < 2, elapsed  # about 0.2 s on an idle machine (the old matching took minutes); CI shares cores
