"""The pack's rules, one module per concern, and what they share.

Importing the package registers every rule, the rule modules in ``RULE_MODULES`` order: the order of ``RULES``,
so of the policies the pack serves and of the README's tables.
"""

import importlib

RULE_MODULES = ("allowlist", "access", "database", "proxy", "network", "secrets", "audit", "evidence", "storage",
                "functions", "stack", "budget")

for _module in RULE_MODULES:
    importlib.import_module(f"{__name__}.{_module}")
