"""Run the checks in group order, one result per promise. A check that raises is never a pass: ``NotChecked`` and
any AWS or database error it did not judge become ``not checked`` with one line why (scrubbed of secrets); only
``Abort`` (expired or missing AWS credentials) stops the run."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ops.errors import CruddurError
from ops.stack.check import alarms, audit, backups, credentials, database, network, schema, signup
from ops.stack.check.context import Abort, Context
from ops.stack.check.result import GROUPS, Check, NotChecked, Result, Verdict, not_checked
from ops.urls import scrub

MODULES = (database, credentials, schema, signup, audit, alarms, backups, network)


def all_checks() -> list[Check]:
    checks = [check for module in MODULES for check in module.CHECKS]
    return sorted(checks, key=lambda c: GROUPS.index(c.group))  # stable: a module's own order within its group


def _judge(ctx: Context, check: Check) -> Verdict:
    import psycopg2
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return check.run(ctx)
    except Abort:
        raise
    except NotChecked as exc:
        return not_checked(exc.why)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return not_checked(f"AWS answered {error.get('Code', '?')}: {' '.join(str(error.get('Message', '')).split())}"
                           [:300])
    except BotoCoreError as exc:
        return not_checked(f"AWS call failed: {type(exc).__name__}")
    except CruddurError as exc:
        return not_checked(exc.message)
    except psycopg2.Error as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        return not_checked(f"database error: {text[:300]}")


def run(ctx: Context, checks: Iterable[Check] | None = None,
        on_check: Callable[[Check], None] | None = None) -> list[Result]:
    results = []
    try:
        for check in all_checks() if checks is None else checks:
            if on_check is not None:
                on_check(check)
            verdict = _judge(ctx, check)
            results.append(Result(check.group, check.promise, verdict.status, scrub(verdict.detail)))
    finally:
        connection = ctx.cache.get("master-connection")
        if connection is not None and not isinstance(connection, NotChecked):
            connection.close()
    return results
