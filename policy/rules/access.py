"""Who may do what: every policy document in any resource's inputs, whatever the property is called (bucket, topic,
queue, secret and key policies, trust and inline role policies, endpoint and vault policies...), goes through the
same checks, and so do the grants that are not documents (a ``principal`` of ``"*"``).

- ``resource-policy-not-public``: no Allow to anyone (``"*"``, ``{"AWS": "*"}``, ``{"AWS": ["*"]}``, a
  ``NotPrincipal``) unless a condition pins a narrowing key to fixed values; an anonymous user id or source
  addresses that together cover the world narrow nothing;
- ``policy-documents-least-privilege``: no Allow of every action on every resource, outside a KMS key policy
  (whose ``Resource: "*"`` is the key itself);
- ``policy-documents-same-account`` (stack): no document, grant or ARN in any input names an account other than
  the stack's own (the account of the stack's resources' ARNs) unless the pack's config ``trustedAccounts`` names it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .constants import (
    EVENT_TARGET,
    FLOW_LOG,
    IAM_POLICY_ATTACHMENT,
    IAM_ROLE,
    IAM_ROLE_POLICY_ATTACHMENT,
    KMS_KEY,
    KMS_KEY_POLICY,
    LAMBDA_LAYER_PERMISSION,
    LAMBDA_PERMISSION,
    REVIEWED_MANAGED_POLICIES,
)
from .documents import account_of, accounts_named, admin_statements, documents_in, public_statements
from .props import as_list, known, parse_json, plain, policy_config, short_type
from .registry import EVERY_TYPE, Subject, resource_rule, stack_rule

PUBLIC_FIX = ("name the principals, or add a condition that narrows them (aws:PrincipalOrgID, aws:PrincipalAccount, "
              "aws:SourceArn, aws:SourceAccount, aws:SourceVpce...)")
# Types whose own rule judges their `principal` (one message per problem).
_OWN_PRINCIPAL_RULE = (LAMBDA_PERMISSION, LAMBDA_LAYER_PERMISSION)


@resource_rule("resource-policy-not-public", types=EVERY_TYPE,
               description="No policy document, in any property of any resource, allows everyone ('Principal: *', "
                           "{\"AWS\": \"*\"}, a NotPrincipal) without a condition that narrows it to named accounts, "
                           "organizations or sources (an anonymous user id or source addresses covering the world "
                           "do not); no grant names the principal '*'.",
               practices=("no-public-access", "least-privilege"))
def resource_policy_not_public(r: Subject) -> list[str]:
    problems = [f"{r.label} {path} lets anyone (Principal '*') {actions} ({label}); {PUBLIC_FIX}"
                for path, document in documents_in(r.props) for label, actions in public_statements(document)]
    principal = r.props.get("principal")
    if r.type not in _OWN_PRINCIPAL_RULE and isinstance(principal, str) and principal.strip() == "*":
        problems.append(f"{r.label} grants its access to anyone (principal '*'); name the one service or account")
    return problems


@resource_rule("policy-documents-least-privilege", types=EVERY_TYPE,
               description="No policy document allows every action on every resource (Action '*' or a NotAction, "
                           "with Resource '*' or a NotResource), except a KMS key policy, whose '*' is its own key.",
               practices=("least-privilege",))
def policy_documents_least_privilege(r: Subject) -> list[str]:
    if r.type in (KMS_KEY, KMS_KEY_POLICY):
        return []
    return [f"{r.label} {path} allows every action on every resource ({label}); name the actions and the "
            "resources the principal needs" for path, document in documents_in(r.props)
            for label in admin_statements(document)]


@resource_rule("iam-managed-policies-reviewed", types=(IAM_ROLE, IAM_ROLE_POLICY_ATTACHMENT, IAM_POLICY_ATTACHMENT),
               description="A role gets an AWS managed policy (attached, or in managed_policy_arns) only when the pack "
                           "has reviewed it (REVIEWED_MANAGED_POLICIES: the service-role policies the program uses); "
                           "anything broader (AdministratorAccess, PowerUserAccess...) is written as a document of "
                           "this stack, which the document rules judge.",
               practices=("least-privilege",))
def iam_managed_policies_reviewed(r: Subject) -> list[str]:
    arns = as_list(r.props.get("managedPolicyArns")) if r.type == IAM_ROLE else [r.props.get("policyArn")]
    problems = []
    for arn in arns:
        if not isinstance(arn, str) or ":policy/" not in arn or arn.split(":")[4:5] != ["aws"]:
            continue  # not known yet, or a policy of this account (its document is judged where it is declared)
        name = arn.split(":policy/", 1)[1]
        if name not in REVIEWED_MANAGED_POLICIES:
            problems.append(f"{r.label} attaches the AWS managed policy {name}, which the pack has not reviewed; write "
                            "the permissions the role needs as a policy of this stack, or add the policy to "
                            "REVIEWED_MANAGED_POLICIES (policy/rules/constants.py) with the reason")
    return problems


def _own_account(resources) -> str | None:
    """The stack's account: the one most of its AWS resources' ARNs name (None while none is known)."""
    accounts = Counter()
    for resource in resources:
        if not resource.resource_type.startswith("aws:"):
            continue
        props = plain(resource.props)
        if isinstance(props, dict) and (account := account_of(props.get("arn"))):
            accounts[account] += 1
    return accounts.most_common(1)[0][0] if accounts else None


def _accounts_in(value: Any, path: str, document: bool = False) -> list[tuple[str, str]]:
    """(property path, account) for every account ``value`` names: in ARNs anywhere (a policy's principals and
    resources, an event target, a backup copy's vault, a flow log's destination...), in a document's principals and
    account conditions, and in a grant's ``principal``/``sourceAccount``. Paths stop at a document."""
    found: list[tuple[str, str]] = []
    if isinstance(value, str):
        parsed = parse_json(value) if value.lstrip().startswith("{") else None
        if isinstance(parsed, dict):
            return _accounts_in(parsed, path, document)
        if value.startswith("arn:") and (account := account_of(value)):
            found.append((path, account))
    elif isinstance(value, dict):
        inside = document or "Statement" in value
        if "Statement" in value:
            found += [(path, account) for account in accounts_named(value)]
        for key, item in value.items():
            found += _accounts_in(item, path if inside else (f"{path}.{key}" if path else str(key)), inside)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _accounts_in(item, path if document else f"{path}[{index}]", document)
    return found


@stack_rule("policy-documents-same-account", reads=(EVENT_TARGET, FLOW_LOG),
            description="No resource names an account other than the stack's own (the account of its resources' "
                        "ARNs): not in a document's principals, resources or account conditions, not in a grant, not "
                        "in any ARN of its inputs (an event target, a backup copy's vault, a flow log's "
                        "destination...), unless the pack's config trustedAccounts names it.",
            practices=("least-privilege",),
            config={"trustedAccounts": {"type": "array", "items": {"type": "string"}, "default": []}})
def policy_documents_same_account(args) -> list[str]:
    own = _own_account(args.resources)
    if own is None:
        return []  # no ARN known yet (a new stack at preview): judged at `pulumi up`
    allowed = {own, *(a for a in policy_config(args).get("trustedAccounts") or () if isinstance(a, str))}
    problems = []
    for resource in args.resources:
        props = plain(resource.props)
        if not isinstance(props, dict):
            continue
        label = f"{short_type(resource.resource_type)} '{resource.name}'"
        named: dict[str, set[str]] = {}
        for path, account in _accounts_in(props, ""):  # its own ARN too: a second provider may deploy elsewhere
            named.setdefault(path, set()).add(account)
        for key in ("principal", "sourceAccount"):  # a grant's bare account id
            if known(props.get(key)) and (account := account_of(props.get(key))):
                named.setdefault(key, set()).add(account)
        for path, accounts in named.items():
            others = sorted(accounts - allowed)
            if others:
                problems.append(f"{label} {path} names account {', '.join(others)}, not this stack's ({own}); name "
                                "only this account, or add the other to the pack's config trustedAccounts (a "
                                "reviewed change)")
    return problems
