"""``python -m ops.preview_guard PREVIEW_JSON``: fail a plan that would replace or delete a stateful resource.

CI runs ``pulumi preview --json`` before every ``pulumi up`` (and on every same-repository pull request) and feeds
the document to this check. It exits 1, with one line per resource, when a step would destroy one of the resources
whose loss loses data or access to it (``STATEFUL_TYPES``): the database instance, its secret, the KMS keys, the
trail bucket and log groups, the Cognito user pool, backup vaults. A replacement destroys the old resource as
surely as a delete does (the engine creates the new one and then deletes the old one, or the other way round).

The document is Pulumi's preview digest (``pulumi preview --json``)::

    {"config": {...}, "steps": [{"op": "update", "urn": "urn:pulumi:prod::cruddur-db::...::db-instance",
      "oldState": {"type": "aws:rds/instance:Instance", ...}, "newState": {...},
      "diffReasons": ["tags"], "replaceReasons": [...], "detailedDiff": {...}}, ...],
     "diagnostics": [...], "duration": 123, "changeSummary": {"same": 40, "update": 1}}

``op`` is one of Pulumi's step operations. A replacement shows as one ``replace`` step (the JSON display hides
the ``create-replacement``/``delete-replaced`` halves unless ``--show-replacement-steps`` is given); every op that
destroys an existing resource is checked, whichever form the digest takes.

An intended replacement goes through with an explicit opt-in, which names what may go: ``--allow VALUE`` (any
number of times) or the ``ALLOW_STATEFUL_REPLACE`` environment variable. A value is ``true``/``yes`` (everything
in this plan) or resource URNs separated by spaces, commas or new lines (those resources only). The workflows set
it from the pull request's ``allow-stateful-replace`` label and from the pushed commit's
``Allow-Stateful-Replace:`` trailer (runbooks/ci-roles.md, "Replacing a stateful resource on purpose").

Exit codes: 0 nothing stateful is destroyed (or all of it is opted in), 1 it would be, 2 the input is unusable
(unreadable file, not JSON, not a preview digest, an opt-in value that is neither yes nor URNs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Resource types whose replacement or deletion loses data, or the keys or identities that give access to it.
STATEFUL_TYPES: dict[str, str] = {
    "aws:rds/instance:Instance": "the database (its data and automated backups)",
    "aws:rds/cluster:Cluster": "a database cluster (its data)",
    "aws:secretsmanager/secret:Secret": "a secret (the master credentials)",
    "aws:secretsmanager/secretVersion:SecretVersion": "a secret's value",
    "aws:kms/key:Key": "a KMS key (everything encrypted with it, snapshots included, becomes unreadable)",
    "aws:s3/bucket:Bucket": "an S3 bucket (the audit trail's log files)",
    "aws:s3/bucketV2:BucketV2": "an S3 bucket (the audit trail's log files)",
    "aws:cloudwatch/logGroup:LogGroup": "a log group (the trail's, the database's or the flow logs' events)",
    "aws:cognito/userPool:UserPool": "the Cognito user pool (every user's sign-in)",
    "aws:backup/vault:Vault": "a backup vault (its recovery points)",
    "aws:backup/logicallyAirGappedVault:LogicallyAirGappedVault": "a backup vault (its recovery points)",
}

# Step ops that destroy an existing resource. `replace` is the logical step the JSON display shows;
# `create-replacement`/`delete-replaced` are its halves (--show-replacement-steps); `import-replacement` swaps
# the resource for an imported one. `discard`/`discard-replaced` only drop read (unmanaged) resources from state.
DESTRUCTIVE_OPS = ("delete", "replace", "create-replacement", "delete-replaced", "import-replacement")
REPLACE_OPS = frozenset(DESTRUCTIVE_OPS) - {"delete"}
KNOWN_OPS = frozenset(DESTRUCTIVE_OPS) | {
    "same", "create", "update", "read", "read-replacement", "refresh", "discard", "discard-replaced",
    "remove-pending-replace", "import", "diff",
}

ENV_ALLOW = "ALLOW_STATEFUL_REPLACE"
YES = frozenset({"true", "yes", "1", "all"})
NO = frozenset({"", "false", "no", "0", "none"})


class GuardInputError(Exception):
    """The input cannot be checked: one line naming what to fix (exit 2)."""


@dataclass
class Finding:
    """One stateful resource the plan would destroy, with every destructive op the digest shows for it."""

    urn: str
    type: str
    name: str
    ops: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def op(self) -> str:
        return "replace" if REPLACE_OPS.intersection(self.ops) else "delete"

    def line(self) -> str:
        why = f"replace reasons: {', '.join(self.reasons)}" if self.reasons else "no replace reasons given"
        if self.op == "delete":
            why = "removed from the program, or its URN changed (name, type or parent) without an alias"
        return f"{self.op}: {self.type} {self.name} ({why}) [{self.urn}]"


@dataclass(frozen=True)
class OptIn:
    everything: bool = False
    urns: frozenset[str] = frozenset()

    def allows(self, urn: str) -> bool:
        return self.everything or urn in self.urns


def parse_opt_in(values: Iterable[str], source: str) -> OptIn:
    """`true`/`yes` allows everything; otherwise URNs separated by spaces, commas or new lines."""
    everything, urns = False, set()
    for value in values:
        tokens = [t for t in re.split(r"[\s,]+", value.strip()) if t]
        if not tokens or (len(tokens) == 1 and tokens[0].lower() in NO):
            continue
        for token in tokens:
            if token.lower() in YES:
                everything = True
            elif token.startswith("urn:pulumi:"):
                urns.add(token)
            else:
                raise GuardInputError(
                    f"{source}: {token!r} is neither true/yes nor a resource URN (urn:pulumi:...)")
    return OptIn(everything, frozenset(urns))


def split_urn(urn: str) -> tuple[str, str]:
    """(type, name) of `urn:pulumi:STACK::PROJECT::[PARENT$...$]TYPE::NAME`."""
    parts = urn.split("::")
    if len(parts) < 4 or not urn.startswith("urn:pulumi:"):
        return "", urn
    return parts[2].split("$")[-1], "::".join(parts[3:])


def load_digest(path: str) -> list[dict]:
    """The steps of a `pulumi preview --json` document, each checked for the fields the guard reads."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise GuardInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise GuardInputError(f"{path} is not UTF-8 text: expected the output of `pulumi preview --json`") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GuardInputError(
            f"{path} is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): "
            "expected the output of `pulumi preview --json`") from None
    if not isinstance(doc, dict) or "steps" not in doc:
        raise GuardInputError(f"{path} has no \"steps\": expected the output of `pulumi preview --json`")
    steps = doc["steps"] if doc["steps"] is not None else []  # Go writes an empty step list as null
    if not isinstance(steps, list):
        raise GuardInputError(f"{path}: \"steps\" is not a list")
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("op"), str) or not isinstance(step.get("urn"), str):
            raise GuardInputError(f"{path}: steps[{i}] has no string \"op\" and \"urn\"")
        if step["op"] not in KNOWN_OPS:
            # A newer Pulumi may add ops: refuse rather than let an unknown one through unread.
            raise GuardInputError(f"{path}: steps[{i}] has op {step['op']!r}, which this guard does not know")
    return steps


def step_type(step: dict) -> str:
    for key in ("oldState", "newState"):
        state = step.get(key)
        if isinstance(state, dict) and isinstance(state.get("type"), str) and state["type"]:
            return state["type"]
    return split_urn(step["urn"])[0]


def findings(steps: Sequence[dict]) -> list[Finding]:
    """Stateful resources that a destructive step touches, one per URN, in plan order."""
    by_urn: dict[str, Finding] = {}
    for step in steps:
        if step["op"] not in DESTRUCTIVE_OPS:
            continue
        rtype = step_type(step)
        if rtype not in STATEFUL_TYPES:
            continue
        urn = step["urn"]
        found = by_urn.setdefault(urn, Finding(urn=urn, type=rtype, name=split_urn(urn)[1]))
        if step["op"] not in found.ops:
            found.ops.append(step["op"])
        for reason in step.get("replaceReasons") or []:
            if str(reason) not in found.reasons:
                found.reasons.append(str(reason))
    return list(by_urn.values())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops.preview_guard",
        description="Fail when a `pulumi preview --json` plan replaces or deletes a stateful resource.")
    parser.add_argument("preview", help="the file `pulumi preview --json` wrote")
    parser.add_argument("--allow", action="append", default=[], metavar="YES_OR_URNS",
                        help=f"opt in: true/yes, or URNs of the resources that may go (also ${ENV_ALLOW})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        opt_in = parse_opt_in(args.allow, "--allow")
        env_opt_in = parse_opt_in([os.environ.get(ENV_ALLOW, "")], ENV_ALLOW)
        opt_in = OptIn(opt_in.everything or env_opt_in.everything, opt_in.urns | env_opt_in.urns)
        steps = load_digest(args.preview)
    except GuardInputError as exc:
        print(f"preview guard: {exc}", file=sys.stderr)
        return 2

    found = findings(steps)
    blocked = [f for f in found if not opt_in.allows(f.urn)]
    for f in found:
        if opt_in.allows(f.urn):
            print(f"preview guard: allowed by opt-in: {f.line()}")
    for urn in sorted(opt_in.urns - {f.urn for f in found}):
        print(f"preview guard: note: the opt-in names {urn}, which this plan does not replace or delete")
    if blocked:
        for f in blocked:
            print(f"preview guard: {f.line()}", file=sys.stderr)
        print(f"preview guard: {len(blocked)} stateful resource(s) would be destroyed. If that is intended, opt in "
              "(PR label allow-stateful-replace; on main a commit trailer `Allow-Stateful-Replace: <URN>`): "
              "runbooks/ci-roles.md", file=sys.stderr)
        return 1
    print(f"preview guard: no stateful resource is replaced or deleted (steps checked: {len(steps)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
