"""Names the database and its master user may not take: PostgreSQL's reserved words and role names, the default admin
names attackers try first, the prefixes PostgreSQL and RDS keep, the roles the migrations create, and the databases
every server already has. ``components.settings`` refuses them (``dbName``, ``masterUsername``); tests/components/
test_settings_names.py holds the lists to a real server and to sql/migrations. Standard library only.
"""

from __future__ import annotations

RESERVED_USERNAMES = ("postgres", "root", "admin", "administrator", "rdsadmin", "rdsrepladmin", "master", "user")
# Role names PostgreSQL's CREATE ROLE refuses besides the reserved words and pg_ (tests/components/
# test_settings_names.py tries each on a real server), and the roles sql/migrations create (the same test holds this
# list to the migrations): the master user is none of them.
PG_RESERVED_ROLE_NAMES = ("public", "none")
MIGRATION_ROLES = ("cruddur_app", "cruddur_app_clone", "cruddur_confirmation")
# Databases every PostgreSQL server or RDS instance already has: the app's database is its own.
SYSTEM_DATABASES = ("postgres", "template0", "template1", "rdsadmin")

# PostgreSQL's reserved key words (``pg_get_keywords()`` with catcode 'R', PostgreSQL 17): RDS refuses them as the
# master user name and as the database name. tests/components/test_settings_names.py holds this list to a real server.
PG_RESERVED_WORDS = frozenset("""
    all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create
    current_catalog current_date current_role current_time current_timestamp current_user default deferrable desc
    distinct do else end except false fetch for foreign from grant group having in initially intersect into lateral
    leading limit localtime localtimestamp not null offset on only or order placing primary references returning
    select session_user some symmetric system_user table then to trailing true union unique user using variadic when
    where window with""".split())


def _join(values) -> str:
    return ", ".join(values)


def _reserved_word(name: str) -> str | None:
    return "is a PostgreSQL reserved word, which RDS refuses; use another" if name in PG_RESERVED_WORDS else None


def database_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be the app's database, or None."""
    if name in SYSTEM_DATABASES:
        return (f"is a database PostgreSQL or RDS keeps for itself ({_join(SYSTEM_DATABASES)}); name the app's own, "
                "e.g. cruddur")
    return _reserved_word(name)


def master_username_problem(name: str) -> str | None:
    """Why ``name`` cannot be the master user, or None: it is a role of its own, none that an attacker tries first,
    PostgreSQL or RDS keeps, or the migrations create (the master would then be, or be taken over by, the app's
    role)."""
    if name in RESERVED_USERNAMES:
        return "is a default admin name attackers try first; use another, e.g. cruddur_admin"
    if name.startswith(("pg_", "rds")):
        return (f"starts with {name[:3]!r}, a prefix PostgreSQL (pg_) or Amazon RDS (rds) keeps for its own roles; "
                "use another, e.g. cruddur_admin")
    if name in PG_RESERVED_ROLE_NAMES:
        return f"is a role name PostgreSQL reserves ({_join(PG_RESERVED_ROLE_NAMES)}); use another, e.g. cruddur_admin"
    if name in MIGRATION_ROLES:
        return (f"is a role the migrations create ({_join(MIGRATION_ROLES)}); the master user is a role of its own, "
                "e.g. cruddur_admin")
    return _reserved_word(name)
