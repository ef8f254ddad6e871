"""`cruddur prices refresh --region R` on recorded GetProducts answers (botocore's Stubber stands in for the Price
List Query API: moto does not serve `pricing`), and its one-line error without credentials."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from ops.cli import app
from ops.cli.prices import SOURCE, refresh
from ops.offline.cost import default_prices_dir, load_prices
from tests.ops.conftest import FIXTURES

RECORDED = json.loads((FIXTURES / "pricing" / "get-products-eu-west-1.json").read_text())["calls"]
KEYS = ("budgets.budget.day", "kms.key.month", "rds.instance.db.m7g.large", "rds.instance.db.t4g.micro",
        "rds.storage.gp3", "vpc.interface_endpoint.az_hour")


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """The committed eu-west-1 file cut to six prices, one of which (budgets) has no Price List query."""
    document = json.loads((default_prices_dir() / "eu-west-1.json").read_text())
    document["prices"] = {k: v for k, v in document["prices"].items() if k in KEYS}
    for entry in document["prices"].values():
        entry.update({"usd": 99.0, "read": "2020-01-01", "note": "unconfirmed: stale"})
    path = tmp_path / "eu-west-1.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def stubbed_client():
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    stubber = Stubber(client)
    for call in RECORDED:
        stubber.add_response("get_products", call["response"], call["expected_params"])
    return client, stubber


def test_refresh_writes_each_price_the_api_serves_with_its_source_and_date(template):
    client, stubber = stubbed_client()
    reported: list[str] = []
    with stubber:
        outcome = refresh(client, "eu-west-1", template, "2026-12-06", report=reported.append)
    stubber.assert_no_pending_responses()  # every recorded call was made, with exactly the recorded parameters
    assert outcome == {"updated": ["kms.key.month", "rds.instance.db.m7g.large", "rds.instance.db.t4g.micro",
                                   "rds.storage.gp3", "vpc.interface_endpoint.az_hour"],
                       "kept": ["budgets.budget.day"], "missing": []}
    prices = json.loads(template.read_text())["prices"]
    expected = {"kms.key.month": (1.0, "XA2MRQ7BHG5Z4W5T"), "rds.instance.db.m7g.large": (0.183, "Q9C5G6R2C8XHUNVX"),
                "rds.instance.db.t4g.micro": (0.017, "8W3Z8D2K9PUHJ6QZ"), "rds.storage.gp3": (0.127, "G5ZQ3X4U2V8RT7KM"),
                "vpc.interface_endpoint.az_hour": (0.011, "R5P2GVAMH5ZSR3WZ")}
    for key, (usd, sku) in expected.items():
        entry = prices[key]
        assert (entry["usd"], entry["source"], entry["read"]) == (usd, SOURCE, "2026-12-06"), key
        assert entry["note"] == f"sku {sku}, on-demand, effective 2026-11-01", key
    assert prices["rds.instance.db.t4g.micro"]["vcpu"] == 2
    assert prices["budgets.budget.day"]["usd"] == 99.0 and prices["budgets.budget.day"]["read"] == "2020-01-01"
    assert reported[0] == "kms.key.month: 1 USD per key-month (sku XA2MRQ7BHG5Z4W5T)"
    book = load_prices("eu-west-1", template.parent)  # the estimator reads what refresh wrote
    assert book.need("rds.instance.db.t4g.micro").confirmed
    assert not book.need("budgets.budget.day").confirmed


def test_a_new_region_starts_from_the_template_and_marks_what_it_could_not_query(tmp_path, template):
    client, stubber = stubbed_client()
    target = tmp_path / "new" / "eu-west-1.json"
    target.parent.mkdir()
    with stubber:
        outcome = refresh(client, "eu-west-1", target, "2026-12-06", template=template)
    assert outcome["kept"] == ["budgets.budget.day"]
    kept = json.loads(target.read_text())["prices"]["budgets.budget.day"]
    assert kept["note"] == ("unconfirmed: copied from eu-west-1.json; no Price List answer for eu-west-1, check it")


def test_refresh_without_credentials_is_one_line(tmp_path):
    env = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None, "AWS_PROFILE": None,
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None,
           "AWS_CONTAINER_CREDENTIALS_FULL_URI": None, "AWS_WEB_IDENTITY_TOKEN_FILE": None}
    target = tmp_path / "eu-west-1.json"
    result = CliRunner().invoke(app, ["prices", "refresh", "--region", "eu-west-1", "--file", str(target)], env=env,
                                prog_name="cruddur")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: prices refresh: no AWS credentials; the Price List Query API needs a signed-in principal allowed "
        "pricing:GetProducts (set AWS_PROFILE or run `aws sso login`)"]
    assert not target.exists()
