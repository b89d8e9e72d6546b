"""Creates the region databases and applies ``apex/schema/region`` to each (once per file).

Run with a role that may create databases and roles (superuser in embedded and docker modes).
Tables are created as ``apex_region_owner``, a role that cannot log in and does not bypass
row-level security; the platform's ``apex_app`` gets only the grants the schema files give it.
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from apex import migrations
from apex.tenancy.regions import Region, database_name

OWNER_ROLE = "apex_region_owner"
_LEDGER = "region_schema_migrations"


def provision_regions(admin_dsn: str) -> dict[Region, list[str]]:
    """Create the missing region databases and apply pending files; names applied per region."""
    _ensure_owner_role(admin_dsn)
    applied: dict[Region, list[str]] = {}
    for home in Region:
        name = database_name(home)
        _ensure_database(admin_dsn, name)
        applied[home] = _apply(make_conninfo(admin_dsn, dbname=name))
    return applied


def _ensure_owner_role(admin_dsn: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('apex.region_owner'))")
        try:
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (OWNER_ROLE,)
            ).fetchone()
            if not exists:
                conn.execute(
                    sql.SQL("CREATE ROLE {} NOLOGIN NOSUPERUSER NOBYPASSRLS").format(
                        sql.Identifier(OWNER_ROLE)
                    )
                )
            row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            is_super = row.fetchone()
            if not (is_super and is_super[0]):
                # A non-superuser migrator (external mode) must be able to SET ROLE to it.
                conn.execute(
                    sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(OWNER_ROLE))
                )
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('apex.region_owner'))")


def _ensure_database(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return
        try:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(OWNER_ROLE)
                )
            )
        except psycopg.errors.DuplicateDatabase:
            return  # another starter won the race
        conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(
            sql.Identifier(name)
        ))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(name), sql.Identifier(migrations.APP_ROLE)
        ))


def _apply(region_dsn: str) -> list[str]:
    applied: list[str] = []
    with psycopg.connect(region_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(OWNER_ROLE)))
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {_LEDGER} ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute("SELECT pg_advisory_lock(hashtext('apex.region_schema'))")
        try:
            done = {row[0] for row in conn.execute(f"SELECT name FROM {_LEDGER}")}
            for name, text in migrations.schema_files("region"):
                if name in done:
                    continue
                with conn.transaction():
                    conn.execute(text.encode())
                    conn.execute(f"INSERT INTO {_LEDGER} (name) VALUES (%s)", (name,))
                applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('apex.region_schema'))")
    return applied
