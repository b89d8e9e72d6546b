"""Creates the region databases and applies ``apex/schema/region`` to each (once per file).

Run with a role that may create databases and roles (superuser in embedded and docker modes).
Tables are created as ``apex_region_owner``, a role that cannot log in and does not bypass
row-level security; the platform's ``apex_app`` gets only the grants the schema files give it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from apex import migrations
from apex.tenancy.regions import Region, database_name

OWNER_ROLE = "apex_region_owner"
_LEDGER = "region_schema_migrations"


def provision_regions(admin_dsn: str) -> dict[Region, list[str]]:
    """Create the missing region databases and apply pending files; names applied per region."""
    migrations.ensure_nologin_role(admin_dsn, OWNER_ROLE)
    applied: dict[Region, list[str]] = {}
    for home in Region:
        name = database_name(home)
        _ensure_database(admin_dsn, name)
        applied[home] = migrations.apply_schema(
            make_conninfo(admin_dsn, dbname=name), "region", ledger=_LEDGER, as_role=OWNER_ROLE
        )
    return applied


def _ensure_database(admin_dsn: str, name: str) -> None:
    # Two starters on one server (two runs on a shared stack) race here: CREATE DATABASE of the
    # same name at once fails with a unique violation on pg_database, not DuplicateDatabase, and
    # the loser would go on before the winner granted access. One starter at a time, then.
    with psycopg.connect(admin_dsn, autocommit=True) as conn, _databases_locked(conn):
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(OWNER_ROLE)
            )
        )
        conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(
            sql.Identifier(name)
        ))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(name), sql.Identifier(migrations.APP_ROLE)
        ))


@contextlib.contextmanager
def _databases_locked(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Serialise database creation across starters on one server."""
    conn.execute("SELECT pg_advisory_lock(hashtext('apex.databases'))")
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext('apex.databases'))")
