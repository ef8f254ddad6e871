"""Passwords for the migration-created login roles, for local development and tests only.

On RDS the roles authenticate with IAM tokens (``rds_iam``); a password is never set there.
The password travels as a SCRAM verifier computed client-side, so no plaintext appears in SQL text,
pg_stat_activity or server logs.
"""

from __future__ import annotations

import secrets

from psycopg2 import sql
from psycopg2.extensions import encrypt_password

from ops.db.connections import connect
from ops.db.target import DbTarget
from ops.errors import CruddurError
from ops.urls import build_url

ROLES = ("cruddur_app", "cruddur_confirmation")


def set_role_password(target: DbTarget, role: str, password: str | None = None) -> str:
    """Set ``role``'s password (generated when not given) through the admin ``target``; return the role's URL
    for the same database. Refuses RDS hosts."""
    info = target.info
    if role not in ROLES:
        raise CruddurError(f"unknown role {role!r}; expected one of: {', '.join(ROLES)}")
    if info.is_rds:
        raise CruddurError(f"{role} logs in to RDS with IAM auth tokens; refusing to set a password on {target.shown}")
    password = password or secrets.token_urlsafe(24)
    conn = connect(target, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            if not cur.fetchone():
                raise CruddurError(f"role {role} does not exist on {target.shown}; run: cruddur db migrate")
            verifier = encrypt_password(password, role, conn, "scram-sha-256")
            cur.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier)))
    finally:
        conn.close()
    params = {k: v for k, v in info.params.items() if k not in ("user", "password", "dbname")}
    return build_url(role, password, info.host, info.port, info.database, **params)
