"""The project's security practices: which settings of ``components/settings.py`` enforce each one; every rule
names the practices it enforces (``registry.practices_table()`` is the README's table)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Practice:
    title: str
    settings: tuple[str, ...]  # keys of components/settings.py that enforce it (a failing config names them)
    settings_note: str = ""


PRACTICES: dict[str, Practice] = {
    "region": Practice("region pinning / data residency", ("allowedRegions",),
                       "`aws:region` must be set and in `allowedRegions`"),
    "encryption-at-rest": Practice("encryption at rest", ("storageEncrypted",), "must be true on every stack"),
    "encryption-in-transit": Practice("encryption in transit (TLS)", (), ""),
    "no-public-access": Practice("no public access", ("publiclyAccessible",), "must be false on every stack"),
    "deletion-protection": Practice("deletion protection", ("deletionProtection", "skipFinalSnapshot",
                                                            "trailBucketForceDestroy", "protectStatefulResources"),
                                    "prod may not turn them off"),
    "audit-trail": Practice("audit trail", ("auditTrail", "trailLogRetentionDays", "trailBucketExpireDays",
                                            "logRetentionDays"),
                            "prod keeps its trail and minimum retentions"),
    "guardduty": Practice("GuardDuty", ("guardDuty", "guardDutyDetectorId"), "prod keeps it on"),
    "no-world-open": Practice("no 0.0.0.0/0", ("operatorCidrs",), "no range that opens the whole internet"),
    "secrets": Practice("secrets in Secrets Manager", ("masterPasswordRotationDays", "appPasswordRotationDays"),
                        "prod rotates both at least every 90 days"),
    "least-privilege": Practice("least privilege", (), ""),
    "strong-auth": Practice("strong auth (IAM auth / scram / Cognito password policy)", ("masterUsername",),
                            "no default admin name"),
    "disposal": Practice("disposing of unused databases", ("deletionProtection", "skipFinalSnapshot"),
                         "only a dev stack may drop its protections to be decommissioned"),
    "patched-runtimes": Practice("supported runtimes and engines", ("engineVersion",),
                                 "a supported PostgreSQL major version"),
    "signed-code": Practice("signed code (Lambda code signing, enforced)", (), ""),
    "safe-upgrades": Practice("major engine upgrades that keep the database", ("upgradeFromEngineVersion",),
                              "one major up at a time, never down; blue/green only while it is set"),
    "cost": Practice("fixed costs within the stack's budget", ("monthlyBudgetUsd",),
                     "the stack's AWS Budgets budget, and the pack's ceiling for the estimated fixed cost"),
}

