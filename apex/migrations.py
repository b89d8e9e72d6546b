"""Applies the versioned schema files under ``apex/schema`` (also mounted by ``docker/``).

PostgreSQL files are applied once each, in name order, and recorded in ``schema_migrations``;
ClickHouse files are idempotent (``IF NOT EXISTS``) and applied on every start.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

APP_ROLE = "apex_app"


def schema_files(engine: str) -> list[tuple[str, str]]:
    """(name, text) of the schema files for ``engine`` ("postgres" or "clickhouse"), in order."""
    folder = resources.files("apex") / "schema" / engine
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name, f.read_text(encoding="utf-8")) for f in files]


def ensure_app_role(admin_dsn: str, password: str) -> None:
    """Create (or re-password) the non-owner login role the platform connects as."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(password)
            )
        )


def apply_postgres(admin_dsn: str) -> list[str]:
    """Apply pending PostgreSQL files; returns the names applied by this call."""
    applied: list[str] = []
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        # Serialise concurrent starters (two suite processes on one external database).
        conn.execute("SELECT pg_advisory_lock(hashtext('apex.schema_migrations'))")
        try:
            done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
            for name, text in schema_files("postgres"):
                if name in done:
                    continue
                with conn.transaction():
                    conn.execute(text.encode())
                    conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
                applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('apex.schema_migrations'))")
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
