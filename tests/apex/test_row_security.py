"""Row-level security of the main database, tried as an attacker holding the platform's own
role (``apex_app``): the database, not the platform's code, keeps tenants apart."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from apex import keys
from apex.clock import FrozenClock
from apex.gateway.api_keys import ApiKeys, digest
from apex.tenancy.session import act_for
from harness.services import Services

NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
TENANT_TABLES = (keys.TENANTS_TABLE, keys.BILLING_EVENTS_TABLE, keys.API_KEYS_TABLE)
LOOKUP = keys.API_KEY_LOOKUP_FUNCTION


@dataclass(frozen=True)
class Seeded:
    tenant_a: str
    tenant_b: str
    key_a: str
    key_b: str


def _seed_tenant(admin: psycopg.Connection[tuple[object, ...]], tenant_id: str) -> str:
    """A tenant with one charge and one key, written as the administrator (a trusted back
    door); returns the key."""
    api_key = "apex_" + uuid.uuid4().hex
    admin.execute(
        "INSERT INTO tenants (tenant_id, display_name, tier, created_at, updated_at)"
        " VALUES (%s, %s, 'free', %s, %s)",
        (tenant_id, tenant_id, NOW, NOW),
    )
    admin.execute(
        "INSERT INTO billing_events (tenant_id, kind, reference_id, period, tier, units,"
        " amount, occurred_at) VALUES (%s, 'request', 'seed', '2026-11', 'free', 1, 0.5, %s)",
        (tenant_id, NOW),
    )
    admin.execute(
        "INSERT INTO api_keys (key_digest, tenant_id, created_at) VALUES (%s, %s, %s)",
        (digest(api_key), tenant_id, NOW),
    )
    return api_key


@pytest.fixture
def seeded(services: Services) -> Seeded:
    token = uuid.uuid4().hex[:10]
    with psycopg.connect(services.postgres.admin_dsn, autocommit=True) as admin:
        tenant_a, tenant_b = f"rls-a-{token}", f"rls-b-{token}"
        return Seeded(tenant_a, tenant_b, _seed_tenant(admin, tenant_a),
                      _seed_tenant(admin, tenant_b))


@pytest.fixture
def app(services: Services) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection as the platform's role, no tenant set, each statement its own
    transaction."""
    with psycopg.connect(services.postgres.app_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def admin(services: Services) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(services.postgres.admin_dsn, autocommit=True) as conn:
        yield conn


def _tenants_seen(conn: psycopg.Connection[tuple[object, ...]], table: str) -> set[str]:
    return {str(row[0]) for row in conn.execute(f"SELECT tenant_id FROM {table}")}


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_the_app_role_with_no_tenant_set_sees_no_row(
    seeded: Seeded, app: psycopg.Connection[tuple[object, ...]], table: str
) -> None:
    assert _tenants_seen(app, table) == set(), f"{table} rows visible with no tenant set"


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_the_app_role_acting_for_a_tenant_sees_only_its_rows(
    seeded: Seeded, app: psycopg.Connection[tuple[object, ...]], table: str
) -> None:
    with app.transaction():
        act_for(app, seeded.tenant_a)
        seen = _tenants_seen(app, table)
    assert seen == {seeded.tenant_a}, f"{table}: expected only {seeded.tenant_a}, saw {seen}"


@pytest.mark.parametrize("acting_for", [None, "a"])
def test_the_app_role_cannot_change_another_tenants_tier(
    seeded: Seeded, app: psycopg.Connection[tuple[object, ...]],
    admin: psycopg.Connection[tuple[object, ...]], acting_for: str | None,
) -> None:
    with app.transaction():
        if acting_for:
            act_for(app, seeded.tenant_a)
        changed = app.execute(
            "UPDATE tenants SET tier = 'enterprise' WHERE tenant_id = %s", (seeded.tenant_b,)
        ).rowcount
    tier = admin.execute(
        "SELECT tier FROM tenants WHERE tenant_id = %s", (seeded.tenant_b,)
    ).fetchone()
    assert (changed, tier) == (0, ("free",))


def _charge(conn: psycopg.Connection[tuple[object, ...]], tenant_id: str) -> None:
    conn.execute(
        "INSERT INTO billing_events (tenant_id, kind, reference_id, period, tier, units,"
        " amount, occurred_at) VALUES (%s, 'request', %s, '2026-11', 'free', 1, 99, %s)",
        (tenant_id, uuid.uuid4().hex, NOW),
    )


def _key(conn: psycopg.Connection[tuple[object, ...]], tenant_id: str, api_key: str) -> None:
    conn.execute(
        "INSERT INTO api_keys (key_digest, tenant_id, created_at) VALUES (%s, %s, %s)",
        (digest(api_key), tenant_id, NOW),
    )


@pytest.mark.parametrize("acting_for", [None, "a"])
def test_the_app_role_cannot_charge_another_tenant(
    seeded: Seeded, app: psycopg.Connection[tuple[object, ...]], acting_for: str | None,
) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege), app.transaction():
        if acting_for:
            act_for(app, seeded.tenant_a)
        _charge(app, seeded.tenant_b)


@pytest.mark.parametrize("acting_for", [None, "a"])
def test_the_app_role_cannot_plant_an_api_key_for_another_tenant(
    seeded: Seeded, app: psycopg.Connection[tuple[object, ...]], services: Services,
    acting_for: str | None,
) -> None:
    planted = "apex_" + uuid.uuid4().hex
    with pytest.raises(psycopg.errors.InsufficientPrivilege), app.transaction():
        if acting_for:
            act_for(app, seeded.tenant_a)
        _key(app, seeded.tenant_b, planted)
    with _pool(services) as pool:
        assert ApiKeys(pool, FrozenClock(NOW)).tenant_for(planted) is None


def _pool(services: Services) -> ConnectionPool:
    return ConnectionPool(
        services.postgres.app_dsn, min_size=1, max_size=2, open=True,
        kwargs={"autocommit": True},
    )


def test_the_key_lookup_finds_the_tenant_of_a_live_key_and_nothing_else(
    seeded: Seeded, services: Services, admin: psycopg.Connection[tuple[object, ...]],
) -> None:
    with _pool(services) as pool:
        api_keys = ApiKeys(pool, FrozenClock(NOW))
        issued = api_keys.issue(seeded.tenant_a)
        found = (api_keys.tenant_for(issued), api_keys.tenant_for(seeded.key_b))
        unknown = api_keys.tenant_for("apex_" + uuid.uuid4().hex)
        admin.execute(
            "UPDATE api_keys SET revoked_at = %s WHERE key_digest = %s", (NOW, digest(issued))
        )
        revoked = api_keys.tenant_for(issued)
    assert found == (seeded.tenant_a, seeded.tenant_b)
    assert (unknown, revoked) == (None, None)


def test_a_pooled_connection_keeps_no_tenant_after_acting_for_one(
    seeded: Seeded, services: Services,
) -> None:
    with _pool(services) as pool:
        api_keys = ApiKeys(pool, FrozenClock(NOW))
        api_keys.issue(seeded.tenant_a)
        with pool.connection() as conn:
            seen = _tenants_seen(conn, keys.API_KEYS_TABLE)
    assert seen == set()


@pytest.mark.parametrize("probe", ["%", "", "*", "' OR true --", "0" * 64, None])
def test_the_key_lookup_cannot_be_made_to_list_keys(
    seeded: Seeded, app: psycopg.Connection[tuple[object, ...]], probe: str | None,
) -> None:
    rows = app.execute(f"SELECT {LOOKUP}(%s)", (probe,)).fetchall()
    assert rows == [(None,)]


def test_the_key_lookup_is_callable_by_the_app_role_only(
    app: psycopg.Connection[tuple[object, ...]],
) -> None:
    grantees = app.execute(
        "SELECT coalesce(r.rolname, 'PUBLIC') FROM pg_proc p,"
        " aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a"
        " LEFT JOIN pg_roles r ON r.oid = a.grantee"
        " WHERE p.proname = %s AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner",
        (LOOKUP,),
    ).fetchall()
    assert grantees == [("apex_app",)]


def test_the_app_role_cannot_become_the_lookups_owner(
    app: psycopg.Connection[tuple[object, ...]],
) -> None:
    owner = app.execute(
        "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = %s", (LOOKUP,)
    ).fetchone()
    assert owner is not None, f"no function {LOOKUP}"
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute(f"SET ROLE {owner[0]}")
