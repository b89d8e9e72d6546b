"""Schema migrations and roles on the session's embedded PostgreSQL: files applied once, and
roles that keep the password they were created with, so runs sharing a server coexist."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from apex import migrations
from apex.tenancy.provisioning import OWNER_ROLE
from harness.services import Services


def _password_is(admin_dsn: str, role: str, password: str) -> bool:
    """Whether ``role``'s stored SCRAM verifier was made from ``password``. Checked on the
    verifier because the embedded server trusts every local login (RFC 5802: StoredKey =
    H(HMAC(PBKDF2(password, salt, i), "Client Key")))."""
    with psycopg.connect(admin_dsn) as conn:
        row = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)
        ).fetchone()
    assert row and str(row[0]).startswith("SCRAM-SHA-256$"), f"{role} has no SCRAM password"
    iterations_salt, stored_server = str(row[0]).removeprefix("SCRAM-SHA-256$").split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key = base64.b64decode(stored_server.split(":")[0])
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)


def test_a_second_runs_role_setup_leaves_the_first_runs_password_in_place(
    services: Services,
) -> None:
    admin_dsn, first_runs_password = services.postgres.admin_dsn, services.postgres.app_password
    assert _password_is(admin_dsn, migrations.APP_ROLE, first_runs_password)
    migrations.ensure_app_role(admin_dsn, secrets.token_urlsafe(24))
    assert _password_is(admin_dsn, migrations.APP_ROLE, first_runs_password), (
        "a second run's role setup re-passworded apex_app: the first run's connections fail"
    )


def test_the_role_setup_reports_whether_it_created_the_role(services: Services) -> None:
    assert migrations.ensure_app_role(services.postgres.admin_dsn, "unused") is False


def _create_database(admin_dsn: str, owner: str | None = None) -> str:
    name = f"apex_migrations_{uuid.uuid4().hex[:8]}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if owner:
        statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(statement)
    return name


@pytest.fixture
def databases(services: Services) -> Iterator[Callable[..., str]]:
    """Makes empty databases on the session's server (DSN as the administrator); drops them
    afterwards."""
    admin_dsn = services.postgres.admin_dsn
    made: list[str] = []

    def make(owner: str | None = None) -> str:
        made.append(_create_database(admin_dsn, owner))
        return make_conninfo(admin_dsn, dbname=made[-1])

    yield make
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        for name in made:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_each_main_schema_file_is_applied_once(databases: Callable[..., str]) -> None:
    dsn = databases()
    every = [name for name, _ in migrations.schema_files("postgres")]
    assert migrations.apply_postgres(dsn) == every
    assert migrations.apply_postgres(dsn) == []


def test_region_files_go_through_the_same_loop_as_the_owner_role(
    databases: Callable[..., str],
) -> None:
    dsn = databases(owner=OWNER_ROLE)
    every = [name for name, _ in migrations.schema_files("region")]
    applied = [
        migrations.apply_schema(dsn, "region", ledger="region_schema_migrations",
                                as_role=OWNER_ROLE)
        for _ in range(2)
    ]
    with psycopg.connect(dsn) as conn:
        owners = {row[0] for row in conn.execute(
            "SELECT tableowner FROM pg_tables WHERE schemaname = 'public'"
        )}
    assert applied == [every, []]
    assert owners == {OWNER_ROLE}
