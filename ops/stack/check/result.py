"""What one check of ``cruddur stack check`` says about one promise of the stack.

A check is a small function of the ``Context`` declared with ``@promise(group, text)``; it returns a ``Verdict``
(``ok(evidence)``, ``fail(fix)`` or ``not_checked(why)``) and the runner makes it a ``Result``. A check that cannot
ask (an output the stack lacks, a permission the caller lacks, no tunnel to the database) raises ``NotChecked``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OK = "ok"
FAIL = "FAIL"
NOT_CHECKED = "not checked"
STATUSES = (OK, FAIL, NOT_CHECKED)

# The groups, in the order the report shows them.
DATABASE = "database"
CREDENTIALS = "credentials and rotation"
SCHEMA = "schema and app role"
SIGN_UP = "sign-up"
AUDIT = "audit and detection"
ALARMS = "alarms and budget"
BACKUPS = "backups and restore drill"
NETWORK = "network"
GROUPS = (DATABASE, CREDENTIALS, SCHEMA, SIGN_UP, AUDIT, ALARMS, BACKUPS, NETWORK)


@dataclass(frozen=True)
class Verdict:
    status: str
    detail: str = ""


def ok(evidence: str = "") -> Verdict:
    """The promise holds; ``evidence`` says what was seen (never a secret)."""
    return Verdict(OK, evidence)


def fail(fix: str) -> Verdict:
    """The promise does not hold; ``fix`` is one line saying what to do."""
    return Verdict(FAIL, fix)


def not_checked(why: str) -> Verdict:
    return Verdict(NOT_CHECKED, why)


class NotChecked(Exception):
    """Raised inside a check that cannot ask: the message says why (one line)."""

    def __init__(self, why: str):
        super().__init__(" ".join(str(why).split()))

    @property
    def why(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class Result:
    group: str
    promise: str
    status: str
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"group": self.group, "promise": self.promise, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class Check:
    group: str
    promise: str
    run: Callable[[Any], Verdict]


def promise(group: str, text: str) -> Callable[[Callable[[Any], Verdict]], Check]:
    """Declare a check: ``@promise(DATABASE, "storage is encrypted with the stack's key")``."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}")

    def declare(function: Callable[[Any], Verdict]) -> Check:
        return Check(group, text, function)
    return declare
