"""The evidence rules: the trail's log files kept as long as the settings require, GuardDuty findings never
archived by a filter, and no long-lived IAM credentials (users with access keys or console passwords)."""

from __future__ import annotations

from typing import Any

from .constants import (
    BUCKET,
    BUCKET_LIFECYCLE,
    BUCKET_LIFECYCLE_V2,
    BUCKET_V2,
    GUARDDUTY_FILTER,
    IAM_ACCESS_KEY,
    IAM_LOGIN_PROFILE,
    IAM_USER,
    PROD_MIN_TRAIL_EXPIRE_DAYS,
    TRAIL,
)
from .props import as_list, as_number, known, of_type, truthy
from .registry import Subject, resource_rule, stack_rule

RETENTION_FIX = (f"expire them after at least {PROD_MIN_TRAIL_EXPIRE_DAYS} days "
                 "(cruddur-db:trailBucketExpireDays), or not at all")


def _overlaps(prefix: Any, trail_prefix: str) -> bool:
    """Whether a lifecycle rule's prefix may match the trail's log files (unknown or odd shapes: it may)."""
    if not isinstance(prefix, str):
        return True
    return trail_prefix.startswith(prefix) or prefix.startswith(trail_prefix)


def _rule_prefix(rule: dict) -> Any:
    filt = rule.get("filter")
    if isinstance(filt, dict):
        if isinstance(filt.get("and"), dict):
            return filt["and"].get("prefix") or ""
        return filt.get("prefix") or ""
    return rule.get("prefix") or ""


def _early_expirations(rules: list, trail_prefix: str) -> list[str]:
    """What each enabled rule matching the trail's files does too early ("after N days", "on DATE")."""
    found = []
    for rule in rules:
        if not isinstance(rule, dict):
            continue
        enabled = rule.get("status", "Enabled") if "enabled" not in rule else ("Enabled" if truthy(rule["enabled"])
                                                                              else "Disabled")
        if enabled != "Enabled" or not _overlaps(_rule_prefix(rule), trail_prefix):
            continue
        for expiration in as_list(rule.get("expiration")):
            if not isinstance(expiration, dict) or not known(expiration):
                continue
            days, date = expiration.get("days"), expiration.get("date")
            number = as_number(days) if known(days) else None
            if number is not None and 0 < number < PROD_MIN_TRAIL_EXPIRE_DAYS:
                found.append(f"after {int(number) if number.is_integer() else number} days")
            elif isinstance(date, str) and date:
                found.append(f"on {date}")
    return found


@stack_rule("cloudtrail-logs-retained", types=(TRAIL,), reads=(BUCKET_LIFECYCLE, BUCKET_LIFECYCLE_V2),
            description="No lifecycle rule of a trail's bucket (a BucketLifecycleConfiguration or a bucket's inline "
                        f"lifecycle_rules) expires the trail's log files before {PROD_MIN_TRAIL_EXPIRE_DAYS} days.",
            practices=("audit-trail",), prod_only=True, dev_advisory=False,
            dev_reason="a dev stack may keep its trail's files for fewer days (cruddur-db:trailBucketExpireDays)")
def cloudtrail_logs_retained(args) -> list[str]:
    trails = [(p.get("s3BucketName"), p.get("s3KeyPrefix") or "") for _, p in of_type(args, TRAIL)]
    trails = [(b, k if isinstance(k, str) else "") for b, k in trails if isinstance(b, str) and b]
    configured = [(r.name, p.get("bucket"), as_list(p.get("rules")))
                  for typ in (BUCKET_LIFECYCLE, BUCKET_LIFECYCLE_V2) for r, p in of_type(args, typ)]
    configured += [(r.name, p.get("bucket"), as_list(p.get("lifecycleRules")))
                   for typ in (BUCKET, BUCKET_V2) for r, p in of_type(args, typ)]
    problems = []
    for bucket, prefix in trails:
        for name, target, rules in configured:
            if target != bucket:
                continue
            for when in _early_expirations(rules, prefix):
                problems.append(f"'{name}' expires the trail's log files in bucket '{bucket}' {when}, before the "
                                f"{PROD_MIN_TRAIL_EXPIRE_DAYS} days prod keeps them; {RETENTION_FIX}")
    return problems


@resource_rule("guardduty-findings-not-archived", types=(GUARDDUTY_FILTER,),
               description="No GuardDuty filter archives findings (action ARCHIVE): a finding is evidence, and an "
                           "archived one reaches no one.",
               practices=("guardduty",))
def guardduty_findings_not_archived(r: Subject) -> list[str]:
    action = r.props.get("action")
    if isinstance(action, str) and action.strip().upper() == "ARCHIVE":
        return [f"{r.label} archives the findings it matches (action ARCHIVE), so no one sees them; use "
                "action='NOOP' to label them, or suppress the cause instead"]
    return []


@resource_rule("iam-no-long-lived-credentials", types=(IAM_USER, IAM_ACCESS_KEY, IAM_LOGIN_PROFILE),
               description="No IAM users, access keys or console login profiles: people and CI assume roles "
                           "(runbooks/ci-roles), and functions run as roles, so no credential lives for long.",
               practices=("least-privilege", "strong-auth"))
def iam_no_long_lived_credentials(r: Subject) -> list[str]:
    what = {IAM_USER: "an IAM user, whose credentials live until someone deletes them",
            IAM_ACCESS_KEY: "a long-lived access key", IAM_LOGIN_PROFILE: "a console password for an IAM user"}
    return [f"{r.label} is {what[r.type]}; grant access through a role that people and CI assume (short-lived "
            "credentials) instead"]
