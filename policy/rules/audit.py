"""The audit rules judged per resource: a CloudTrail trail that logs every management event, everywhere, verifiably.
(What the trail needs around it, its bucket and GuardDuty, the stack rules judge.)"""

from __future__ import annotations

from .constants import TRAIL
from .props import as_list, has_unknown, known, switched_off, truthy
from .registry import Subject, resource_rule


def _records_management_events(p: dict) -> bool | None:
    """Whether a trail records every management event, read and write (None when not known yet)."""
    advanced = p.get("advancedEventSelectors")
    basic = p.get("eventSelectors")
    if has_unknown(advanced) or has_unknown(basic):
        return None
    covered: set[str] = set()
    if as_list(advanced):
        for selector in as_list(advanced):
            fields = [f for f in as_list(selector.get("fieldSelectors") if isinstance(selector, dict) else None)
                      if isinstance(f, dict)]
            category = [f for f in fields if f.get("field") == "eventCategory"]
            if not any("Management" in as_list(f.get("equals")) for f in category):
                continue
            others = [f for f in fields if f.get("field") not in ("eventCategory", "readOnly")]
            if others:
                continue  # narrowed to some event sources
            read_only = [f for f in fields if f.get("field") == "readOnly"]
            if not read_only:
                covered |= {"read", "write"}
            for f in read_only:
                for value in as_list(f.get("equals")):
                    covered.add("read" if str(value).lower() == "true" else "write")
        return covered == {"read", "write"}
    if not as_list(basic):
        return True  # no selectors: CloudTrail records all management events
    for selector in as_list(basic):
        if not isinstance(selector, dict):
            continue
        if not truthy(selector.get("includeManagementEvents", True)):
            continue
        if as_list(selector.get("excludeManagementEventSources")):
            continue
        kind = selector.get("readWriteType") or "All"
        covered |= {"All": {"read", "write"}, "ReadOnly": {"read"}, "WriteOnly": {"write"}}.get(kind, set())
    return covered == {"read", "write"}


@resource_rule("cloudtrail-hardened", types=(TRAIL,),
               description="CloudTrail trails are logging, record every management event, are multi-region, include "
                           "global service events, validate their log files, are encrypted with a "
                           "customer-managed KMS key and notify an SNS topic of each log file delivered.",
               practices=("audit-trail",))
def cloudtrail_hardened(r: Subject) -> list[str]:
    p = r.props
    problems = []
    if switched_off(p.get("enableLogging", True)):
        problems.append(f"{r.label} is not logging; set enable_logging=True")
    if _records_management_events(p) is False:
        problems.append(f"{r.label} does not record every management event (read and write); record them with an "
                        "event selector (include_management_events=True, read_write_type='All') or an advanced "
                        "selector on eventCategory=Management")
    checks = [
        ("isMultiRegionTrail", False, "records one region only; set is_multi_region_trail=True"),
        ("includeGlobalServiceEvents", True, "skips global service events (IAM, STS); "
                                             "set include_global_service_events=True"),
        ("enableLogFileValidation", False, "has log file validation off; set enable_log_file_validation=True"),
    ]
    for key, default, why in checks:
        if switched_off(p.get(key, default)):
            problems.append(f"{r.label} {why}")
    key = p.get("kmsKeyId")
    if known(key) and not key:
        problems.append(f"{r.label} log files are not encrypted with a customer-managed KMS key; set kms_key_id")
    topic = p.get("snsTopicName")
    if known(topic) and not topic:
        problems.append(f"{r.label} notifies no SNS topic of delivered log files; set sns_topic_name to the trail's "
                        "encrypted topic (components/audit.py)")
    return problems

