"""Which region each tenant lives in (main database, ``tenant_regions``).

A tenant is pinned once. Lookups act for the tenant itself (row-level security applies here
too), so the directory never tells one tenant where another lives.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from apex import keys
from apex.clock import Clock
from apex.errors import UnknownTenant
from apex.tenancy.errors import RegionAlreadyPinned, RegionNotPinned
from apex.tenancy.regions import Region
from apex.tenancy.session import tenant_transaction


class TenantDirectory:
    def __init__(self, pool: ConnectionPool[Any], clock: Clock) -> None:
        self._pool = pool
        self._clock = clock
        # Pins never change, so a process may remember them.
        self._known: dict[str, Region] = {}

    def pin(self, tenant_id: str, home: Region) -> None:
        """Give a subscribed tenant its home region; pinning again to the same region is a
        no-op, to another one is refused."""
        try:
            with tenant_transaction(self._pool, tenant_id) as conn:
                conn.execute(
                    f"INSERT INTO {keys.TENANT_REGIONS_TABLE} (tenant_id, region, pinned_at)"
                    " VALUES (%s, %s, %s)",
                    (tenant_id, home.value, self._clock.now()),
                )
        except psycopg.errors.UniqueViolation:
            current = self.region_of(tenant_id)
            if current is not home:
                raise RegionAlreadyPinned(
                    f"tenant {tenant_id!r} lives in {current.value}; its data never moves"
                ) from None
        except psycopg.errors.ForeignKeyViolation:
            raise UnknownTenant(f"no tenant {tenant_id!r} is subscribed") from None
        self._known[tenant_id] = home

    def region_of(self, tenant_id: str) -> Region:
        if tenant_id in self._known:
            return self._known[tenant_id]
        with tenant_transaction(self._pool, tenant_id) as conn:
            row = conn.execute(
                f"SELECT region FROM {keys.TENANT_REGIONS_TABLE} WHERE tenant_id = %s",
                (tenant_id,),
            ).fetchone()
        if row is None:
            raise RegionNotPinned(f"tenant {tenant_id!r} has no home region yet")
        self._known[tenant_id] = Region(row[0])
        return self._known[tenant_id]
