"""``cruddur users sync``: insert confirmed Cognito users missing from ``users`` (repair after a failed trigger)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ops.cli.console import LocalDirOption, StackOption, TunnelOption, UrlOption, out
from ops.cli.targets import resolve
from ops.errors import CruddurError
from ops.stack.cognito_sync import sync as run_sync
from ops.stack.outputs import require

app = typer.Typer(help="Cognito users and the users table.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="users")


@app.command()
def sync(
    url: UrlOption = None, stack: StackOption = None, tunnel_port: TunnelOption = None,
    local_dir: LocalDirOption = None,
    user_pool_id: Annotated[str | None, typer.Option("--user-pool-id", envvar="AWS_COGNITO_USER_POOL_ID",
                                                     show_default=False, help="Default: the stack's userPoolId.")] = None,
    region: Annotated[str | None, typer.Option("--region", envvar="AWS_DEFAULT_REGION", show_default=False,
                                               help="Default: the stack's region.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be inserted; change nothing.")] = False,
) -> None:
    """Insert every CONFIRMED Cognito user whose sub is missing from users; report counts."""
    t = resolve(url, stack, tunnel_port, local_dir)
    if stack:
        user_pool_id = user_pool_id or str(require(t.outputs, "userPoolId", stack))
        region = region or str(require(t.outputs, "region", stack))
    if not user_pool_id:
        raise CruddurError("no user pool: pass -s STACK or --user-pool-id (and --region)")
    if not region:
        raise CruddurError("no AWS region: pass -s STACK or --region")
    import boto3

    client = boto3.client("cognito-idp", region_name=region)
    report = run_sync(client, user_pool_id, t.db, dry_run=dry_run)
    table = Table(title=f"users sync {'(dry run) ' if dry_run else ''}{user_pool_id} -> {t.database}", title_justify="left")
    table.add_column("")
    table.add_column("count", justify="right")
    table.add_row("listed in Cognito", str(report.listed))
    table.add_row("unconfirmed (skipped)", str(report.unconfirmed))
    table.add_row("confirmed", str(report.confirmed))
    table.add_row("already in users", str(report.already_present))
    table.add_row("would insert" if dry_run else "inserted", str(report.inserted))
    table.add_row("missing attributes", str(len(report.incomplete)))
    table.add_row("failed", str(len(report.failed)))
    out.print(table)
    for label, missing in report.incomplete:
        out.print(f"missing attributes: {label}: {', '.join(missing)}")
    for sub, reason in report.failed:
        out.print(f"failed: {sub}: {reason}")
