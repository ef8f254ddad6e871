"""components/connection_budget.py: the confirmation function's share of the instance's connections."""

from __future__ import annotations

import pytest

from components.connection_budget import (
    ConnectionBudget,
    connection_budget,
    estimate_max_connections,
    instance_memory_gib,
)


@pytest.mark.parametrize("instance_class, memory", [
    ("db.t4g.micro", 1), ("db.t3.micro", 1), ("db.t4g.small", 2), ("db.t4g.medium", 4), ("db.t4g.2xlarge", 32),
    ("db.m7g.large", 8), ("db.m6i.xlarge", 16), ("db.m5.4xlarge", 64), ("db.r7g.large", 16),
    ("db.r6gd.2xlarge", 64), ("db.x2g.large", 32),
])
def test_instance_memory(instance_class, memory):
    assert instance_memory_gib(instance_class) == memory


def test_the_two_classes_the_stacks_use():
    assert connection_budget("db.t4g.micro") == ConnectionBudget(
        instance_class="db.t4g.micro", memory_gib=1.0, max_connections=79, max_connections_upper=112,
        superuser_reserved=3, operators=5, confirmation=17, app_pool=54)
    assert connection_budget("db.m7g.large") == ConnectionBudget(
        instance_class="db.m7g.large", memory_gib=8.0, max_connections=789, max_connections_upper=901,
        superuser_reserved=3, operators=5, confirmation=100, app_pool=681)


@pytest.mark.parametrize("instance_class", ["db.t4g.micro", "db.t4g.small", "db.t4g.medium", "db.t4g.large",
                                            "db.m7g.large", "db.m7g.16xlarge", "db.r7g.24xlarge"])
def test_the_shares_add_up_and_never_exceed_the_lower_estimate(instance_class):
    budget = connection_budget(instance_class)
    assert sum(count for _, count in budget.rows()) == budget.max_connections
    assert budget.max_connections <= budget.max_connections_upper <= 5000
    assert 1 <= budget.confirmation <= 100 and budget.app_pool > budget.confirmation


def test_rds_cap_of_5000():
    assert estimate_max_connections("db.r7g.16xlarge") == (5000, 5000)


def test_an_explicit_max_connections_wins():
    budget = connection_budget("db.t4g.micro", max_connections=40)
    assert (budget.max_connections, budget.confirmation, budget.app_pool) == (40, 8, 24)
    assert connection_budget("db.z1d.large", max_connections=200).memory_gib is None


def test_share_cap_and_operators_are_parameters():
    budget = connection_budget("db.t4g.micro", operators=10, confirmation_share=0.5, confirmation_cap=20)
    assert (budget.operators, budget.confirmation, budget.app_pool) == (10, 20, 46)


@pytest.mark.parametrize("kwargs, message", [
    ({"confirmation_share": 0}, "confirmation_share must be between 0 and 1 (exclusive), got 0"),
    ({"confirmation_share": 1.5}, "confirmation_share must be between 0 and 1 (exclusive), got 1.5"),
    ({"operators": -1}, "operators must be >= 0 and confirmation_cap >= 1, got -1 and 100"),
    ({"max_connections": 9}, "db.t4g.micro allows about 9 connections: too few to leave 5 to the operators and some "
                             "to both the app and the confirmation function"),
])
def test_bad_parameters_name_what_to_fix(kwargs, message):
    with pytest.raises(ValueError) as caught:
        connection_budget("db.t4g.micro", **kwargs)
    assert str(caught.value) == message


@pytest.mark.parametrize("instance_class", ["db.z1d.large", "db.t4g.nano2", "t4g.micro", "db.m7g.medium", ""])
def test_an_unknown_class_is_a_clear_error(instance_class):
    with pytest.raises(ValueError) as caught:
        connection_budget(instance_class)
    assert str(caught.value) == (
        f"cannot size the connection budget of instance class {instance_class!r}: known classes are "
        "db.t*.micro..2xlarge and db.m*/db.r*/db.x2*.large..Nxlarge; pass max_connections= (the parameter group's "
        "value) for others")
