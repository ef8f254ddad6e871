"""Which stack names are production: ONE case-insensitive rule, shared by the settings (a production-looking
stack may not declare itself dev) and the runbook CLI (a production-looking stack is protected).

A name is production-looking when, lower-cased and split on anything that is not a letter or digit, a word is
``prod``, ``production``, ``prd`` or ``live``, or a word starts with ``prod`` (``prodlike``, ``prod2``).
``Prod``, ``PROD``, ``eu-prod``, ``prd``, ``live`` all are; ``dev``, ``staging``, ``alice-dev`` are not.
A false positive costs a ``--force``; a false negative drops a production database, so the rule leans wide.
The policy pack's ``policy/stack_names.py`` is a symbolic link to this file (the pack imports only its own folder).
"""

from __future__ import annotations

import re

PRODUCTION_WORDS = frozenset({"prod", "production", "prd", "live"})


def is_production_stack_name(stack: str) -> bool:
    words = [w for w in re.split(r"[^a-z0-9]+", stack.strip().lower()) if w]
    return any(w in PRODUCTION_WORDS or w.startswith("prod") for w in words)
