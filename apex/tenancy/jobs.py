"""Background jobs on tenant configuration. A job has no caller's request to take a tenant
from, so it names the tenant for every transaction itself, exactly like a request does: one
tenant per transaction, never a tenant left on a pooled connection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from psycopg_pool import ConnectionPool

from apex.clock import Clock
from apex.tenancy import audit, store
from apex.tenancy.cache import ConfigCache
from apex.tenancy.directory import TenantDirectory
from apex.tenancy.model import Action, AuditRecord, Outcome
from apex.tenancy.regions import Region
from apex.tenancy.session import tenant_transaction

#: How jobs appear in the audit trail.
CACHE_REFRESH_ACTOR = "job:cache-refresh"


class CacheRefresher:
    """Reloads tenants' cached configuration from their region's store (after a deploy, a
    cache flush, or a key rotation)."""

    def __init__(
        self,
        directory: TenantDirectory,
        pools: Mapping[Region, ConnectionPool[Any]],
        cache: ConfigCache,
        clock: Clock,
    ) -> None:
        self._directory = directory
        self._pools = dict(pools)
        self._cache = cache
        self._clock = clock

    def refresh(self, tenant_ids: Iterable[str]) -> dict[str, int]:
        """Refresh each tenant in turn; returns settings cached per tenant id."""
        cached: dict[str, int] = {}
        for tenant_id in tenant_ids:
            home = self._directory.region_of(tenant_id)
            with tenant_transaction(self._pools[home], tenant_id) as conn:
                rows = store.select_all(conn, tenant_id, "")
                audit.record(conn, AuditRecord(
                    tenant_id, CACHE_REFRESH_ACTOR, Action.LIST, tenant_id, None,
                    Outcome.ALLOWED, None, self._clock.now(),
                ))
            for row in rows:
                self._cache.put(home, row)
            cached[tenant_id] = len(rows)
        return cached
