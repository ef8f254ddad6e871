"""Which stack names are production, and which are dev: ONE case-insensitive rule each, shared by the settings (only
a dev-looking stack may declare itself dev), the runbook CLI (a production-looking stack is protected) and the
policy pack (which cannot read a stack's settings and judges a stack by its name alone: dev-looking is dev,
anything else prod).

The name is lower-cased and split into words on anything that is not a letter or digit; each word is read without
its trailing digits (``prd01`` -> ``prd``, ``live2`` -> ``live``). A name is production-looking when a word

- is, or ends with, ``prod``, ``production``, ``prd`` or ``live`` (``prod``, ``eu-prod``, ``euprod``,
  ``cruddurprod``, ``prd01``, ``live2``, ``cruddur-production``), or
- starts with ``prod`` (``prodlike``, ``prod2``, ``prodeu``).

``Prod``, ``PROD`` and ``euProd`` are production-looking too (case does not matter); ``dev``, ``staging``,
``alice-dev``, ``test1`` are not. The rule leans wide on purpose: a false positive (``preprod``, ``olive``) costs a
``--force`` or a prod-sized stack, a false negative drops a production database.

A name is dev-looking when it is not production-looking and a word (trailing digits dropped) is ``dev`` or
``development`` or starts with ``dev`` (``dev``, ``alice-dev``, ``dev2``, ``devbox``). ``staging``, ``sandbox`` and
``test1`` are neither: they are judged as prod, the strict side.
The policy pack's ``policy/stack_names.py`` is a symbolic link to this file (the pack imports only its own folder).
"""

from __future__ import annotations

import re

PRODUCTION_WORDS = ("production", "prod", "prd", "live")
DEV_WORDS = ("dev", "development")


def _stems(stack: str) -> list[str]:
    return [w.rstrip("0123456789") for w in re.split(r"[^a-z0-9]+", stack.strip().lower()) if w]


def is_production_stack_name(stack: str) -> bool:
    return any(stem.startswith("prod") or stem.endswith(PRODUCTION_WORDS) for stem in _stems(stack))


def is_dev_stack_name(stack: str) -> bool:
    """Whether a stack's name says dev (and not production): ``dev``, ``alice-dev``, ``dev2``, ``development``."""
    if is_production_stack_name(stack):
        return False
    return any(stem in DEV_WORDS or stem.startswith("dev") for stem in _stems(stack))
