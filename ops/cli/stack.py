"""``cruddur stack env``: the app's environment variables from a stack's outputs and its app secret.
``cruddur stack wake``: start a stack's stopped database and wait until it is available.
``cruddur stack check``: read-only checks that each promise of a deployed stack holds (ops/stack/check/)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ops.cli.console import err, out, step
from ops.errors import CruddurError
from ops.stack import wake as waking
from ops.stack.app_env import FORMATS, RDS_CA_BUNDLE, app_env, render
from ops.stack.outputs import fetch

app = typer.Typer(help="A deployed stack: the app's variables from its outputs; wake its stopped database; check "
                       "that its promises hold.",
                  no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="stack")


def stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


@app.command()
def env(
    stack: Annotated[str, typer.Option("--stack", "-s", help="The Pulumi stack, e.g. dev.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}.")] = "dotenv",
    ca_bundle: Annotated[str, typer.Option(
        "--ca-bundle", show_default=False,
        help="PGSSLROOTCERT: the RDS CA bundle's path where the app runs (e.g. in its container); "
             "default: lambda/post_confirmation/global-bundle.pem in this checkout.")] = str(RDS_CA_BUNDLE),
) -> None:
    """Print the app's variables (CONNECTION_URL from the app secret's current value, never the master's;
    PGSSLROOTCERT; Cognito ids; region) for a stack: the names `cruddur local up` writes to .env
    (docs/environment.md). Contains a secret: redirect into a file, e.g. `cruddur stack env -s dev > .env.dev`."""
    if fmt not in FORMATS:
        raise CruddurError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    values = app_env(fetch(stack), stack, ca_bundle)
    if stdout_is_tty():
        err.print("[yellow]warning:[/yellow] CONNECTION_URL contains a password; redirect stdout into a file "
                  "instead of showing it on screen")
    sys.stdout.write(render(values, fmt))


@app.command()
def wake(
    stack: Annotated[str, typer.Option("--stack", "-s", help="The Pulumi stack, e.g. dev.")],
    timeout: Annotated[int, typer.Option(
        "--timeout", min=1, help="Minutes to wait for `available` before giving up (RDS goes on starting it).",
    )] = waking.DEFAULT_TIMEOUT_MINUTES,
) -> None:
    """Start the stack's database if it is stopped (a dev stack's dbRunSchedule stops it outside its hours) and wait
    until it is available, showing each status change; one already available is left alone. A start takes a few
    minutes (runbooks/dev-schedule.md)."""
    db = waking.instance(fetch(stack), stack)
    # The spinner and the running time show on a terminal only; each status change is also a line of its own.
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                  transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(f"{db.identifier}: reading its status", total=None)

        header = [f"stack {stack}: database {db.identifier} in {db.region}"]  # shown with the first status

        def show(status: str, elapsed: float) -> None:
            if header:
                step(header.pop())
            bar.console.print(f"[dim]{waking.duration(elapsed)}[/dim] {db.identifier}: {status}")
            bar.update(task, description=f"{db.identifier}: {status}")

        def started(elapsed: float) -> None:
            bar.console.print(f"[dim]{waking.duration(elapsed)}[/dim] {db.identifier}: start requested")

        woken = waking.wake(waking.client(db.region), db, timeout=timeout * 60, on_status=show, on_start=started)
    if woken.found in waking.READY:
        out.print(f"stack {stack}'s database {db.identifier} is already {woken.status}: nothing to start")
    else:
        out.print(f"stack {stack}'s database {db.identifier} is {woken.status} after "
                  f"{waking.duration(woken.elapsed)} (it was {woken.found})")


CHECK_HELP = """Check, read-only, that each promise of a deployed stack holds on the real account: one line per promise,
grouped, each `ok`, `FAIL` with the fix, or `not checked` with why. Exit code 1 when a promise fails, 2 when nothing
can be checked (no outputs, expired credentials). No secret is ever printed. Run it right after `pulumi up`
(docs/stack-check.md).

\b
Groups:
  database                   encrypted with kmsKeyArn, not public, deletion protection, backups, TLS-only
                             parameter group applied (not pending reboot), IAM auth, engine and lifecycle,
                             Multi-AZ (as Pulumi.STACK.yaml sets them), point-in-time restore current
  credentials and rotation   both secrets rotate and last rotated recently; their current versions log in (tunnel)
  schema and app role        migrations = the deployed package; app roles: no superuser, no CREATE on public,
                             exactly their table grants (tunnel)
  sign-up                    the pool's post-confirmation trigger is this stack's function; its errors and
                             throttles in 24 h
  audit and detection        trail logging and delivering (bucket, log group); GuardDuty with RDS Protection;
                             every function under an enforcing code signing config
  alarms and budget          every alarm exists, none in ALARM, the topic has a confirmed subscription; the budget
  backups and restore drill  latest recovery point; latest restore test and its validation
  network                    no security group open to 0.0.0.0/0 or ::/0; instance in private subnets, no route out

\b
Needs: `pulumi` logged in to the stack's backend, and AWS credentials (operator or deploy role) allowed:
{actions}.
A call that is denied makes its check `not checked`. The database checks need the operator tunnel (`aws
ec2-instance-connect open-tunnel ...`, docs/stack-check.md) and --tunnel-port; without it they are `not checked`."""


def _check_help() -> str:
    from ops.stack.check.permissions import ACTIONS

    lines, line = [], " "
    for action in ACTIONS:  # wrapped by hand: the block keeps its line breaks (\\b)
        if len(line) + len(action) + 2 > 110:
            lines.append(line.rstrip())
            line = " "
        line += f" {action},"
    lines.append(line.rstrip(","))
    return CHECK_HELP.replace("{actions}", "\n".join(lines))


@app.command(help=_check_help())
def check(
    stack: Annotated[str, typer.Option("--stack", "-s", help="The Pulumi stack, e.g. dev.")],
    tunnel_port: Annotated[int | None, typer.Option(
        "--tunnel-port", min=1, max=65535, show_default=False,
        help="The local port of an open operator tunnel to the database (the credentials and schema checks).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
    markdown: Annotated[str | None, typer.Option(
        "--markdown", show_default=False, metavar="FILE",
        help="Also append the results as a Markdown table to FILE (e.g. $GITHUB_STEP_SUMMARY).")] = None,
    group: Annotated[list[str] | None, typer.Option(
        "--group", "-g", show_default=False, metavar="GROUP",
        help="Check only this group (repeatable), e.g. -g network -g database; default: every group.")] = None,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn

    from components.settings import ConfigError
    from ops.offline.stack_eval import StackFileError
    from ops.stack.check import report
    from ops.stack.check.context import Context, DatabaseReach, load_settings
    from ops.stack.check.result import GROUPS
    from ops.stack.check.runner import all_checks, run

    unknown = [g for g in group or [] if g not in GROUPS]
    if unknown:
        raise CruddurError(f"unknown group {unknown[0]!r}; the groups are: {', '.join(GROUPS)}")
    if markdown:
        _append(markdown, "")  # an unwritable summary file is known before the checks run, not after
    outputs = fetch(stack)
    settings, problem = None, ""
    try:
        settings = load_settings(stack)
    except (StackFileError, ConfigError) as exc:  # the checks that need the stack file say why
        problem = " ".join(str(exc).split())[:300]
    reach = DatabaseReach(tunnel_port, outputs.get("operatorEndpointId")) if tunnel_port else None
    ctx = Context(stack, outputs, settings=settings, settings_problem=problem, reach=reach)
    checks = [c for c in all_checks() if not group or c.group in group]
    step(f"stack {stack}: {len(checks)} checks in {outputs.get('region', '?')}")
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("checking", total=len(checks))
        groups: list[str] = []

        def show(check) -> None:
            if check.group not in groups:
                groups.append(check.group)
                if not err.is_terminal:
                    step(f"checking {check.group}")
            bar.update(task, description=f"{check.group}: {check.promise}", advance=1)

        results = run(ctx, checks, on_check=show)
    if markdown:
        _append(markdown, report.markdown(stack, results))
    sys.stdout.write(report.as_json(stack, results) if as_json else report.text(stack, results))
    raise typer.Exit(report.exit_code(results))


def _append(path: str, text: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(text)
    except OSError as exc:
        raise CruddurError(f"cannot write the Markdown table to {path}: {exc.strerror}") from None
