"""Settings evaluated on their own (no resources declared): a stack's config as the offline plan builds it, read by
``components.settings`` in a fresh context. Fast enough to run hundreds of variants."""

from __future__ import annotations

import contextvars
from pathlib import Path
from typing import Any

import pulumi

from components.settings import ConfigError, Settings, _Loader
from ops.offline.stack_eval import stack_config
from ops.paths import PROJECT_ROOT


def load(stack: str, overrides: dict[str, Any] | None = None, project_dir: Path = PROJECT_ROOT) -> Settings:
    """``Settings`` for ``stack`` with ``overrides`` (``key`` or ``ns:key`` -> value; None removes)."""
    _, config, secret_keys = stack_config(stack, overrides, project_dir)

    def run() -> Settings:
        pulumi.runtime.set_all_config(config, secret_keys)
        return _Loader(stack).load()
    return contextvars.Context().run(run)


def problems(stack: str, **overrides: Any) -> list[str]:
    """The problems a configuration raises (``aws__region`` for ``aws:region``); [] when it is valid."""
    try:
        load(stack, {k.replace("__", ":"): v for k, v in overrides.items()})
    except ConfigError as error:
        return error.problems
    return []


def only(found: list[str]) -> str:
    assert len(found) == 1, found
    return found[0]
