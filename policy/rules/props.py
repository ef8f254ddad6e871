"""Reading the props the engine passes a validator, as plain data.

Unknown values (during ``pulumi preview`` a property computed from another resource's output is not known yet)
are never violations: props are read through ``plain()``, which turns the engine's unknown markers into
``UNKNOWN``, and every check skips what it cannot know. Odd shapes (a JSON policy that does not parse, a
``Condition`` that is a list, a number given as a string) never crash a validator: the readers here give None, []
or False for them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)
from pulumi_policy.secret import Secret


class _Unknown:
    """A value the engine does not know yet (preview). Never equal to anything, never a violation."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
_SENTINELS = frozenset({UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UNKNOWN_ARRAY_VALUE,
                        UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE, UNKNOWN_OBJECT_VALUE})


def plain(value: Any) -> Any:
    """``value`` (the engine's unknown-checking proxies, or plain data) as plain dicts/lists, unknowns as UNKNOWN."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, str):
        return UNKNOWN if value in _SENTINELS else value
    if isinstance(value, Mapping):
        out = {}
        for key in list(value):
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        items = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def known(value: Any) -> bool:
    return value is not UNKNOWN


def parse_json(value: Any) -> Any:
    """A JSON document given as a string (policies, provider config) parsed; UNKNOWN/None pass through."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


def as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def short_type(resource_type: str) -> str:
    """``aws:rds/instance:Instance`` -> ``rds Instance``, ``pulumi:providers:aws`` -> ``aws provider``."""
    if resource_type.startswith("pulumi:providers:"):
        return f"{resource_type.rsplit(':', 1)[1]} provider"
    try:
        module = resource_type.split(":")[1].split("/")[0]
        return f"{module} {resource_type.rsplit(':', 1)[1]}"
    except IndexError:
        return resource_type


def policy_config(args: Any) -> Mapping[str, Any]:
    getter = getattr(args, "get_config", None)
    return (getter() if getter else None) or {}


def truthy(value: Any) -> bool:
    """Whether a known value means "on": ``True``, ``"true"`` (any case), ``1``, ``"1"``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in ("true", "1")


def as_number(value: Any) -> float | None:
    """A number given as a number or a numeric string (``7``, ``"7.0"``); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def has_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
    return False

def switched_off(value: Any) -> bool:
    return known(value) and not truthy(value)


def aws_managed_key(key_id: Any) -> bool:
    return isinstance(key_id, str) and "alias/aws/" in key_id


def of_type(args, typ: str) -> list[tuple[Any, dict]]:
    found = [(r, plain(r.props) or {}) for r in args.resources if r.resource_type == typ]
    return [(r, p) for r, p in found if isinstance(p, dict)]

