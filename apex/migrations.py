"""Applies the versioned schema files under ``apex/schema`` (also mounted by ``docker/``), and
creates the roles they name.

PostgreSQL files are applied once each, in name order, and recorded in a ledger table, by one
loop for every database (the main one here, the region ones in ``apex.tenancy.provisioning``);
ClickHouse files are idempotent (``IF NOT EXISTS``) and applied on every start.

Roles are cluster-wide and outlive any one run, so they are created once and never altered: a
second run on a shared server must not re-password the role a first run is connected as.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

#: The login role the platform connects as: owns nothing, never bypasses row-level security.
APP_ROLE = "apex_app"
#: Owns the API-key lookup function (``0005_main_row_security.sql``) and nothing else; cannot
#: log in, so only that function ever acts as it.
KEY_LOOKUP_ROLE = "apex_key_lookup"
#: Owns the functions that tell operators which tenants have dead letters or billing events
#: (``0008_dead_letters.sql``), and nothing else; cannot log in.
CENSUS_ROLE = "apex_census"
_LEDGER = "schema_migrations"


def schema_files(engine: str) -> list[tuple[str, str]]:
    """(name, text) of the schema files in ``apex/schema/<engine>`` ("postgres", "region",
    "clickhouse"), in order."""
    folder = resources.files("apex") / "schema" / engine
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name, f.read_text(encoding="utf-8")) for f in files]


def ensure_app_role(admin_dsn: str, password: str) -> bool:
    """Create the platform's login role with ``password`` if it does not exist yet; True if
    this call created it. An existing role keeps the password it was created with."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn, _roles_locked(conn):
        if _role_exists(conn, APP_ROLE):
            return False
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(password)
            )
        )
        return True


def ensure_nologin_role(admin_dsn: str, role: str) -> None:
    """Create ``role`` (cannot log in, does not bypass row-level security) if missing, and let
    a non-superuser migrator ``SET ROLE`` to it, as owning objects for it requires."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn, _roles_locked(conn):
        if not _role_exists(conn, role):
            conn.execute(
                sql.SQL("CREATE ROLE {} NOLOGIN NOSUPERUSER NOBYPASSRLS").format(
                    sql.Identifier(role)
                )
            )
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        is_super = row.fetchone()
        if not (is_super and is_super[0]):
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role)))


def apply_postgres(admin_dsn: str) -> list[str]:
    """Create the roles the main schema names, apply its pending files; returns the names
    applied by this call."""
    ensure_nologin_role(admin_dsn, KEY_LOOKUP_ROLE)
    ensure_nologin_role(admin_dsn, CENSUS_ROLE)
    return apply_schema(admin_dsn, "postgres", ledger=_LEDGER)


def apply_schema(dsn: str, folder: str, *, ledger: str, as_role: str | None = None) -> list[str]:
    """Apply the files of ``apex/schema/<folder>`` not yet recorded in the ``ledger`` table of
    the database ``dsn`` names, each in its own transaction with its ledger row; returns the
    names applied by this call. With ``as_role`` the files run as that role (which then owns
    what they create). Concurrent callers on one database are serialised."""
    applied: list[str] = []
    lock = f"apex.{ledger}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        if as_role:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(as_role)))
        # Lock before creating the ledger: two starters racing on CREATE TABLE IF NOT EXISTS
        # can both pass the check and one then fails.
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (lock,))
        try:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
                ).format(sql.Identifier(ledger))
            )
            done = {row[0] for row in conn.execute(
                sql.SQL("SELECT name FROM {}").format(sql.Identifier(ledger))
            )}
            for name, text in schema_files(folder):
                if name in done:
                    continue
                with conn.transaction():
                    conn.execute(text.encode())
                    conn.execute(
                        sql.SQL("INSERT INTO {} (name) VALUES (%s)").format(sql.Identifier(ledger)),
                        (name,),
                    )
                applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (lock,))
    return applied


def apply_clickhouse(client: Any) -> list[str]:
    """Apply every ClickHouse file (each statement idempotent); returns the names applied."""
    names: list[str] = []
    for name, text in schema_files("clickhouse"):
        for statement in (s.strip() for s in text.split(";")):
            if statement and not all(
                line.strip().startswith("--") for line in statement.splitlines() if line.strip()
            ):
                client.command(statement)
        names.append(name)
    return names


def _role_exists(conn: psycopg.Connection[Any], role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


@contextlib.contextmanager
def _roles_locked(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Serialise role changes across starters on one server (roles are cluster-wide)."""
    conn.execute("SELECT pg_advisory_lock(hashtext('apex.roles'))")
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext('apex.roles'))")
