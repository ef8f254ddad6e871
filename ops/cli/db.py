"""``cruddur db ...``: database lifecycle against the local database (default), --url, or -s STACK."""

from __future__ import annotations

import os
from typing import Annotated

import psycopg2
import typer
from rich.table import Table

from ops.cli.console import LocalDirOption, StackOption, TunnelOption, UrlOption, err, out, progress, step
from ops.cli.safety import confirm_destructive
from ops.cli.targets import Target, resolve
from ops.db import databases, migrations
from ops.db import seed as seeding
from ops.db import sessions as sess
from ops.db.connections import connect as open_connection
from ops.db.connections import cursor, dsn_params
from ops.db.health import XID_WRAPAROUND, Thresholds, collect, judge
from ops.errors import CruddurError
from ops.local.server import bin_path
from ops.urls import redact

app = typer.Typer(help="Database lifecycle: create, migrate, seed, inspect, reset.", no_args_is_help=True)

YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (not enough for prod/RDS: see --force).")]
ForceOption = Annotated[bool, typer.Option("--force", help="Required for destructive work on stack prod or an RDS host.")]
ConfirmOption = Annotated[
    str | None, typer.Option("--confirm", show_default=False, help="The database name, typed back (for scripts).")
]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="db")


def _target(url, stack, tunnel_port, local_dir) -> Target:
    return resolve(url, stack, tunnel_port, local_dir)


@app.command()
def create(url: UrlOption = None, stack: StackOption = None, tunnel_port: TunnelOption = None,
           local_dir: LocalDirOption = None) -> None:
    """Create the target database (nothing happens if it exists)."""
    t = _target(url, stack, tunnel_port, local_dir)
    if databases.create(t.db):
        out.print(f"created database {t.database} on {t.shown}")
    else:
        out.print(f"database {t.database} already exists on {t.shown}")


@app.command()
def drop(url: UrlOption = None, stack: StackOption = None, tunnel_port: TunnelOption = None,
         local_dir: LocalDirOption = None, yes: YesOption = False, force: ForceOption = False,
         confirm: ConfirmOption = None) -> None:
    """Drop the target database (asks first; prod/RDS need --force and the name typed back)."""
    t = _target(url, stack, tunnel_port, local_dir)
    confirm_destructive(t, "drop", yes=yes, force=force, confirm=confirm)
    if databases.drop(t.db):
        out.print(f"dropped database {t.database} on {t.shown}")
    else:
        out.print(f"database {t.database} does not exist on {t.shown}")


@app.command()
def migrate(url: UrlOption = None, stack: StackOption = None, tunnel_port: TunnelOption = None,
            local_dir: LocalDirOption = None) -> None:
    """Apply pending migrations (under a lock: concurrent runs wait, then find nothing to do)."""
    t = _target(url, stack, tunnel_port, local_dir)
    applied = migrations.apply(t.db)
    if applied:
        out.print(f"applied {len(applied)} migration(s) to {t.shown}: {', '.join(applied)}")
    else:
        out.print(f"{t.shown} is up to date")


def _run_seed(t: Target, users: int, activities: int) -> None:
    if users or activities:
        with progress() as bar:
            tasks = {}
            if users:
                tasks["users"] = bar.add_task("users", total=users)
            if activities:
                tasks["activities"] = bar.add_task("activities", total=activities)
            seeding.load(t.db, users=users, activities=activities,
                         progress=lambda kind, n: bar.advance(tasks[kind], n))
        out.print(f"loaded {users} users and {activities} activities into {t.shown}")
        return
    result = seeding.seed(t.db)
    out.print(f"seeded {t.shown}: {result.users} new users, {result.activities} new activities")


@app.command()
def seed(
    url: UrlOption = None, stack: StackOption = None, tunnel_port: TunnelOption = None,
    local_dir: LocalDirOption = None,
    users: Annotated[int, typer.Option("--users", min=0, help="Generate N extra users (load data, COPY).")] = 0,
    activities: Annotated[int, typer.Option("--activities", min=0, help="Generate M extra activities (load data).")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Allow seeding a protected target (prod / RDS).")] = False,
) -> None:
    """Load the dev seed (idempotent), or generated load data with --users/--activities."""
    t = _target(url, stack, tunnel_port, local_dir)
    if t.protected and not force:
        raise CruddurError(f"refusing to load dev/load data into {t.why_protected}; pass --force if you really mean it")
    _run_seed(t, users, activities)


@app.command()
def setup(
    url: UrlOption = None, stack: StackOption = None, tunnel_port: TunnelOption = None,
    local_dir: LocalDirOption = None,
    with_seed: Annotated[bool | None, typer.Option("--seed/--no-seed", show_default=False,
                                                   help="Load the dev seed (default: yes, except on prod/RDS).")] = None,
) -> None:
    """Create the database if missing, migrate, seed. Keeps existing data."""
    t = _target(url, stack, tunnel_port, local_dir)
    if with_seed and t.protected:  # the same guard as `db seed`, before anything is done
        raise CruddurError(f"refusing to load the dev seed into {t.why_protected}; run `cruddur db setup --no-seed`, "
                           "then `cruddur db seed --force` if you really mean it")
    if databases.create(t.db):
        step(f"created database {t.database}")
    applied = migrations.apply(t.db)
    step(f"applied migrations: {', '.join(applied)}" if applied else "migrations: up to date")
    do_seed = (not t.protected) if with_seed is None else with_seed
    if do_seed:
        result = seeding.seed(t.db)
        step(f"seed: {result.users} new users, {result.activities} new activities")
    else:
        step("seed: skipped" + (f" ({t.why_protected})" if t.protected and with_seed is None else ""))
    out.print(f"{t.database} is set up on {t.shown}")


@app.command()
def reset(
    url: UrlOption = None, stack: StackOption = None, tunnel_port: TunnelOption = None,
    local_dir: LocalDirOption = None, yes: YesOption = False, force: ForceOption = False,
    confirm: ConfirmOption = None,
    with_seed: Annotated[bool | None, typer.Option("--seed/--no-seed", show_default=False,
                                                   help="Load the dev seed (default: yes, except on prod/RDS).")] = None,
) -> None:
    """DESTROY the database and set it up again (drop, create, migrate, seed). Asks first."""
    t = _target(url, stack, tunnel_port, local_dir)
    confirm_destructive(t, "reset", yes=yes, force=force, confirm=confirm)
    databases.drop(t.db)
    step(f"dropped {t.database}")
    databases.create(t.db)
    applied = migrations.apply(t.db)
    step(f"applied migrations: {', '.join(applied)}")
    if (not t.protected) if with_seed is None else with_seed:
        result = seeding.seed(t.db)
        step(f"seed: {result.users} users, {result.activities} activities")
    out.print(f"reset {t.database} on {t.shown}")


@app.command()
def status(url: UrlOption = None, stack: StackOption = None, tunnel_port: TunnelOption = None,
           local_dir: LocalDirOption = None) -> None:
    """Show the target: server version, migrations applied/pending, row counts."""
    t = _target(url, stack, tunnel_port, local_dir)
    table = Table(show_header=False, box=None)
    table.add_row("target", t.shown)
    if not databases.exists(t.db):
        table.add_row("database", f"{t.database} (missing: cruddur db setup)")
        out.print(table)
        return
    with cursor(t.db) as cur:
        cur.execute("SHOW server_version")
        version = cur.fetchone()[0]
        cur.execute("SELECT to_regclass('public.users') IS NOT NULL AND to_regclass('public.activities') IS NOT NULL")
        has_tables = cur.fetchone()[0]
        counts = None
        if has_tables:
            cur.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM activities)")
            counts = cur.fetchone()
    states = migrations.status(t.db)
    applied = [m.id for m in states if m.applied]
    waiting = [m.id for m in states if not m.applied]
    table.add_row("database", t.database)
    table.add_row("server", f"PostgreSQL {version}")
    pending_ids = f": {', '.join(waiting)}" if waiting else ""
    table.add_row("migrations", f"{len(applied)} applied, {len(waiting)} pending{pending_ids}")
    if counts:
        table.add_row("rows", f"users {counts[0]}, activities {counts[1]}")
    out.print(table)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def connect(ctx: typer.Context, url: UrlOption = None, stack: StackOption = None, tunnel_port: TunnelOption = None,
            local_dir: LocalDirOption = None) -> None:
    """Open psql on the target (extra arguments go to psql, e.g. -- -c 'select 1')."""
    t = _target(url, stack, tunnel_port, local_dir)
    open_connection(t.db).close()  # fail here with one clear line, not inside psql
    params = dsn_params(t.db)
    env = dict(os.environ)
    password = params.pop("password", None)
    if password is not None:
        env["PGPASSWORD"] = password  # not on the command line (visible in ps)
    for key, var in (("host", "PGHOST"), ("hostaddr", "PGHOSTADDR"), ("port", "PGPORT"), ("user", "PGUSER"),
                     ("dbname", "PGDATABASE"), ("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT"),
                     ("connect_timeout", "PGCONNECT_TIMEOUT"), ("service", "PGSERVICE"), ("options", "PGOPTIONS"),
                     ("application_name", "PGAPPNAME")):
        if key in params:
            env[var] = params.pop(key)
    env.pop("CONNECTION_URL", None)
    psql = str(bin_path("psql"))
    err.print(f"connecting to {t.shown}")
    try:
        os.execvpe(psql, [psql, *ctx.args], env)  # noqa: S606 - exec replaces the CLI with psql on purpose
    except OSError as exc:
        raise CruddurError(f"cannot run psql ({psql}): {exc.strerror}") from None


@app.command()
def sessions(url: UrlOption = None, stack: StackOption = None, tunnel_port: TunnelOption = None,
             local_dir: LocalDirOption = None) -> None:
    """List the other sessions on the target database (pg_stat_activity)."""
    t = _target(url, stack, tunnel_port, local_dir)
    rows = sess.list_sessions(t.db)
    table = Table(title=f"sessions on {t.database}", title_justify="left")
    for col in ("pid", "user", "application", "client", "state", "since", "query"):
        table.add_column(col, overflow="fold")
    for s in rows:
        table.add_row(str(s.pid), s.user or "", s.application or "", s.client or "", s.state or "",
                      s.backend_start or "", s.query)
    out.print(table)
    out.print(f"{len(rows)} other session(s)")


@app.command("kill-sessions")
def kill_sessions(url: UrlOption = None, stack: StackOption = None, tunnel_port: TunnelOption = None,
                  local_dir: LocalDirOption = None, yes: YesOption = False, force: ForceOption = False,
                  confirm: ConfirmOption = None) -> None:
    """Terminate the other sessions on the target database (asks first; prod/RDS need --force and the name typed
    back)."""
    t = _target(url, stack, tunnel_port, local_dir)
    confirm_destructive(t, "kill the sessions of", yes=yes, force=force, confirm=confirm)
    pids = sess.kill_sessions(t.db)
    out.print(f"terminated {len(pids)} session(s) on {t.database}" + (f": {', '.join(map(str, pids))}" if pids else ""))


@app.command("role-password")
def role_password(
    role: Annotated[str, typer.Argument(help="cruddur_app or cruddur_confirmation")],
    url: UrlOption = None, local_dir: LocalDirOption = None,
    env_var: Annotated[str | None, typer.Option("--env-var", show_default=False,
                                                help="Variable to write the role's URL to in .env "
                                                     "(default CRUDDUR_<ROLE>_URL).")] = None,
) -> None:
    """Local/dev only: give a role a fresh password and write its URL into .env (never printed).
    On RDS the roles log in with IAM auth tokens instead."""
    from ops import dotenv
    from ops.db.roles import set_role_password
    from ops.paths import env_file

    t = resolve(url, None, None, local_dir)
    role_url = set_role_password(t.db, role)
    var = env_var or f"{role.upper()}_URL"
    path = env_file(local_dir)
    try:
        dotenv.merge(path, {var: role_url})
    except CruddurError as exc:
        raise CruddurError(
            f"the password of {role} WAS changed on {t.shown}, but {exc.message}: free space (or fix the "
            f"folder's permissions), then run `cruddur db role-password {role}` again to set a new one and write {var}"
        ) from None
    out.print(f"set a new password for {role}; {var} written to {path} ({redact(role_url)})")


@app.command()
def health(
    url: UrlOption = None, stack: StackOption = None, tunnel_port: TunnelOption = None,
    local_dir: LocalDirOption = None,
    connections_pct: Annotated[float, typer.Option(min=1, max=100, help="Breach: % of usable connections in use.")]
    = Thresholds.connections_pct,
    idle_in_transaction: Annotated[int, typer.Option("--idle-in-transaction-seconds", min=1,
                                                     help="Breach: a session idle in a transaction this long.")]
    = Thresholds.idle_in_transaction_seconds,
    long_transaction: Annotated[int, typer.Option("--long-transaction-seconds", min=1,
                                                  help="Breach: a transaction open this long.")]
    = Thresholds.long_transaction_seconds,
    lock_wait: Annotated[int, typer.Option("--lock-wait-seconds", min=1, help="Breach: waiting on a lock this long.")]
    = Thresholds.lock_wait_seconds,
    xid_age: Annotated[int, typer.Option(min=1, help="Breach: the database's transaction-ID age.")] = Thresholds.xid_age,
) -> None:
    """The numbers to look at first: connections, largest tables, vacuum, xid age, long transactions, locks,
    migrations. Exits 1 when something is over its threshold."""
    t = _target(url, stack, tunnel_port, local_dir)
    limits = Thresholds(connections_pct=connections_pct, idle_in_transaction_seconds=idle_in_transaction,
                        long_transaction_seconds=long_transaction, lock_wait_seconds=lock_wait, xid_age=xid_age)
    conn = open_connection(t.db)
    try:
        report = collect(conn, [m.id for m in migrations.read()])
    except psycopg2.Error as exc:
        raise CruddurError(f"cannot read health of {t.shown}: {' '.join(str(exc).split())[:200]}") from None
    finally:
        conn.close()
    summary = Table(show_header=False, box=None)
    summary.add_row("target", t.shown)
    summary.add_row("server", f"PostgreSQL {report.server_version}")
    summary.add_row("connections", f"{report.connections} of {report.usable_connections} usable "
                                   f"({report.connections_pct:.0f}%; max_connections {report.max_connections}, "
                                   f"{report.reserved_connections} reserved)")
    summary.add_row("xid age", f"{report.xid_age:,} ({100 * report.xid_age / XID_WRAPAROUND:.1f}% of wraparound)")
    summary.add_row("migrations", f"{len(report.applied_migrations)} applied, {len(report.pending_migrations)} "
                                  f"pending, {len(report.available_migrations)} in this checkout")
    out.print(summary)
    tables = Table(title="largest tables", title_justify="left")
    for col in ("table", "size", "live", "dead", "dead %", "last vacuum"):
        tables.add_column(col, justify="left" if col in ("table", "last vacuum") else "right")
    for s in report.tables:
        tables.add_row(s.name, f"{s.total_bytes / 1024:,.0f} KiB", f"{s.live_tuples:,}", f"{s.dead_tuples:,}",
                       f"{s.dead_pct:.0f}", s.last_vacuum or "never")
    out.print(tables)
    slow = [("long transaction", s) for s in report.long_transactions] + \
           [("idle in transaction", s) for s in report.idle_in_transaction] + \
           [("waiting on a lock", s) for s in report.lock_waits]
    if slow:
        held = Table(title="sessions to look at", title_justify="left")
        for col in ("pid", "user", "what", "seconds", "query"):
            held.add_column(col, overflow="fold")
        for what, s in slow:
            held.add_row(str(s.pid), s.user or "", what, str(s.seconds), redact(" ".join(s.query.split()))[:80])
        out.print(held)
    findings = judge(report, limits)
    for f in findings:
        (err if f.breach else out).print(f"{'BREACH' if f.breach else 'note'}: {f.message}")
    if any(f.breach for f in findings):
        raise typer.Exit(1)
    out.print("healthy: nothing over its threshold")
