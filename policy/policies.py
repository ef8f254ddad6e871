"""The cruddur-db guardrails: one CrossGuard policy per practice, as plain, unit-testable validators.

This module is the pack as ``__main__.py`` (``PACK_NAME``, ``build_policies``) and ``ops/offline/verdicts.py``
(imported from the pack's folder, as the pack imports it) see it. The rules live in ``rules/``, one module per
concern, registered in ``rules.RULE_MODULES`` order:

- ``rules/registry.py``: ``@resource_rule``/``@stack_rule``, ``RULES``, ``rule()``, ``build_policies()`` and the
  README's practices table (``rules/practices.py``: the project's security practices);
- ``rules/props.py``: reading the engine's props (an unknown value is never a violation);
- ``rules/environment.py``: which stacks are dev (the stack's name alone: dev-looking and not production-looking);
- ``rules/allowlist.py``: the resource types the pack knows (every type a rule names, plus a short reviewed list);
  any other type is a violation;
- ``rules/constants.py``: the resource type tokens and the constants shared with ``components/settings.py``;
- ``rules/documents.py``: reading IAM policy documents (who a statement lets in, TLS-only denies);
- the rules: ``access`` (policy documents wherever they appear, grants), ``database`` (RDS), ``network`` (security
  groups, prefix lists), ``secrets`` (secrets, keys), ``audit`` (CloudTrail), ``evidence`` (trail retention,
  GuardDuty filters, long-lived credentials), ``storage`` (S3), ``functions`` (Lambda, Cognito), ``stack`` (the
  stack rules that join resources of several kinds) and ``budget`` (the estimated fixed cost within the budget).

The pack must stay importable on its own (it runs in its own virtualenv): it imports only the standard library,
``pulumi_policy`` and the pack's own ``cidrs.py``, ``stack_names.py``, ``cost.py`` and ``prices/`` (git symbolic
links to ``components/cidrs.py``, ``components/stack_names.py``, ``ops/offline/cost.py`` and its price files: one
source each); constants shared with ``components/settings.py`` are repeated in ``rules/constants.py`` and tests/policy
keeps them equal.
"""

from __future__ import annotations

import rules  # noqa: F401 - registers every rule, in rules.RULE_MODULES order
from rules.allowlist import REVIEWED_TYPES, known_types
from rules.constants import (
    COGNITO_MIN_PASSWORD_LENGTH,
    DEFAULT_ALLOWED_REGIONS,
    PROD_MIN_BACKUP_DAYS,
    PROD_MIN_TRAIL_EXPIRE_DAYS,
    RDS_LOG_EXPORTS,
    RESERVED_USERNAMES,
)
from rules.environment import is_dev_stack_name, resource_environment, stack_environment, stack_name_from_urn
from rules.practices import PRACTICES
from rules.props import UNKNOWN, plain, short_type
from rules.registry import RULES, Rule, build_policies, practices_table, resource_rule, rule, stack_rule
from rules.stack import postgres_family

PACK_NAME = "cruddur-db-guardrails"

__all__ = [
    "COGNITO_MIN_PASSWORD_LENGTH", "DEFAULT_ALLOWED_REGIONS", "PACK_NAME", "PRACTICES", "PROD_MIN_BACKUP_DAYS",
    "PROD_MIN_TRAIL_EXPIRE_DAYS", "RDS_LOG_EXPORTS", "RESERVED_USERNAMES", "REVIEWED_TYPES", "RULES", "UNKNOWN",
    "Rule", "build_policies", "is_dev_stack_name", "known_types", "plain", "postgres_family", "practices_table",
    "resource_environment", "resource_rule", "rule", "short_type", "stack_environment", "stack_name_from_urn",
    "stack_rule",
]
