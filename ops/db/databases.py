"""Database lifecycle on a server: exists / create / drop, through the maintenance database ``postgres``."""

from __future__ import annotations

import psycopg2
from psycopg2 import sql

from ops.db.connections import connect
from ops.db.target import DbTarget
from ops.errors import CruddurError
from ops.urls import scrub

MAINTENANCE_DB = "postgres"


def _admin(target: DbTarget):
    return connect(target, database=MAINTENANCE_DB, autocommit=True)


def _has_database(cur, name: str) -> bool:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    return cur.fetchone() is not None


def exists(target: DbTarget) -> bool:
    name = target.database
    conn = _admin(target)
    try:
        with conn.cursor() as cur:
            return _has_database(cur, name)
    finally:
        conn.close()


def create(target: DbTarget) -> bool:
    """Create the target's database; False if it already existed."""
    name = target.database
    conn = _admin(target)
    try:
        with conn.cursor() as cur:
            if _has_database(cur, name):
                return False
            try:
                cur.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(name)))
            except psycopg2.errors.DuplicateDatabase:
                return False  # created meanwhile
            except psycopg2.Error as exc:
                reason = scrub(str(exc).strip(), target.url)
                raise CruddurError(f"cannot create database {name} on {target.shown}: {reason}") from None
        return True
    finally:
        conn.close()


def drop(target: DbTarget) -> bool:
    """Drop the target's database, disconnecting its sessions; False if it did not exist."""
    name = target.database
    if name == MAINTENANCE_DB:
        raise CruddurError("refusing to drop the maintenance database 'postgres'")
    conn = _admin(target)
    try:
        with conn.cursor() as cur:
            try:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            except psycopg2.Error as exc:
                reason = scrub(str(exc).strip(), target.url)
                raise CruddurError(f"cannot drop database {name} on {target.shown}: {reason}") from None
            return not any("does not exist" in n for n in conn.notices)
    finally:
        conn.close()
