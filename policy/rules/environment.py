"""Which stacks the pack judges as dev: the stack's NAME alone decides, never a tag.

The stack name is read from the resources' URNs (``urn:pulumi:<stack>::<project>::...``), which the engine writes
and a program cannot choose (``cruddur plan`` writes them from the stack it plans, whatever the program calls
itself). A stack is dev only when its name is dev-looking (``is_dev_stack_name``: a word ``dev``,
``development`` or starting with ``dev``: ``dev``, ``alice-dev``, ``dev2``) and not production-looking under the
one rule of ``components/stack_names.py`` (``is_production_stack_name``). Every other stack (``staging``,
``sandbox``, a URN that cannot be read) is prod. The provider's default tags, which a program sets and a second
provider can set differently, never relax a rule.
"""

from __future__ import annotations

from typing import Any

from stack_names import is_dev_stack_name


def stack_name_from_urn(urn: Any) -> str | None:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` -> ``<stack>`` (None when ``urn`` is not a Pulumi URN)."""
    prefix = "urn:pulumi:"
    if not isinstance(urn, str) or not urn.startswith(prefix):
        return None
    stack, separator, _ = urn[len(prefix):].partition("::")
    return stack if separator and stack else None


def _judged(stack_names: list[str]) -> str:
    """"dev" when there is a name and every name is dev-looking; otherwise "prod" (the strict rules)."""
    return "dev" if stack_names and all(is_dev_stack_name(name) for name in stack_names) else "prod"


def resource_environment(args: Any) -> str:
    """The environment of the stack the resource is in, by the stack name in its URN."""
    name = stack_name_from_urn(getattr(args, "urn", None))
    return _judged([name] if name else [])


def stack_environment(args: Any) -> str:
    """The environment of the stack, by the stack names in its resources' URNs (prod unless all say dev)."""
    return _judged(sorted({n for r in args.resources if (n := stack_name_from_urn(getattr(r, "urn", None)))}))
