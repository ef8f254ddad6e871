"""The pack's registry: each rule names its resource types ONCE, in its registration, and the pack dispatches on them.

- ``@resource_rule(name, types=..., description=..., practices=...)`` registers ``validate(subject) -> list[str]``
  (the violation messages, empty when compliant). It is called only for resources of those types (``EVERY_TYPE``:
  every custom resource, for the generic rules: the allowlist of types, documents wherever they appear), with a
  ``Subject``: ``label`` ("rds Instance 'db-instance'", the start of every message), ``props`` (the resource's
  inputs with the provider's camelCase names, as plain data), ``type``, ``name``, ``config`` and the engine's
  ``args`` (``pulumi_policy.ResourceValidationArgs``);
- ``@stack_rule(name, description=..., practices=..., types=...)`` registers ``validate(args) -> list[str]`` on a
  ``pulumi_policy.StackValidationArgs`` (``resources``: ``PolicyResource`` objects whose ``props`` are the
  resources' outputs); ``types`` there only says when the rule is not applicable (none of them in the stack).

``prod_only=True`` (with ``dev_reason=``) registers a prod-only practice as two policies sharing one validator:
``<name>`` (MANDATORY, prod stacks) and ``<name>-dev`` (ADVISORY, dev stacks, the reason in its description);
with ``dev_advisory=False`` only the prod policy (the reason in its description): for what dev leaves off by design
(``protect``, the final snapshot), where an advisory would only repeat the stack file.
``RULES`` lists every policy in registration order; ``build_policies()`` wraps each in a
``ResourceValidationPolicy``/``StackValidationPolicy`` for ``__main__.py``'s ``PolicyPack``, and ``cruddur plan``
runs the same rules offline on the resources the mocks recorded. ``practices_table()`` says which of the project's
security practices each rule enforces, next to what ``components/settings.py`` enforces (the README's table).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationPolicy, StackValidationPolicy

from .environment import resource_environment, stack_environment
from .practices import PRACTICES
from .props import plain, policy_config, short_type

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY
EVERY_TYPE = ("*",)  # a generic resource rule's types: it judges every custom resource the engine sends


@dataclass(frozen=True)
class Subject:
    """What a resource rule's validator sees: one resource of one of the rule's types."""
    type: str
    name: str
    props: dict
    args: Any

    @property
    def label(self) -> str:
        return f"{short_type(self.type)} '{self.name}'"

    @property
    def config(self) -> Mapping[str, Any]:
        return policy_config(self.args)


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    validate: Callable[[Any], list[str]]
    kind: str  # "resource" or "stack"
    enforcement: EnforcementLevel
    types: tuple[str, ...] = ()  # resource rules: the types dispatched to; stack rules: not applicable without any
    environments: tuple[str, ...] = ("dev", "prod")
    config: dict | None = None  # JSON-schema properties of the policy's config (defaults included)
    practices: tuple[str, ...] = ()  # keys of PRACTICES
    reads: tuple[str, ...] = ()  # stack rules: the other types they judge (on the allowlist with ``types``)

    def applies_to(self, environment: str) -> bool:
        return environment in self.environments

    @property
    def generic(self) -> bool:
        return self.types == EVERY_TYPE

    def judges(self, resource_type: str) -> bool:
        """Whether the rule is dispatched resources of ``resource_type``."""
        return self.generic or resource_type in self.types

    def run(self, args) -> list[str]:
        """The violations for ``args``: none where the rule does not apply (environment, resource type)."""
        if self.kind == "resource":
            if not self.judges(args.resource_type) or not self.applies_to(resource_environment(args)):
                return []
            props = plain(args.props)
            if not isinstance(props, dict):
                return []
            return list(self.validate(Subject(args.resource_type, args.name, props, args)))
        if not self.applies_to(stack_environment(args)):
            return []
        return list(self.validate(args))


RULES: list[Rule] = []


def _register(kind: str, name: str, description: str, practices: tuple[str, ...], types: tuple[str, ...],
              prod_only: bool, dev_reason: str, config: dict | None, dev_advisory: bool = True,
              reads: tuple[str, ...] = ()) -> Callable:
    if kind == "resource" and not types:
        raise ValueError(f"resource rule {name} names no resource types")
    if prod_only != bool(dev_reason):
        raise ValueError(f"rule {name}: a prod-only rule says why dev may differ (dev_reason), and only it")
    unknown = [p for p in practices if p not in PRACTICES]
    if not practices or unknown:
        raise ValueError(f"rule {name}: practices {unknown or '(none)'} are not keys of PRACTICES")

    def register(validate: Callable) -> Callable:
        taken = {r.name for r in RULES}
        if name in taken or f"{name}-dev" in taken:
            raise ValueError(f"rule {name} is registered twice")
        common = dict(validate=validate, kind=kind, types=tuple(types), config=config, practices=tuple(practices),
                      reads=tuple(reads))
        if prod_only and not dev_advisory:
            RULES.append(Rule(name, f"{description} (prod stacks only: {dev_reason})", enforcement=MANDATORY,
                              environments=("prod",), **common))
        elif prod_only:
            RULES.append(Rule(name, f"{description} (prod stacks; dev stacks: {name}-dev)", enforcement=MANDATORY,
                              environments=("prod",), **common))
            RULES.append(Rule(f"{name}-dev", f"{description} - advisory on dev stacks: {dev_reason}",
                              enforcement=ADVISORY, environments=("dev",), **common))
        else:
            RULES.append(Rule(name, description, enforcement=MANDATORY, **common))
        return validate
    return register


def resource_rule(name: str, *, types: Sequence[str], description: str, practices: Sequence[str],
                  prod_only: bool = False, dev_reason: str = "", config: dict | None = None,
                  dev_advisory: bool = True) -> Callable:
    """Register ``validate(subject) -> messages`` for resources of ``types`` (MANDATORY; see ``prod_only``)."""
    return _register("resource", name, description, tuple(practices), tuple(types), prod_only, dev_reason, config,
                     dev_advisory)


def stack_rule(name: str, *, description: str, practices: Sequence[str], types: Sequence[str] = (),
               reads: Sequence[str] = (), prod_only: bool = False, dev_reason: str = "", config: dict | None = None,
               dev_advisory: bool = True) -> Callable:
    """Register ``validate(stack_args) -> messages`` (MANDATORY; see ``prod_only``). ``types``: the rule is not
    applicable without any of them; ``reads``: the other types it judges (both go on the allowlist of types)."""
    return _register("stack", name, description, tuple(practices), tuple(types), prod_only, dev_reason, config,
                     dev_advisory, tuple(reads))


def practices_table() -> str:
    """The README's table: each security practice, what the settings and the pack enforce, and by what."""
    lines = ["| practice | settings (`components/settings.py`) | policy pack | enforced by |",
             "| --- | --- | --- | --- |"]
    for key, practice in PRACTICES.items():
        rules = [r.name for r in RULES if key in r.practices and r.enforcement == MANDATORY]
        settings = ", ".join(f"`{k}`" for k in practice.settings)
        if practice.settings_note:
            settings = f"{settings} ({practice.settings_note})" if settings else practice.settings_note
        by = {(True, True): "both", (True, False): "settings", (False, True): "pack",
              (False, False): "neither (code only)"}[(bool(practice.settings), bool(rules))]
        pack = ", ".join(f"`{r}`" for r in rules)
        lines.append(f"| {practice.title} | {settings or '-'} | {pack or '-'} | {by} |")
    return "\n".join(lines) + "\n"

# -- the pack -----------------------------------------------------------------------------------------------------
def rule(name: str) -> Rule:
    return next(r for r in RULES if r.name == name)


def declared_types() -> frozenset[str]:
    """Every resource type some rule names in its registration (``types=``): the types the pack has rules for."""
    return frozenset(t for r in RULES if not r.generic for t in (*r.types, *r.reads))


def _reporter(r: Rule):
    def validate(args, report_violation) -> None:
        for message in r.run(args):
            report_violation(message, None)
    return validate


def build_policies() -> list:
    """Every rule as a CrossGuard policy with its enforcement level."""
    policies = []
    for r in RULES:
        cls = ResourceValidationPolicy if r.kind == "resource" else StackValidationPolicy
        schema = PolicyConfigSchema(properties=r.config) if r.config else None
        policies.append(cls(name=r.name, description=r.description, validate=_reporter(r),
                            enforcement_level=r.enforcement, config_schema=schema))
    return policies
