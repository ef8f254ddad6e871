"""The monthly fixed cost of dev and prod at their defaults, next to the seed's insecure setup and SST v3's
``sst.aws.Postgres`` defaults, all priced by the same estimator and price file (ops/offline/cost.py,
ops/offline/prices/eu-west-1.json): ``.venv/bin/python -m bench.run cost``.

dev and prod are the real program evaluated offline (no cloud); "dev, run schedule" is dev with
``dbRunSchedule="Mon-Fri 08:00-19:00 Europe/Dublin"``. The two references are written as the resources they declare:

- the seed (the bootcamp's week 4, by hand): ``aws rds create-db-instance`` with db.t3.micro, 20 GB gp2, publicly
  accessible (so one public IPv4 address), no backups, no secret, no key, no trail, no alarms;
- SST v3 ``sst.aws.Postgres`` defaults: db.t4g.micro, 20 GB gp3, 7 days of backups, its password in one Secrets
  Manager secret (platform/src/components/aws/postgres.ts).
"""

from __future__ import annotations

from dataclasses import dataclass

from ops.offline import cost
from ops.offline.stack_eval import evaluate

REGION = "eu-west-1"
WORKDAYS = "Mon-Fri 08:00-19:00 Europe/Dublin"
INSTANCE = "aws:rds/instance:Instance"


@dataclass(frozen=True)
class Declared:
    """A resource as the estimator reads it: its type, name and inputs."""
    type: str
    name: str
    props: dict


SEED = [Declared(INSTANCE, "cruddur-db", {"instanceClass": "db.t3.micro", "allocatedStorage": 20,
                                           "storageType": "gp2", "publiclyAccessible": True,
                                           "backupRetentionPeriod": 0, "multiAz": False})]
SST = [Declared(INSTANCE, "postgres", {"instanceClass": "db.t4g.micro", "allocatedStorage": 20, "storageType": "gp3",
                                       "backupRetentionPeriod": 7, "multiAz": False}),
       Declared("aws:secretsmanager/secret:Secret", "postgres-password", {})]


def estimates() -> dict[str, cost.Estimate]:
    """Each setup's estimate, by the name the table gives it."""
    dev, prod = evaluate("dev"), evaluate("prod")
    scheduled = evaluate("dev", overrides={"dbRunSchedule": WORKDAYS})
    return {
        "dev": cost.estimate(dev.resources, dev.outputs, REGION, stack="dev"),
        "dev, run schedule (55 h a week)": cost.estimate(scheduled.resources, scheduled.outputs, REGION, stack="dev"),
        "prod": cost.estimate(prod.resources, prod.outputs, REGION, stack="prod"),
        "the seed's setup (public, no backups)": cost.estimate(SEED, {}, REGION, stack="seed"),
        "SST v3 sst.aws.Postgres defaults": cost.estimate(SST, {}, REGION, stack="sst"),
    }


def biggest(estimate: cost.Estimate, count: int = 3) -> str:
    by_item: dict[str, float] = {}
    for line in estimate.lines:
        by_item[line.item] = by_item.get(line.item, 0.0) + float(line.monthly_usd)
    top = sorted(by_item.items(), key=lambda kv: -kv[1])[:count]
    return "; ".join(f"{item} {usd:.2f}" for item, usd in top)


def run() -> dict:
    return {"region": REGION, "price_file": f"ops/offline/prices/{REGION}.json",
            "rows": [{"setup": name, "fixed_usd": float(e.fixed_total), "biggest": biggest(e),
                      "unpriced": len(e.unpriced)} for name, e in estimates().items()]}


def table(result: dict) -> list[str]:
    lines = ["| setup | fixed USD/month | biggest lines |", "| --- | ---: | --- |"]
    lines += [f"| {r['setup']} | {r['fixed_usd']:.2f} | {r['biggest']} |" for r in result["rows"]]
    return lines


def print_result(result: dict) -> None:
    print(f"Fixed monthly cost, {result['region']} on-demand list prices ({result['price_file']}), free tiers not "
          "subtracted")
    print("\n".join(table(result)))
