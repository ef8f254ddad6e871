"""Evaluate the real Pulumi program for one stack, in-process, under ``AwsMocks``.

No AWS credentials and no Pulumi CLI are needed. The stack's configuration is built the way the CLI builds it:
the defaults declared in ``Pulumi.yaml``, then the stack file ``Pulumi.<stack>.yaml``, then any overrides. Each
evaluation runs in a fresh ``contextvars.Context`` so that several stacks can be evaluated in one process.
"""

from __future__ import annotations

import contextvars
import json
import re
import runpy
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ops.paths import PROJECT_ROOT
from ops.urls import redact

SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 - not a password: a marker/character set


class StackFileError(Exception):
    """A stack file or Pulumi.yaml that cannot be read; the message is one line naming the file and the problem."""


class TransformNotApplied(StackFileError):
    """The program transforms a resource in a way the mocks cannot apply: judging the untransformed values would
    judge something the engine does not deploy, so the evaluation refuses (one line naming what)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that names a key twice (YAML keeps the later one, silently)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):  # aliases can multiply a small file into a huge value
            raise yaml.composer.ComposerError(None, None, "uses a YAML alias (*name); write the value out",
                                              self.peek_event().start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is set twice (the later value would silently win)", key_node.start_mark)
        return super().construct_mapping(node, deep)


# Plain scalars are resolved the YAML 1.2 way, as the Pulumi CLI (Go, yaml.v3) reads a stack file, not YAML 1.1's
# (PyYAML's default): yes/no/on/off stay text, 1_4 and 0b101 are not numbers, 014 is fourteen, a date is text.
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (
        "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789"))


def _yaml12_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text, 10)


def _yaml12_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    return loader.construct_scalar(node).lower() == "true"


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _yaml12_int)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:bool", _yaml12_bool)


def _type_name(value: Any) -> str:
    return {list: "a list", str: "a string", dict: "a mapping"}.get(type(value), type(value).__name__)


# The largest stack file or Pulumi.yaml read: this project's are a few KiB; a file of megabytes is a mistake (or
# hundreds of thousands of keys), refused before it is parsed.
MAX_FILE_BYTES = 1024 * 1024


def load_yaml_file(path: Path) -> Any:
    """A YAML file's document, or ``StackFileError`` with one line: too large, not UTF-8, not YAML, a key set
    twice."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise StackFileError(f"{path.name} is larger than {MAX_FILE_BYTES // 1024} KiB; a stack file holds a "
                                 "few dozen settings (is it the right file?)")
        text = data.decode("utf-8")
    except OSError as exc:
        raise StackFileError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise StackFileError(f"{path.name} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                             f"{exc.start}); save it as UTF-8") from None
    return parse_yaml(text, path.name)


def parse_yaml(text: str, name: str) -> Any:
    """YAML text as a stack file is read (safe, no key twice, no aliases), or ``StackFileError`` naming ``name``."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise StackFileError(f"cannot parse {name}{where}: {what}") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise StackFileError(f"cannot parse {name}: {str(exc).splitlines()[0][:200]}") from None
    except RecursionError:
        raise StackFileError(f"cannot parse {name}: it nests too deeply") from None


def _as_config_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)  # YAML dates and the like, as the text they were written as
    return str(value)


_STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _full_key(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def stack_config(stack: str, overrides: dict[str, Any] | None = None,
                 project_dir: Path = PROJECT_ROOT) -> tuple[str, dict[str, str], list[str]]:
    """(project name, config as the CLI passes it to the program, secret keys) for ``stack``.

    ``overrides`` maps keys (``cruddur-db:multiAz`` or plain ``multiAz``) to values; a value of ``None`` removes
    the key, as ``pulumi config rm`` would.
    """
    if not _STACK_NAME.fullmatch(stack or ""):  # a URL or a path given for a stack: never a file name, never shown
        raise StackFileError(f"invalid stack name {redact(stack)!r}: a stack name is letters, digits, '-', '_' and "
                             "'.' (e.g. dev), the name in Pulumi.<stack>.yaml")
    project_file = project_dir / "Pulumi.yaml"
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    project = load_yaml_file(project_file)
    if not isinstance(project, dict) or not isinstance(project.get("name"), str) \
            or not isinstance(project.get("config") or {}, dict):
        raise StackFileError(f"{project_file.name} must be a mapping with a name and a config mapping")
    if not stack_file.exists():
        stacks = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
        raise StackFileError(f"no stack file {stack_file.name}; known stacks: {', '.join(stacks) or 'none'}")
    stack_doc = load_yaml_file(stack_file)
    stack_doc = {} if stack_doc is None else stack_doc
    if not isinstance(stack_doc, dict):
        raise StackFileError(f"{stack_file.name} is {_type_name(stack_doc)}; a stack file is a mapping with a "
                             "config: mapping of key: value")
    stack_settings = {} if stack_doc.get("config") is None else stack_doc["config"]
    if not isinstance(stack_settings, dict):
        raise StackFileError(f"{stack_file.name}: config is {_type_name(stack_settings)}; it must be a mapping of "
                             "key: value (e.g. cruddur-db:multiAz: true)")
    for key in stack_settings:
        if not isinstance(key, str):
            raise StackFileError(f"{stack_file.name}: config key {key!r} is not a name; keys look like "
                                 "cruddur-db:multiAz")

    name = project["name"]
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, declaration in (project.get("config") or {}).items():
        if isinstance(declaration, dict) and "default" in declaration:
            config[_full_key(name, key)] = _as_config_string(declaration["default"])
        elif isinstance(declaration, dict) and "value" in declaration:
            config[_full_key(name, key)] = _as_config_string(declaration["value"])
    spelled: dict[str, str] = {}
    for key, value in stack_settings.items():
        full = _full_key(name, key)
        if full in spelled:  # `multiAz` and `cruddur-db:multiAz`: one key, the later would silently win
            raise StackFileError(f"{stack_file.name}: {spelled[full]!r} and {key!r} both set {full} (the later "
                                 "value would silently win); keep one")
        spelled[full] = key
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full] = SECRET_PLACEHOLDER
            secret_keys.append(full)
        else:
            config[full] = _as_config_string(value)
    for key, value in (overrides or {}).items():
        full = _full_key(name, key)
        if value is None:
            config.pop(full, None)
        else:
            config[full] = _as_config_string(value)
    return name, config, secret_keys


@dataclass
class Evaluation:
    """What one stack declares: every resource (in order) and every stack output."""

    stack: str
    config: dict[str, str]
    resources: list = field(default_factory=list)  # list[RecordedResource]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, *types: str) -> list:
        return [r for r in self.resources if r.type in types]

    def one(self, typ: str, name: str | None = None):
        found = [r for r in self.of_type(typ) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(typ)]
            raise LookupError(f"expected one {typ}{' named ' + name if name else ''}, found {names}")
        return found[0]

    def by_urn(self, urn: str):
        return next((r for r in self.resources if r.urn == urn), None)

    def parent_of(self, resource):
        return self.by_urn(resource.parent_urn)

    def children_of(self, resource) -> Iterable:
        return [r for r in self.resources if r.parent_urn == resource.urn]

    def id_of(self, resource) -> str:
        return resource.id


def evaluate(stack: str, overrides: dict[str, Any] | None = None, project_dir: Path = PROJECT_ROOT) -> Evaluation:
    """Run ``__main__.py`` for ``stack`` under the mocks and return what it declared.

    Raises whatever the program raises (``components.settings.ConfigError`` for bad configuration).
    """
    project, config, secret_keys = stack_config(stack, overrides, project_dir)
    return contextvars.Context().run(_evaluate, project, stack, config, secret_keys, project_dir)


def _evaluate(project: str, stack: str, config: dict[str, str], secret_keys: list[str],
              project_dir: Path) -> Evaluation:
    import pulumi
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from ops.offline.aws_mocks import AwsMocks, RecordingMonitor

    pulumi.runtime.set_all_config(config, secret_keys)
    mocks = AwsMocks(region=config.get("aws:region") or "eu-west-1")
    monitor = RecordingMonitor(mocks, stack=stack, project=project)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    evaluation = Evaluation(stack=stack, config=config)

    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))

    async def program() -> None:
        runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")
        root = pulumi.runtime.get_root_resource()
        for key, value in dict(getattr(root, "outputs", {})).items():
            output = pulumi.Output.from_input(value)
            evaluation.outputs[key] = await output.future()
            if await output.is_secret():
                evaluation.secret_outputs.add(key)

    try:
        _sync_await(run_pulumi_func(program))
    except BaseException:
        _settle_failed_run()
        raise
    if monitor.unapplied:
        shown = "; ".join(monitor.unapplied[:3]) + (f"; ... {len(monitor.unapplied)} in all"
                                                    if len(monitor.unapplied) > 3 else "")
        raise TransformNotApplied(f"cannot judge what the engine would deploy: {shown}; judge it with `pulumi "
                                  "preview --policy-pack ./policy`, or express the change without a transform")
    evaluation.resources = list(monitor.recorded)
    return evaluation


def _settle_failed_run() -> None:
    """After a program fails mid-way, finish and forget what it left behind.

    Pulumi stops waiting at the first failed RPC. Its remaining registrations and applies stay on the shared event
    loop and in the SDK's set of tracked outputs, which outlives the evaluation's context, so without this the next
    evaluation in the same process awaits them and reports the old failure as its own.
    """
    import asyncio

    from pulumi.runtime.settings import SETTINGS
    from pulumi.runtime.sync_await import _ensure_event_loop

    loop = _ensure_event_loop()
    if loop.is_running():
        return
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if pending:  # let them finish; cancelling them would also cancel futures the SDK caches
        loop.run_until_complete(asyncio.wait(pending, timeout=10))
    with SETTINGS.lock:
        for task in SETTINGS.outputs:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: the failure was already raised to the caller
        SETTINGS.outputs.clear()
    SETTINGS.rpc_manager.clear()
