"""Which stacks the pack judges as dev.

A stack is dev only when BOTH its name is not production-looking under the one rule of
``components/stack_names.py`` (``is_production_stack_name``: ``prod``, ``Prod``, ``eu-prod``, ``prodlike``,
``live``, ``prd``... are production-looking) AND its AWS provider's default tags say ``Environment: dev``. The
stack name is read from the resources' URNs (``urn:pulumi:<stack>::<project>::...``), which the engine writes and a
program cannot choose; a program can set its own tags, so tags alone never relax a rule on a production-looking
stack. Without a readable URN the tags decide; without either, the stack is prod.
"""

from __future__ import annotations

from typing import Any

from stack_names import is_production_stack_name

from .constants import AWS_PROVIDER
from .props import parse_json, plain


def stack_name_from_urn(urn: Any) -> str | None:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` -> ``<stack>`` (None when ``urn`` is not a Pulumi URN)."""
    prefix = "urn:pulumi:"
    if not isinstance(urn, str) or not urn.startswith(prefix):
        return None
    stack, separator, _ = urn[len(prefix):].partition("::")
    return stack if separator and stack else None


def environment_from_provider_props(props: Any) -> str | None:
    """The ``Environment`` default tag of an AWS provider's props (a JSON string or an object), if known."""
    props = plain(props) or {}
    default_tags = parse_json(props.get("defaultTags")) if isinstance(props, dict) else None
    if not isinstance(default_tags, dict):
        return None
    tags = default_tags.get("tags")
    tags = parse_json(tags)
    if not isinstance(tags, dict):
        return None
    value = tags.get("Environment")
    return value if isinstance(value, str) else None


def _judged(stack_names: list[str], tagged_dev: bool) -> str:
    """A production-looking stack name is prod whatever the tags; otherwise the tags decide (dev only if they say)."""
    if any(is_production_stack_name(name) for name in stack_names):
        return "prod"
    return "dev" if tagged_dev else "prod"


def resource_environment(args: Any) -> str:
    """"dev" when the stack's name is not production-looking and the resource's provider is tagged
    Environment=dev; otherwise "prod" (the strict rules)."""
    name = stack_name_from_urn(getattr(args, "urn", None))
    provider = getattr(args, "provider", None)
    tagged_dev = provider is not None and environment_from_provider_props(provider.props) == "dev"
    return _judged([name] if name else [], tagged_dev)


def stack_environment(args: Any) -> str:
    """"dev" when no resource's stack name is production-looking and the stack's AWS providers are tagged
    Environment=dev (none says otherwise); else "prod"."""
    names = sorted({n for r in args.resources if (n := stack_name_from_urn(getattr(r, "urn", None)))})
    tagged = [environment_from_provider_props(r.props) for r in args.resources if r.resource_type == AWS_PROVIDER]
    tagged = [t for t in tagged if t is not None]
    return _judged(names, bool(tagged) and all(t == "dev" for t in tagged))

