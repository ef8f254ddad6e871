"""The two database secrets: rotation on, the last rotation succeeded and is recent (``DescribeSecret``), and each
secret's AWSCURRENT version logs in to the database through the operator tunnel (the password never leaves the
process: only the user name and the outcome are shown)."""

from __future__ import annotations

import datetime
from typing import Any

from ops.stack.check.context import Context
from ops.stack.check.result import CREDENTIALS, NotChecked, fail, not_checked, ok, promise
from ops.urls import scrub

FIRST_ROTATION = datetime.timedelta(hours=1)  # a new secret's first rotation runs at deploy, within minutes
SLACK_DAYS = 2  # a rotation window and a retry, beyond the rotation period
SECRETS = {  # kind -> (stack output, rotation function output, the stack file's rotation period, runbook)
    "master": ("masterSecretArn", "masterRotationFunctionName",
               lambda s: s.database.master_password_rotation_days, "runbooks/rotate-master-password.md"),
    "app": ("appSecretArn", "appRotationFunctionName",
            lambda s: s.app_access.password_rotation_days, "runbooks/rotate-master-password.md"),
}


def _rotation(ctx: Context, kind: str):
    output, function_output, days_of, runbook = SECRETS[kind]
    arn = str(ctx.output(output))
    days = ctx.setting(days_of)
    function = ctx.outputs.get(function_output) or "its rotation function"
    secret = ctx.call("secretsmanager", "describe_secret", SecretId=arn)
    if not secret.get("RotationEnabled"):
        return fail(f"rotation is OFF for {arn}: run `pulumi up -s {ctx.stack}` (the stack rotates it every "
                    f"{days} days)")
    configured = (secret.get("RotationRules") or {}).get("AutomaticallyAfterDays")
    if configured is not None and configured != days:
        return fail(f"{arn} rotates every {configured} days, the stack file says {days}: run `pulumi up -s "
                    f"{ctx.stack}`")
    stages = secret.get("VersionIdsToStages") or {}
    pending = [v for v, s in stages.items() if "AWSPENDING" in s and "AWSCURRENT" not in s]
    if pending:
        return fail(f"a rotation of {arn} stopped half-way (version {pending[0]} is AWSPENDING): read the log of "
                    f"{function} (/aws/lambda/{function}), fix the cause, then `aws secretsmanager rotate-secret "
                    f"--secret-id {arn}` ({runbook})")
    last = secret.get("LastRotatedDate")
    created = secret.get("CreatedDate")
    if last is None and created is not None and ctx.now() - created < FIRST_ROTATION:
        return not_checked(f"{arn} was created {int((ctx.now() - created).total_seconds() // 60)} minutes ago and its "
                           "first rotation has not finished yet: re-run the check in a few minutes")
    if last is None:
        return fail(f"{arn} has never rotated (the first rotation runs at deploy): read the log of {function}, then "
                    f"`aws secretsmanager rotate-secret --secret-id {arn}` ({runbook})")
    age = ctx.now() - last
    if age > datetime.timedelta(days=days + SLACK_DAYS):
        return fail(f"{arn} last rotated {age.days} days ago (every {days} days configured): the scheduled "
                    f"rotations fail; read the log of {function} (/aws/lambda/{function}) ({runbook})")
    return ok(f"every {days} days, last {last.date().isoformat()}")


@promise(CREDENTIALS, "the master secret rotates, and its last rotation succeeded recently")
def master_rotation(ctx: Context):
    return _rotation(ctx, "master")


@promise(CREDENTIALS, "the app secret rotates, and its last rotation succeeded recently")
def app_rotation(ctx: Context):
    return _rotation(ctx, "app")


def logs_in(ctx: Context, output: str) -> tuple[Any, Any]:
    """(credentials, connection) of the secret named by ``output``, AWSCURRENT, through the tunnel."""
    from ops.errors import CruddurError
    from ops.stack.secrets import credentials

    reach = ctx.database()
    try:
        creds = credentials(ctx.outputs, ctx.stack, output)
    except CruddurError as exc:
        raise NotChecked(exc.message) from None
    return creds, reach.connect(creds)


def _login(ctx: Context, output: str, runbook: str):
    import psycopg2

    from ops.stack.master_login import shared

    try:
        creds, conn = logs_in(ctx, output)
    except psycopg2.Error as exc:
        if shared().password_refused(exc):
            return fail(f"the database refuses the AWSCURRENT password of {ctx.output(output)}: the secret and the "
                        f"database disagree; follow {runbook} (rotate again, or set the password from the secret)")
        raise NotChecked(f"cannot reach the database: {scrub(' '.join(str(exc).split()))[:200]} (is the tunnel "
                         "open?)") from None
    with conn:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            user = cur.fetchone()[0]
    conn.close()
    return ok(f"logged in as {user} (AWSCURRENT)")


@promise(CREDENTIALS, "the master secret's current version logs in")
def master_login(ctx: Context):
    return _login(ctx, "masterSecretArn", "runbooks/rotate-master-password.md")


@promise(CREDENTIALS, "the app secret's current version logs in (the migrator set the app's password)")
def app_login(ctx: Context):
    return _login(ctx, "appSecretArn", "runbooks/rotate-master-password.md")


CHECKS = (master_rotation, app_rotation, master_login, app_login)
