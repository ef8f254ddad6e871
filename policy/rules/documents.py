"""Reading IAM policy documents wherever they appear in a resource's inputs (any property, a JSON string or an
object with a ``Statement``): who a statement lets in, which accounts it names, whether it grants every action on
every resource, and whether a document denies every request made without TLS."""

from __future__ import annotations

import fnmatch
from typing import Any

from cidrs import too_wide

from .props import UNKNOWN, as_list, has_unknown, known, parse_json

# Condition keys whose fixed value narrows "Principal: *" to named accounts, organizations, sources or networks.
NARROWING_KEYS = frozenset(k.lower() for k in (
    "aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:PrincipalAccount", "aws:PrincipalArn", "aws:userid",
    "aws:SourceArn", "aws:SourceAccount", "aws:SourceOwner", "aws:SourceOrgID", "aws:SourceVpc", "aws:SourceVpce",
    "aws:SourceIp", "kms:CallerAccount"))

# Condition keys whose values name accounts, and the ones whose values are ARNs (their account is the 5th field).
ACCOUNT_KEYS = frozenset(k.lower() for k in (
    "aws:SourceAccount", "aws:PrincipalAccount", "aws:SourceOwner", "aws:ResourceAccount", "kms:CallerAccount"))
ARN_KEYS = frozenset(k.lower() for k in ("aws:SourceArn", "aws:PrincipalArn"))


def documents_in(props: Any, path: str = "") -> list[tuple[str, dict]]:
    """(property path, document) for every policy document in ``props``: an object with a ``Statement``, or a
    string that parses to one, under any property name, at any depth (``inlinePolicies[0].policy``)."""
    found: list[tuple[str, dict]] = []
    if isinstance(props, str) and props.lstrip().startswith("{"):
        parsed = parse_json(props)
        if isinstance(parsed, dict) and "Statement" in parsed:
            found.append((path, parsed))
    elif isinstance(props, dict):
        if "Statement" in props:
            return [(path, props)]
        for key, value in props.items():
            found += documents_in(value, f"{path}.{key}" if path else str(key))
    elif isinstance(props, list):
        for index, value in enumerate(props):
            found += documents_in(value, f"{path}[{index}]")
    return found


def statements(document: dict) -> list[tuple[str, dict]]:
    """(label, statement) for each statement that is an object."""
    found = []
    for index, statement in enumerate(as_list(document.get("Statement"))):
        if isinstance(statement, dict):
            sid = statement.get("Sid")
            found.append((f"statement '{sid}'" if isinstance(sid, str) and sid else f"statement {index + 1}",
                          statement))
    return found


def _principal_values(principal: Any) -> list[Any]:
    if isinstance(principal, dict):
        return [v for values in principal.values() for v in as_list(values)]
    return as_list(principal)


def is_everyone(principal: Any) -> bool:
    """``"*"``, ``{"AWS": "*"}``, ``{"AWS": ["*"]}``, any principal kind holding ``"*"``, or a principal ARN with a
    wildcard (IAM reads it as ``*``): anyone, any account."""
    return any(isinstance(v, str) and "*" in v for v in _principal_values(principal))


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
                continue  # source addresses that together cover the world narrow nothing
            if key.lower() == "aws:userid" and any("anonymous" in v.lower() for v in values):
                continue  # the user id of an unsigned request: anyone
            return True
    return False


def public_statements(document: Any) -> list[tuple[str, str]]:
    """(statement label, actions) for each Allow statement of a policy document that lets anyone in."""
    document = parse_json(document)
    if not isinstance(document, dict):
        return []
    found = []
    for label, statement in statements(document):
        who = (statement.get("Effect"), statement.get("Principal"), statement.get("NotPrincipal"),
               statement.get("Condition"))
        if statement.get("Effect") != "Allow" or has_unknown(who):
            continue  # decided on what is known: the effect, the principal and the condition
        everyone = is_everyone(statement.get("Principal")) or "NotPrincipal" in statement
        if not everyone or _narrowed(statement.get("Condition")):
            continue
        actions = [a for a in as_list(statement.get("Action") or statement.get("NotAction")) if isinstance(a, str)]
        found.append((label, ", ".join(actions) or "anything"))
    return found


def _is_all(value: Any) -> bool:
    return any(isinstance(v, str) and v.strip() in ("*", "*:*") for v in as_list(value))


def admin_statements(document: Any) -> list[str]:
    """The labels of the Allow statements that grant every action (``Action: "*"``, or a ``NotAction``) on every
    resource (``Resource: "*"``, or a ``NotResource``)."""
    document = parse_json(document)
    if not isinstance(document, dict):
        return []
    found = []
    for label, statement in statements(document):
        if statement.get("Effect") != "Allow":
            continue
        every_action = _is_all(statement.get("Action")) or "NotAction" in statement
        every_resource = _is_all(statement.get("Resource")) or "NotResource" in statement
        if every_action and every_resource:
            found.append(label)
    return found


def account_of(value: Any) -> str | None:
    """The account a principal or condition value names: a 12-digit id, or the account field of an ARN."""
    if not isinstance(value, str) or not known(value):
        return None
    value = value.strip()
    if len(value) == 12 and value.isdigit():
        return value
    parts = value.split(":")
    if len(parts) > 5 and parts[0] == "arn" and len(parts[4]) == 12 and parts[4].isdigit():
        return parts[4]
    return None


def accounts_named(document: dict) -> set[str]:
    """Every account a document's principals (``AWS``) and account conditions name."""
    found = set()
    for _, statement in statements(document):
        for key in ("Principal", "NotPrincipal"):
            principal = statement.get(key)
            values = as_list(principal.get("AWS")) if isinstance(principal, dict) else as_list(principal)
            found |= {a for v in values if (a := account_of(v))}
        condition = statement.get("Condition")
        for pairs in (condition.values() if isinstance(condition, dict) else ()):
            for k, values in (pairs.items() if isinstance(pairs, dict) else ()):
                if isinstance(k, str) and k.lower() in ACCOUNT_KEYS | ARN_KEYS:
                    found |= {a for v in as_list(values) if (a := account_of(v))}
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
