"""Which stack names are production: ONE case-insensitive rule, shared by the settings (a production-looking
stack may not declare itself dev), the runbook CLI (a production-looking stack is protected) and the policy pack
(a production-looking stack is judged as prod whatever its tags).

The name is lower-cased and split into words on anything that is not a letter or digit; each word is read without
its trailing digits (``prd01`` -> ``prd``, ``live2`` -> ``live``). A name is production-looking when a word

- is, or ends with, ``prod``, ``production``, ``prd`` or ``live`` (``prod``, ``eu-prod``, ``euprod``,
  ``cruddurprod``, ``prd01``, ``live2``, ``cruddur-production``), or
- starts with ``prod`` (``prodlike``, ``prod2``, ``prodeu``).

``Prod``, ``PROD`` and ``euProd`` are production-looking too (case does not matter); ``dev``, ``staging``,
``alice-dev``, ``test1`` are not. The rule leans wide on purpose: a false positive (``preprod``, ``olive``) costs a
``--force`` or a prod-sized stack, a false negative drops a production database.
The policy pack's ``policy/stack_names.py`` is a symbolic link to this file (the pack imports only its own folder).
"""

from __future__ import annotations

import re

PRODUCTION_WORDS = ("production", "prod", "prd", "live")


def is_production_stack_name(stack: str) -> bool:
    for word in re.split(r"[^a-z0-9]+", stack.strip().lower()):
        stem = word.rstrip("0123456789")
        if stem.startswith("prod") or stem.endswith(PRODUCTION_WORDS):
            return True
    return False
