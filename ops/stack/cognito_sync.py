"""Repair path for a failed confirmation trigger: insert confirmed Cognito users missing from ``users``.

The SAME mapping and handle normalisation as the post-confirmation Lambda, taken from it: ``confirmation_rules()``
loads ``lambda/post_confirmation/handler.py`` by path (the Lambda package must stay self-contained) and this module
uses its ``ATTRIBUTES`` (display_name <- name, handle <- preferred_username, email <- email, cognito_user_id <- sub),
``user_from_attributes`` (NFKC handles, invisible and mixed-script handles refused) and ``INSERT_USER``, so
``users sync`` and the trigger always write the same row. Parameterized SQL, one savepoint per user so one bad user
(e.g. a handle already taken) is reported without stopping the run. Reports identify users by ``sub``,
never by email or name.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg2

from ops.db.connections import connect
from ops.db.target import DbTarget
from ops.errors import CruddurError
from ops.paths import PROJECT_ROOT
from ops.urls import scrub

CONFIRMATION_HANDLER = PROJECT_ROOT / "lambda" / "post_confirmation" / "handler.py"
PAGE_SIZE = 60  # list_users' maximum


@dataclass
class SyncReport:
    dry_run: bool
    listed: int = 0
    confirmed: int = 0
    unconfirmed: int = 0
    already_present: int = 0
    inserted: int = 0
    incomplete: list[tuple[str, list[str]]] = field(default_factory=list)  # (label, missing attributes)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (sub, reason)


@functools.cache
def confirmation_rules():
    """The post-confirmation handler module (loaded once, by path): the one source of the attribute mapping."""
    name = "cruddur_post_confirmation_handler"
    spec = importlib.util.spec_from_file_location(name, CONFIRMATION_HANDLER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def list_cognito_users(client, user_pool_id: str) -> Iterator[dict[str, Any]]:
    """Every user of the pool, following PaginationToken."""
    paginator = client.get_paginator("list_users")
    for page in paginator.paginate(UserPoolId=user_pool_id, PaginationConfig={"PageSize": PAGE_SIZE}):
        yield from page.get("Users", [])


def _label(user: dict[str, Any], attrs: dict[str, str]) -> str:
    if attrs.get("sub"):
        return attrs["sub"]
    username = str(user.get("Username", "?"))
    return "user " + (username if "@" not in username else "***@" + username.split("@", 1)[1])


def sync(client, user_pool_id: str, target: DbTarget, *, dry_run: bool = False) -> SyncReport:
    rules = confirmation_rules()
    report = SyncReport(dry_run=dry_run)
    candidates: list[tuple[str, Any]] = []  # (sub, the handler's NewUser)
    try:
        for user in list_cognito_users(client, user_pool_id):
            report.listed += 1
            if user.get("UserStatus") != "CONFIRMED":
                report.unconfirmed += 1
                continue
            report.confirmed += 1
            attrs = {a["Name"]: a.get("Value", "") for a in user.get("Attributes", [])}
            missing = [name for name, _ in rules.ATTRIBUTES if not (attrs.get(name) or "").strip()]
            if missing:
                report.incomplete.append((_label(user, attrs), missing))
                continue
            try:
                row = rules.user_from_attributes(attrs)
            except rules.InvalidAttributeError as exc:  # the reason never quotes the value
                report.failed.append((_label(user, attrs), f"{exc.attribute} {exc.reason}"))
                continue
            candidates.append((attrs["sub"], row))
    except Exception as exc:  # botocore errors: credentials, network, unknown pool
        if isinstance(exc, CruddurError):
            raise
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise CruddurError(f"cannot list the users of pool {user_pool_id}: {code}: {scrub(str(exc))[:200]}") from None

    conn = connect(target)
    try:
        with conn:
            with conn.cursor() as cur:
                subs = [sub for sub, _ in candidates]
                cur.execute("SELECT cognito_user_id FROM users WHERE cognito_user_id = ANY(%s)", (subs,))
                present = {row[0] for row in cur.fetchall()}
                report.already_present = len(present)
                for sub, row in candidates:
                    if sub in present:
                        continue
                    if dry_run:
                        report.inserted += 1
                        continue
                    cur.execute("SAVEPOINT sync_user")
                    try:
                        cur.execute(rules.INSERT_USER, row.row())
                        report.inserted += cur.rowcount
                        cur.execute("RELEASE SAVEPOINT sync_user")
                    except psycopg2.IntegrityError as exc:
                        cur.execute("ROLLBACK TO SAVEPOINT sync_user")
                        constraint = getattr(exc.diag, "constraint_name", None) or "a constraint"
                        reason = "handle already taken by another user" if "handle" in constraint else f"violates {constraint}"
                        report.failed.append((sub, reason))
            if dry_run:
                conn.rollback()
    except psycopg2.Error as exc:
        raise CruddurError(f"database error on {target.shown}: {scrub(str(exc).strip().splitlines()[0], target.url)}") from None
    finally:
        conn.close()
    return report
