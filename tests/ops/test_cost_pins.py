"""What each stack costs at its defaults, pinned against the eu-west-1 price file, with the caps the stacks are held
to (dev <= $22 always on, <= $13 on a working-hours run schedule, prod <= $120), next to the seed's setup and SST's
defaults priced by the same table (bench/cost.py; bench/RESULTS.md section 8). A price refresh or a new resource
moves these on purpose: update the figures, and docs/costs.md with them."""

from decimal import Decimal

import pytest

from bench import cost as comparison

CAPS = {"dev": Decimal("22"), "dev, run schedule (55 h a week)": Decimal("13"), "prod": Decimal("120")}
PINNED = {
    "dev": Decimal("21.77"),
    "dev, run schedule (55 h a week)": Decimal("11.46"),
    "prod": Decimal("71.88"),
    "the seed's setup (public, no backups)": Decimal("20.06"),
    "SST v3 sst.aws.Postgres defaults": Decimal("15.35"),
}


@pytest.fixture(scope="module")
def estimates():
    return comparison.estimates()


def test_each_setup_costs_its_pinned_figure_with_nothing_unpriced(estimates):
    assert {name: e.fixed_total for name, e in estimates.items()} == PINNED
    assert all(e.unpriced == [] for e in estimates.values())


def test_dev_and_prod_stay_under_their_caps(estimates):
    assert all(estimates[name].fixed_total <= cap for name, cap in CAPS.items())


def test_the_run_schedule_saves_exactly_the_stopped_instance_hours(estimates):
    """55 of 168 hours a week: the instance and its GuardDuty vCPU-hours shrink; storage and the rest do not."""
    always, scheduled = estimates["dev"], estimates["dev, run schedule (55 h a week)"]
    hours = Decimal(730) * Decimal(55) / Decimal(168)
    instance = next(line for line in scheduled.lines if line.kind == "rds instance")
    assert instance.quantity.quantize(Decimal("0.01")) == hours.quantize(Decimal("0.01"))
    unchanged = {(line.item, line.monthly_usd) for line in always.lines} & {
        (line.item, line.monthly_usd) for line in scheduled.lines}
    assert ("RDS gp3 storage (Single-AZ)", Decimal("2.54")) in unchanged


def test_the_seed_pays_for_its_public_address_and_sst_for_its_secret(estimates):
    seed = {line.item: line.monthly_usd for line in estimates["the seed's setup (public, no backups)"].lines}
    assert seed == {"RDS db.t3.micro (Single-AZ)": Decimal("13.87"), "RDS gp2 storage (Single-AZ)": Decimal("2.54"),
                    "Public IPv4 address (publicly accessible instance)": Decimal("3.65")}
    sst = {line.item: line.monthly_usd for line in estimates["SST v3 sst.aws.Postgres defaults"].lines}
    assert sst == {"RDS db.t4g.micro (Single-AZ)": Decimal("12.41"), "RDS gp3 storage (Single-AZ)": Decimal("2.54"),
                   "Secrets Manager secret": Decimal("0.40")}


def test_no_stack_pays_for_a_vpc_endpoint(estimates):
    for name in ("dev", "prod"):
        assert not [line for line in estimates[name].lines if "endpoint" in line.item.lower()
                    and "Instance Connect" not in line.item]
