"""``cruddur prices refresh --region R``: rewrite a region's price file from the AWS Price List Query API.

Never called at plan time: ``cruddur plan`` reads only the committed ``ops/offline/prices/<region>.json``. This
command asks the Price List Query API (boto3 ``pricing``, served from us-east-1; any signed-in principal allowed
``pricing:GetProducts``) for each price it knows a query for, and writes the on-demand USD price with
``source: "AWS Price List Query API"``, the date it was read and the SKU and effective date it came from. Prices
without a query (free-tier facts, services the API names differently) are kept as they are and listed. A region
without a file starts from eu-west-1's, every price it could not query marked unconfirmed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from ops.cli.console import out
from ops.errors import CruddurError
from ops.offline.cost import default_prices_dir, price_file

PRICE_LIST_REGION = "us-east-1"  # the Price List Query API's endpoint (ap-south-1 and eu-central-1 serve it too)
SOURCE = "AWS Price List Query API"
TEMPLATE_REGION = "eu-west-1"


@dataclass(frozen=True)
class Query:
    """One GetProducts query and how to pick the product and the price dimension from its answer."""

    service: str
    filters: dict[str, str]
    usagetype: str = ""  # the usage type after the region prefix ("EU-"/"EUC1-"), when the filters do not pin it
    unit: str = ""  # the price dimension's unit ("Hrs", "GB-Mo", ...)

    def api_filters(self, region: str) -> list[dict[str, str]]:
        pairs = {"regionCode": region, **self.filters}
        return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in pairs.items()]

    def matches(self, product: dict) -> bool:
        usagetype = product.get("attributes", {}).get("usagetype", "")
        return not self.usagetype or usagetype == self.usagetype or usagetype.endswith("-" + self.usagetype)


def _rds_instance(instance_class: str) -> Query:
    return Query("AmazonRDS", {"productFamily": "Database Instance", "instanceType": instance_class,
                               "databaseEngine": "PostgreSQL", "deploymentOption": "Single-AZ"}, unit="Hrs")


def _rds_storage(volume_type: str) -> Query:
    return Query("AmazonRDS", {"productFamily": "Database Storage", "volumeType": volume_type,
                               "databaseEngine": "PostgreSQL", "deploymentOption": "Single-AZ"}, unit="GB-Mo")


QUERIES: dict[str, Query] = {
    "rds.storage.gp3": _rds_storage("General Purpose-GP3"),
    "rds.storage.gp2": _rds_storage("General Purpose"),
    "rds.backup_storage": Query("AmazonRDS", {"productFamily": "Storage Snapshot"},
                                usagetype="RDS:ChargedBackupUsage", unit="GB-Mo"),
    "vpc.interface_endpoint.az_hour": Query("AmazonVPC", {"productFamily": "VpcEndpoint"},
                                            usagetype="VpcEndpoint-Hours", unit="Hrs"),
    "vpc.interface_endpoint.gb": Query("AmazonVPC", {"productFamily": "VpcEndpoint"},
                                       usagetype="VpcEndpoint-Bytes", unit="GB"),
    "kms.key.month": Query("awskms", {"productFamily": "Encryption Key"}, usagetype="KMS-Keys"),
    "secretsmanager.secret.month": Query("AWSSecretsManager", {"productFamily": "Secret"},
                                         usagetype="AWSSecretsManager-Secrets"),
    "cloudwatch.alarm.standard.month": Query("AmazonCloudWatch", {"productFamily": "Alarm"},
                                             usagetype="CW:AlarmMonitorUsage"),
    "logs.ingestion.gb": Query("AmazonCloudWatch", {"productFamily": "Data Payload"},
                               usagetype="DataProcessing-Bytes", unit="GB"),
    "logs.storage.gb_month": Query("AmazonCloudWatch", {"productFamily": "Storage Snapshot"},
                                   usagetype="TimedStorage-ByteHrs", unit="GB-Mo"),
    "s3.standard.gb_month": Query("AmazonS3", {"productFamily": "Storage", "volumeType": "Standard"},
                                  usagetype="TimedStorage-ByteHrs", unit="GB-Mo"),
}


def query_for(key: str) -> Query | None:
    if key.startswith("rds.instance."):
        return _rds_instance(key.removeprefix("rds.instance."))
    return QUERIES.get(key)


@dataclass(frozen=True)
class Found:
    usd: Decimal
    sku: str
    effective: str
    vcpu: int | None


def _on_demand(product: dict, unit: str) -> tuple[Decimal, str] | None:
    """The first tier's USD price of the product's on-demand term (and the term's effective date)."""
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        dimensions = sorted(term.get("priceDimensions", {}).values(), key=lambda d: float(d.get("beginRange", 0)))
        for dimension in dimensions:
            if unit and dimension.get("unit") != unit:
                continue
            price = dimension.get("pricePerUnit", {}).get("USD")
            if price is not None:
                return Decimal(price), str(term.get("effectiveDate", ""))[:10]
    return None


def lookup(client: Any, region: str, query: Query) -> Found | None:
    """The product ``query`` selects in ``region`` (GetProducts pages read to the end), or None."""
    token = None
    candidates: list[Found] = []
    while True:
        kwargs = {"ServiceCode": query.service, "Filters": query.api_filters(region), "FormatVersion": "aws_v1",
                  "MaxResults": 100}
        if token:
            kwargs["NextToken"] = token
        answer = client.get_products(**kwargs)
        for text in answer.get("PriceList", []):
            document = json.loads(text)
            product = document.get("product", {})
            if not query.matches(product):
                continue
            price = _on_demand(document, query.unit)
            if price is None or price[0] <= 0:
                continue
            vcpu = product.get("attributes", {}).get("vcpu")
            candidates.append(Found(price[0], str(product.get("sku", "")), price[1],
                                    int(vcpu) if str(vcpu or "").isdigit() else None))
        token = answer.get("NextToken")
        if not token:
            break
    return min(candidates, key=lambda f: f.usd) if candidates else None


def refresh(client: Any, region: str, path: Path, today: str, template: Path | None = None,
            report: Callable[[str], None] = lambda line: None) -> dict[str, list[str]]:
    """Rewrite ``path`` (or create it from ``template``) with the prices the API serves for ``region``; returns
    {"updated": [...], "kept": [...], "missing": [...]} keys."""
    source = path if path.exists() else template
    if source is None or not source.exists():
        raise CruddurError(f"no price file {path.name} and no template to start it from")
    document = json.loads(source.read_text(encoding="utf-8"))
    if source != path:
        document["region"] = region
        document.pop("location", None)
    outcome: dict[str, list[str]] = {"updated": [], "kept": [], "missing": []}
    for key, entry in document["prices"].items():
        query = query_for(key)
        found = lookup(client, region, query) if query else None
        if found is not None:
            entry.update({"usd": float(found.usd), "source": SOURCE, "read": today,
                          "note": f"sku {found.sku}, on-demand, effective {found.effective}"})
            if found.vcpu is not None:
                entry["vcpu"] = found.vcpu
            outcome["updated"].append(key)
            report(f"{key}: {found.usd.normalize():f} USD per {entry['unit']} (sku {found.sku})")
            continue
        outcome["missing" if query else "kept"].append(key)
        if source != path:
            entry["note"] = (f"unconfirmed: copied from {source.name}; no Price List answer for {region}, check it")
    document["prices"] = dict(sorted(document["prices"].items()))
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return outcome


def _client():
    import boto3

    return boto3.client("pricing", region_name=PRICE_LIST_REGION)


prices_app = typer.Typer(help="The price files the cost estimate reads (ops/offline/prices/<region>.json).",
                         no_args_is_help=True)


@prices_app.command("refresh")
def refresh_cmd(
    region: Annotated[str, typer.Option("--region", show_default=False, help="The region whose prices to refresh.")],
    file: Annotated[Path | None, typer.Option("--file", show_default=False, dir_okay=False,
                                               help="Write here instead of ops/offline/prices/<region>.json.")] = None,
) -> None:
    """Refresh a region's price file from the AWS Price List Query API (needs AWS credentials; never run by plan)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    path = file or price_file(region)
    try:
        outcome = refresh(_client(), region, path, date.today().isoformat(), default_prices_dir() / f"{TEMPLATE_REGION}.json",
                          report=lambda line: out.print(line))
    except NoCredentialsError:
        raise CruddurError("prices refresh: no AWS credentials; the Price List Query API needs a signed-in "
                           "principal allowed pricing:GetProducts (set AWS_PROFILE or run `aws sso login`)") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CruddurError(f"prices refresh: the Price List Query API refused: {error.get('Code', '?')}: "
                           f"{error.get('Message', '')}") from None
    except BotoCoreError as exc:
        raise CruddurError(f"prices refresh: {exc}") from None
    out.print(f"{path}: {len(outcome['updated'])} price(s) refreshed, {len(outcome['kept'])} kept (no Price List "
              f"query), {len(outcome['missing'])} not found")
    if outcome["missing"]:
        out.print("not found (kept as they were): " + ", ".join(outcome["missing"]))


def register(root: typer.Typer) -> None:
    """Mount ``cruddur prices`` on the root CLI (``ops/cli/__init__.py``)."""
    root.add_typer(prices_app, name="prices")
