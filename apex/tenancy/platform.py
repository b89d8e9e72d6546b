"""Assembles tenant configuration from its connection settings.

Two instances built from the same settings behave as two replicas: they share only the stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import redis
from psycopg_pool import ConnectionPool

from apex.clock import Clock
from apex.tenancy.cache import ConfigCache
from apex.tenancy.cipher import SecretCipher
from apex.tenancy.directory import TenantDirectory
from apex.tenancy.jobs import CacheRefresher
from apex.tenancy.regions import Region, RegionKeys, cache_url
from apex.tenancy.service import TenantConfigService


@dataclass(frozen=True)
class TenancyConfig:
    #: Redis server; each region's cache is its own database on it (see regions.cache_url).
    redis_url: str
    #: Main database, as the platform's non-owner role (the tenant directory).
    directory_dsn: str
    #: Each region's database, as the platform's non-owner role.
    region_dsns: Mapping[Region, str] = field(repr=False)
    keys: RegionKeys = field(repr=False)
    pool_size: int = 10
    redis_timeout: timedelta = timedelta(milliseconds=500)


class TenancyPlatform:
    def __init__(self, config: TenancyConfig, clock: Clock) -> None:
        missing = [r.value for r in Region if r not in config.region_dsns]
        if missing:
            raise ValueError(f"no database configured for region(s) {missing}")
        self.config = config
        timeout = config.redis_timeout.total_seconds()
        self.caches = {
            r: redis.Redis.from_url(
                cache_url(config.redis_url, r), socket_timeout=timeout,
                socket_connect_timeout=timeout,
            )
            for r in Region
        }
        self.directory_pool = _pool(config.directory_dsn, config.pool_size, "apex-directory")
        self.region_pools = {
            r: _pool(config.region_dsns[r], config.pool_size, f"apex-{r.value}") for r in Region
        }
        self.directory = TenantDirectory(self.directory_pool, clock)
        self.cache = ConfigCache(self.caches)
        self.configs = TenantConfigService(
            self.directory, self.region_pools, self.cache, SecretCipher(config.keys), clock
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
