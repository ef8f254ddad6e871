"""Every declared key, fed what a careless user or an attacker writes in a stack file: each value is either accepted
(and then has the field's type) or refused with one line that names the key; never a traceback.

The keys come from the declarations, so a new setting is covered as soon as it is declared. Values are written as
YAML, read by the stack-file loader the offline plan uses, and passed as the CLI passes them (strings); the settings
are evaluated alone (no resources), from the prod stack (so no prod rule fires unless the fuzzed value loosens it).
"""

from __future__ import annotations

import contextvars
import types
import typing

import pulumi
import pytest

from components import settings
from components.settings import ConfigError, _Loader
from ops.offline.stack_eval import _as_config_string, parse_yaml, stack_config

BASE_STACK = "prod"
ORG_ON = {"manageGuardrails": True, "targetId": "ou-ab12-cd34ef56", "breakGlassRoleName": "ops-break-glass",
          "exemptRegionsServices": ["bedrock:*"]}
# Cross-key rules: a value valid on its own may be refused under the key it is compared with.
PARTNERS = {"allocatedStorageGb": "maxAllocatedStorageGb", "trailBucketTransitionDays": "trailBucketExpireDays",
            "guardDuty": "guardDutyDetectorId", "allowedRegions": "aws:region"}

# YAML as someone would type it after `key: `.
ALWAYS_REFUSED = [
    '"' + "a" * 10_000 + '"', "[" + '"' + "b" * 10_000 + '"' + "]", "9" * 4000, "١٤", "１４", "{a: 1}", "[[1, 2]]",
    '"\\u202e"', '"dev\\u200b"', '"\\x00"', "[1, 2]",
]
MAYBE = [
    "1_4", "1e3", "14.5", "2024-01-01", ".inf", "-.inf", ".nan", "yes", "no", "on", "off", "y", "n", "~", "null",
    '""', "''", "[]", "{}", "true", "false", "True", "0x10", "0o17", "014", "+14", "-1", "0", "42", "65536",
    '" true "', '"14\\n"', '"dev\\n"', '" x "', "ｄｅｖ", "é", "sg-*", '"0.0.0.0/0"', '["0.0.0.0/1", "128.0.0.0/1"]',
    '["eu-west-1"]', '["::/0"]', "rds:*", '["rds:*"]', "|\n  multi\n  line",
]
VARIANTS = ALWAYS_REFUSED + MAYBE


def optional(section: type, name: str) -> bool:
    """The field may hold None (``X | None``: e.g. no run schedule)."""
    hint = typing.get_type_hints(section)[name]
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def field_type(section: type, name: str) -> type:
    hint = typing.get_type_hints(section)[name]
    origin = typing.get_origin(hint)
    if origin is tuple:
        return tuple
    if origin in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


TOP = [(cls, attr, f.name, spec.key) for attr, cls in (("", settings.Settings), *settings.SECTIONS.items())
       for f, spec in settings.declared(cls)]
ORG = [(settings.OrganizationSettings, "organization", f.name, spec.key)
       for f, spec in settings.declared(settings.OrganizationSettings)]


@pytest.fixture(scope="module")
def base_config() -> dict[str, str]:
    return stack_config(BASE_STACK)[1]


def run(config: dict[str, str]):
    def load():
        pulumi.runtime.set_all_config(config, [])
        return _Loader(BASE_STACK).load()
    try:
        return contextvars.Context().run(load), []
    except ConfigError as error:
        return None, error.problems


def judge(key: str, literal: str, config: dict[str, str], section: type, attr: str, name: str) -> str | None:
    """What is wrong with how ``literal`` under ``key`` was handled, or None."""
    try:
        loaded, problems = run(config)
    except Exception as exc:  # noqa: BLE001 - the point: no value may crash the settings
        return f"{key}: {literal[:40]!r} raised {type(exc).__name__}: {exc}"
    if loaded is not None:
        if literal in ALWAYS_REFUSED:
            return f"{key}: {literal[:40]!r} was accepted"
        value = getattr(getattr(loaded, attr) if attr else loaded, name)
        want = field_type(section, name)
        if value is None and optional(section, name):
            return None
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            return f"{key}: {literal[:40]!r} was accepted as {value!r}, not a {want.__name__}"
        if isinstance(value, str) and value != value.strip():
            return f"{key}: {literal[:40]!r} was accepted with surrounding whitespace"
        return None
    names = (f"cruddur-db:{key} ", f"cruddur-db:{PARTNERS.get(key.rpartition('.')[2], '~')} ",
             f"{PARTNERS.get(key, '~')} ")
    for line in problems:
        if "\n" in line or len(line) > 500:
            return f"{key}: {literal[:40]!r}: not one short line: {line[:300]!r}"
    if not any(line.startswith(names) for line in problems):
        return f"{key}: {literal[:40]!r}: no problem names the key: {problems}"
    return None


@pytest.mark.parametrize("section,attr,name,key", TOP, ids=[t[3] for t in TOP])
def test_every_top_level_key_refuses_bad_values_in_one_line(base_config, section, attr, name, key):
    wrong = []
    for literal in VARIANTS:
        config = {**base_config, f"cruddur-db:{key}": _as_config_string(parse_yaml(f"v: {literal}", "t")["v"])}
        wrong.append(judge(key, literal, config, section, attr, name))
    assert [w for w in wrong if w] == []


@pytest.mark.parametrize("section,attr,name,key", ORG, ids=[t[3] for t in ORG])
def test_every_organization_key_refuses_bad_values_in_one_line(base_config, section, attr, name, key):
    wrong = []
    for literal in VARIANTS:
        organization = {**ORG_ON, key: parse_yaml(f"v: {literal}", "t")["v"]}
        config = {**base_config, "cruddur-db:organization": _as_config_string(organization)}
        wrong.append(judge(f"organization.{key}", literal, config, section, attr, name))
    assert [w for w in wrong if w] == []


def test_the_organization_object_itself_refuses_bad_values_in_one_line(base_config):
    wrong = []
    for literal in VARIANTS:
        config = {**base_config, "cruddur-db:organization": _as_config_string(parse_yaml(f"v: {literal}", "t")["v"])}
        try:
            _, problems = run(config)
        except Exception as exc:  # noqa: BLE001
            wrong.append(f"{literal[:40]!r} raised {type(exc).__name__}: {exc}")
            continue
        if any("\n" in p or not p.startswith("cruddur-db:organization") for p in problems):
            wrong.append(f"{literal[:40]!r}: {problems}")
    assert wrong == []


def test_the_fuzz_covers_every_declared_key():
    assert {t[3] for t in TOP} == set(settings.TOP_LEVEL_KEYS)
    assert {t[3] for t in ORG} == set(settings.ORGANIZATION_KEYS)
