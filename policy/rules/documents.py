"""Reading IAM policy documents (bucket, secret and key policies): who a statement lets in, and whether a document
denies every request made without TLS."""

from __future__ import annotations

import fnmatch
from typing import Any

from cidrs import too_wide

from .props import UNKNOWN, as_list, has_unknown, parse_json

# Condition keys whose fixed value narrows "Principal: *" to named accounts, organizations, sources or networks.
NARROWING_KEYS = frozenset(k.lower() for k in (
    "aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:PrincipalAccount", "aws:PrincipalArn", "aws:userid",
    "aws:SourceArn", "aws:SourceAccount", "aws:SourceOwner", "aws:SourceOrgID", "aws:SourceVpc", "aws:SourceVpce",
    "aws:SourceIp", "kms:CallerAccount"))

def is_everyone(principal: Any) -> bool:
    """``"*"``, ``{"AWS": "*"}`` or a list holding ``"*"``: anyone, any account."""
    if isinstance(principal, str):
        return principal.strip() == "*"
    if isinstance(principal, dict):
        return any(isinstance(v, str) and v.strip() == "*" for v in as_list(principal.get("AWS")))
    return False


def _narrowed(condition: Any) -> bool:
    """Whether a statement's Condition pins a narrowing key to fixed values (no wildcard, not ...IfExists)."""
    if not isinstance(condition, dict):
        return False
    for operator, pairs in condition.items():
        if not isinstance(operator, str) or not isinstance(pairs, dict) or operator.endswith("IfExists"):
            continue
        if operator.startswith("ForAllValues:"):
            continue  # true when the key is absent: it narrows nothing
        if operator.split(":")[-1] in ("Null", "StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike",
                                       "NotIpAddress", "StringNotEqualsIgnoreCase"):
            continue
        for key, values in pairs.items():
            if not isinstance(key, str) or key.lower() not in NARROWING_KEYS:
                continue
            values = as_list(values)
            if not values or not all(isinstance(v, str) and v and "*" not in v and "?" not in v for v in values):
                continue
            if key.lower() == "aws:sourceip" and too_wide(values):
                continue
            return True
    return False


def public_statements(document: Any) -> list[tuple[str, str]]:
    """(statement label, actions) for each Allow statement of a policy document that lets anyone in."""
    document = parse_json(document)
    if not isinstance(document, dict):
        return []
    found = []
    for index, statement in enumerate(as_list(document.get("Statement"))):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow" or has_unknown(statement):
            continue
        everyone = is_everyone(statement.get("Principal")) or "NotPrincipal" in statement
        if not everyone or _narrowed(statement.get("Condition")):
            continue
        actions = [a for a in as_list(statement.get("Action") or statement.get("NotAction")) if isinstance(a, str)]
        sid = statement.get("Sid")
        label = f"statement '{sid}'" if isinstance(sid, str) and sid else f"statement {index + 1}"
        found.append((label, ", ".join(actions) or "anything"))
    return found


def _arn_matches(pattern: Any, arn: str) -> bool:
    if not isinstance(pattern, str):
        return False
    for partition in ("arn:aws-cn:", "arn:aws-us-gov:"):
        if pattern.startswith(partition):
            pattern = "arn:aws:" + pattern[len(partition):]
    return fnmatch.fnmatchcase(arn, pattern)


def _denies_without_tls(statement: dict, bucket: Any) -> bool:
    if statement.get("Effect") != "Deny" or "NotPrincipal" in statement or "NotAction" in statement:
        return False
    if not is_everyone(statement.get("Principal")):
        return False
    if not any(isinstance(a, str) and a.lower() in ("s3:*", "*") for a in as_list(statement.get("Action"))):
        return False
    if isinstance(bucket, str) and bucket:
        resources = as_list(statement.get("Resource"))
        targets = (f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*")
        if not all(any(_arn_matches(pattern, t) for pattern in resources) for t in targets):
            return False
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return False
    for operator in ("Bool", "BoolIfExists"):
        pairs = condition.get(operator)
        if not isinstance(pairs, dict):
            continue
        for key, values in pairs.items():  # condition keys are case-insensitive
            if isinstance(key, str) and key.lower() == "aws:securetransport" and any(
                    str(v).lower() == "false" for v in as_list(values)):
                return True
    return False


def denies_insecure_transport(document: Any, bucket: Any = None) -> bool | None:
    """Whether a bucket policy document denies every non-TLS request to everyone, on ``bucket`` and its objects
    when the bucket's name is known (None when the document is not known yet)."""
    document = parse_json(document)
    if document is UNKNOWN:
        return None
    if not isinstance(document, dict):
        return False
    return any(isinstance(s, dict) and _denies_without_tls(s, bucket) for s in as_list(document.get("Statement")))
