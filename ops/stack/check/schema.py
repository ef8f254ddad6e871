"""The schema and the app's roles, read as the master user through the tunnel: the migrations yoyo recorded
(``_yoyo_migration``) are exactly the package the stack deployed (``migrationsSha256``), and the roles the
migrations create have exactly their grants (sql/migrations/0002_roles.sql, 0006_app_clone_role.sql)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ops.paths import MIGRATIONS_DIR
from ops.stack.check.context import Context
from ops.stack.check.result import SCHEMA, NotChecked, fail, ok, promise

# Each login role the migrations create -> {table: privileges}; cruddur_app_clone holds cruddur_app's (inherit).
EXPECTED_GRANTS: dict[str, dict[str, frozenset[str]]] = {
    "cruddur_app": {"public.users": frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"}),
                    "public.activities": frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})},
    "cruddur_app_clone": {"public.users": frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"}),
                          "public.activities": frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})},
    "cruddur_confirmation": {"public.users": frozenset({"SELECT", "INSERT", "UPDATE"})},
}
ROLES = tuple(EXPECTED_GRANTS)
ATTRIBUTES = ("rolsuper", "rolcreaterole", "rolcreatedb", "rolreplication", "rolbypassrls")
ROLES_SQL = ("SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls "
             "FROM pg_catalog.pg_roles WHERE rolname = ANY(%s)")  # the columns of ATTRIBUTES, in order
# Built-in roles whose membership reads or writes beyond the table grants (those that exist on the server count).
POWERFUL = ("rds_superuser", "pg_read_all_data", "pg_write_all_data", "pg_read_server_files", "pg_write_server_files",
            "pg_execute_server_program", "pg_database_owner")
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
GRANTS_SQL = """
SELECT n.nspname || '.' || c.relname, p.privilege
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN unnest(%(privileges)s::text[]) AS p(privilege)
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%'
  AND pg_catalog.has_table_privilege(%(role)s, c.oid, p.privilege)
ORDER BY 1, 2
"""


def migrations_sha256(directory: Path = MIGRATIONS_DIR) -> str:
    """The migration set's fingerprint, as components/migrator.py computes ``migrationsSha256``."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((p for p in directory.glob("*.sql") if p.is_file()), key=lambda p: p.name):
        digest.update(path.name.encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def master(ctx: Context) -> Any:
    """A cursor-ready connection as the master user (AWSCURRENT, then the other stages mid-rotation), once."""
    def open_() -> Any:
        from ops.errors import CruddurError
        from ops.stack.master_login import MasterRotation
        from ops.stack.secrets import credentials

        reach = ctx.database()
        try:
            creds = credentials(ctx.outputs, ctx.stack, "masterSecretArn")
            rotation = MasterRotation(str(ctx.output("masterSecretArn")), ctx.region, creds.username, creds.password)
            from ops.db.connections import connect

            conn = connect(reach.target(creds, rotation))
        except CruddurError as exc:
            raise NotChecked(f"cannot log in as the master user: {exc.message}") from None
        conn.set_session(readonly=True, autocommit=True)
        return conn
    return ctx.once("master-connection", open_)


def _rows(ctx: Context, sql: str, params: Any = None) -> list[tuple]:
    with master(ctx).cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


@promise(SCHEMA, "the database's migrations are exactly the package the stack deployed")
def migrations(ctx: Context):
    from ops.db.migrations import read

    deployed = str(ctx.output("migrationsSha256"))
    here = migrations_sha256(MIGRATIONS_DIR)
    if deployed != here:
        raise NotChecked(f"this checkout's sql/migrations ({here[:12]}) is not the set the stack deployed "
                         f"({deployed[:12]}): run the check from the commit `pulumi up -s {ctx.stack}` deployed")
    package = {m.id: m.hash for m in read(MIGRATIONS_DIR)}
    if not _rows(ctx, "SELECT to_regclass('public._yoyo_migration') IS NOT NULL")[0][0]:
        return fail(f"no migration was ever applied (no _yoyo_migration table): the migrator's Invocation did not run; "
                    f"read the log of {ctx.outputs.get('migratorFunctionName', 'the migrator')} and run `pulumi up -s "
                    f"{ctx.stack}` again")
    applied = dict(_rows(ctx, "SELECT migration_id, migration_hash FROM public._yoyo_migration"))
    missing = sorted(m for m in package if m not in applied)
    unknown = sorted(m for m in applied if m not in package)
    changed = sorted(m for m in package if m in applied and applied[m] != package[m])
    if missing:
        return fail(f"not applied: {', '.join(missing)}: the migrator's Invocation did not apply them; read the log "
                    f"of {ctx.outputs.get('migratorFunctionName', 'the migrator')} and run `pulumi up -s {ctx.stack}` "
                    "again (runbooks/migrate-prod.md)")
    if unknown or changed:
        return fail(f"the database has migrations the package does not ({', '.join(unknown + changed)}): someone "
                    f"migrated from another commit; deploy that commit's sql/migrations (runbooks/migrate-prod.md)")
    return ok(f"{len(package)} migrations applied, {deployed[:12]}")


@promise(SCHEMA, "the app's roles have no superuser, role, database or replication power")
def role_powers(ctx: Context):
    found = {row[0]: row[1:] for row in _rows(ctx, ROLES_SQL, (list(ROLES),))}
    problems = [f"{role} is missing" for role in ROLES if role not in found]
    problems += [f"{role} has {attribute}" for role, flags in found.items()
                 for attribute, flag in zip(ATTRIBUTES, flags, strict=True) if flag]
    existing = [r[0] for r in _rows(ctx, "SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY(%s)",
                                    (list(POWERFUL),))]
    for role in found:
        for powerful in existing:
            if _rows(ctx, "SELECT pg_catalog.pg_has_role(%s, %s, 'USAGE')", (role, powerful))[0][0]:
                problems.append(f"{role} is a member of {powerful}")
    if any(p.endswith("is missing") for p in problems):
        return fail(f"{'; '.join(problems)}: the migrations create them; run `pulumi up -s {ctx.stack}` (the "
                    "migrator's Invocation)")
    if problems:
        first = problems[0].split()
        fix = (f"REVOKE {first[-1]} FROM {first[0]}" if "member" in problems[0]
               else f"ALTER ROLE {first[0]} NO{first[-1][3:].upper()}")
        return fail(f"{'; '.join(problems)}: as the master user, `{fix}` (and the like for the others)")
    return ok(f"{', '.join(ROLES)}: plain login roles")


@promise(SCHEMA, "no one but the owner may CREATE in schema public")
def no_create_on_public(ctx: Context):
    # has_schema_privilege reads the PUBLIC pseudo-role by the name "public" (PostgreSQL manual, 9.27).
    can = [role for role in ("public", *_existing(ctx))
           if _rows(ctx, "SELECT pg_catalog.has_schema_privilege(%s, 'public', 'CREATE')", (role,))[0][0]]
    if can:
        return fail(f"CREATE on schema public is granted to {', '.join(can)}: as the master user, `REVOKE CREATE ON "
                    f"SCHEMA public FROM {', '.join('PUBLIC' if r == 'public' else r for r in can)}` "
                    "(sql/migrations/0002_roles.sql)")
    return ok("only the owner")


def _existing(ctx: Context) -> list[str]:
    """The app's roles that exist, in the order of ROLES."""
    found = {r[0] for r in _rows(ctx, "SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY(%s)",
                                 (list(ROLES),))}
    return [role for role in ROLES if role in found]


@promise(SCHEMA, "the app's roles have exactly their table grants (and read nothing else)")
def table_grants(ctx: Context):
    extra, missing = [], []
    for role in _existing(ctx):
        held: dict[str, set[str]] = {}
        for table, privilege in _rows(ctx, GRANTS_SQL, {"privileges": list(TABLE_PRIVILEGES), "role": role}):
            held.setdefault(table, set()).add(privilege)
        wanted = EXPECTED_GRANTS[role]
        for table in sorted(set(held) | set(wanted)):
            more = sorted(held.get(table, set()) - wanted.get(table, frozenset()))
            less = sorted(wanted.get(table, frozenset()) - held.get(table, set()))
            if more:
                extra.append((role, table, more))
            if less:
                missing.append((role, table, less))
    if extra:
        role, table, privileges = extra[0]
        shown = "; ".join(f"{r} {', '.join(p)} on {t}" for r, t, p in extra)
        grantee = "cruddur_app" if role == "cruddur_app_clone" else role
        return fail(f"more than its grants: {shown}: as the master user, `REVOKE {', '.join(privileges)} ON {table} "
                    f"FROM {grantee}` (and PUBLIC if granted there)")
    if missing:
        shown = "; ".join(f"{r} {', '.join(p)} on {t}" for r, t, p in missing)
        return fail(f"missing grants: {shown}: run `pulumi up -s {ctx.stack}` (the migrations grant them)")
    return ok("; ".join(f"{role}: {len(tables)} tables" for role, tables in EXPECTED_GRANTS.items()))


CHECKS = (migrations, role_powers, no_create_on_public, table_grants)
