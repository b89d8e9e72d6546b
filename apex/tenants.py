"""Tenants and their subscriptions: PostgreSQL is the record, Redis holds the enforcement copy.

A tier change writes both before it returns, so it applies to the very next request. Every
statement acts for the tenant it names (``tenant_transaction``), so row-level security keeps
each call to that one tenant's row.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from apex import catalog, keys, validation
from apex.clock import Clock
from apex.enforcement import TierEnforcer
from apex.errors import InvalidInput, UnknownTenant
from apex.tenancy.session import tenant_transaction


@dataclass(frozen=True, slots=True)
class Tenant:
    tenant_id: str
    display_name: str
    tier: str


class TenantRegistry:
    def __init__(self, pool: ConnectionPool, enforcer: TierEnforcer, clock: Clock) -> None:
        self._pool = pool
        self._enforcer = enforcer
        self._clock = clock

    def subscribe(self, tenant_id: str, display_name: str, tier: str) -> Tenant:
        tenant_id = validation.tenant_id(tenant_id)
        chosen = catalog.tier(tier)
        if not display_name.strip() or len(display_name) > 200:
            raise InvalidInput("a tenant's display name must be 1-200 characters")
        now = self._clock.now()
        # Acting for the new tenant: row-level security lets a transaction create no other.
        with tenant_transaction(self._pool, tenant_id) as conn:
            conn.execute(
                f"INSERT INTO {keys.TENANTS_TABLE}"
                " (tenant_id, display_name, tier, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                (tenant_id, display_name, chosen.name, now, now),
            )
        self._enforcer.set_tier(tenant_id, chosen.name)
        return Tenant(tenant_id, display_name, chosen.name)

    def change_tier(self, tenant_id: str, tier: str) -> Tenant:
        """Upgrade or downgrade; effective for the next request."""
        tenant_id = validation.tenant_id(tenant_id)
        chosen = catalog.tier(tier)
        with tenant_transaction(self._pool, tenant_id) as conn:
            row = conn.execute(
                f"UPDATE {keys.TENANTS_TABLE} SET tier = %s, updated_at = %s"
                " WHERE tenant_id = %s RETURNING display_name",
                (chosen.name, self._clock.now(), tenant_id),
            ).fetchone()
        if row is None:
            raise UnknownTenant(f"no tenant {tenant_id!r} is subscribed")
        # A tenant the store lost is restored, with its counters, at its next admission.
        self._enforcer.set_tier(tenant_id, chosen.name, only_if_present=True)
        return Tenant(tenant_id, str(row[0]), chosen.name)

    def get(self, tenant_id: str) -> Tenant:
        tenant_id = validation.tenant_id(tenant_id)
        with tenant_transaction(self._pool, tenant_id) as conn:
            row = conn.execute(
                f"SELECT display_name, tier FROM {keys.TENANTS_TABLE} WHERE tenant_id = %s",
                (tenant_id,),
            ).fetchone()
        if row is None:
            raise UnknownTenant(f"no tenant {tenant_id!r} is subscribed")
        return Tenant(tenant_id, str(row[0]), str(row[1]))
