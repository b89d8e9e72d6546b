"""Assembles tenant configuration from the platform's settings, each region's database and the
regions' keys.

Two instances built from the same settings behave as two replicas: they share only the stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg_pool import ConnectionPool

from apex import redis_clients
from apex.clock import Clock
from apex.settings import PlatformSettings
from apex.tenancy.cache import ConfigCache
from apex.tenancy.cipher import SecretCipher
from apex.tenancy.directory import TenantDirectory
from apex.tenancy.jobs import CacheRefresher
from apex.tenancy.regions import Region, RegionKeys, cache_url
from apex.tenancy.service import TenantConfigService


class TenancyPlatform:
    """``settings`` gives Redis (each region's cache is its own database on it, see
    ``regions.cache_url``), the main database (the tenant directory) and pool sizes;
    ``region_dsns`` each region's database, as the platform's non-owner role."""

    def __init__(
        self, settings: PlatformSettings, region_dsns: Mapping[Region, str], keys: RegionKeys,
        clock: Clock,
    ) -> None:
        missing = [r.value for r in Region if r not in region_dsns]
        if missing:
            raise ValueError(f"no database configured for region(s) {missing}")
        self.settings = settings
        timeout = settings.redis_timeout.total_seconds()
        redis_url = settings.redis_url.get_secret_value()
        self.caches = {
            r: redis_clients.connect(
                cache_url(redis_url, r), timeout=timeout, connect_timeout=timeout,
            )
            for r in Region
        }
        size = settings.pool_size
        directory_dsn = settings.postgres_dsn.get_secret_value()
        self.directory_pool = _pool(directory_dsn, size, "apex-directory")
        self.region_pools = {
            r: _pool(region_dsns[r], size, f"apex-{r.value}") for r in Region
        }
        self.directory = TenantDirectory(self.directory_pool, clock)
        self.cache = ConfigCache(self.caches)
        self.configs = TenantConfigService(
            self.directory, self.region_pools, self.cache, SecretCipher(keys), clock
        )
        self.cache_refresher = CacheRefresher(self.directory, self.region_pools, self.cache, clock)

    def close(self) -> None:
        for pool in (self.directory_pool, *self.region_pools.values()):
            pool.close()
        self.cache.close()


def _pool(dsn: str, size: int, name: str) -> ConnectionPool[Any]:
    # autocommit: every unit of work is an explicit transaction (tenant_transaction), so a
    # connection is never left inside one.
    return ConnectionPool(
        dsn, min_size=1, max_size=size, open=True, kwargs={"autocommit": True}, name=name
    )
