"""Assembles one platform instance from its connection settings.

Two ``Platform`` objects built from the same settings behave as two replicas: they share only
Redis, PostgreSQL and ClickHouse, never Python state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import redis
from psycopg_pool import ConnectionPool

from apex.analytics import AnalyticsQueries, AnalyticsSink, ClickHouseGateway
from apex.billing import BillingLedger
from apex.clock import Clock
from apex.enforcement import TierEnforcer
from apex.requests import RequestService
from apex.tenants import TenantRegistry
from apex.usage import UsagePublisher


@dataclass(frozen=True)
class PlatformConfig:
    redis_url: str
    #: DSN of the platform's own non-owner role (never the schema owner).
    postgres_dsn: str
    lease: timedelta = timedelta(seconds=30)
    redis_timeout: timedelta = timedelta(milliseconds=500)
    pool_size: int = 10
    extra: dict[str, Any] = field(default_factory=dict)


class Platform:
    def __init__(self, config: PlatformConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        timeout = config.redis_timeout.total_seconds()
        self.redis = redis.Redis.from_url(
            config.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self.pool = ConnectionPool(
            config.postgres_dsn, min_size=1, max_size=config.pool_size, open=True,
            kwargs={"autocommit": True}, name="apex-platform",
        )
        self.enforcer = TierEnforcer(self.redis, clock, lease=config.lease)
        self.ledger = BillingLedger(self.pool)
        self.usage = UsagePublisher(self.redis)
        self.tenants = TenantRegistry(self.pool, self.enforcer, clock)
        self.requests = RequestService(self.enforcer, self.ledger, self.usage, clock)

    def start(self) -> Platform:
        self.enforcer.publish_catalog()
        return self

    def close(self) -> None:
        self.pool.close()
        self.redis.close()


class AnalyticsWorker:
    """Runs the analytics sink in a background thread of this process (the only way to reach
    an in-process chDB); with a networked ClickHouse it can run anywhere."""

    def __init__(self, redis_url: str, clickhouse: Callable[[], Any]) -> None:
        self._redis = redis.Redis.from_url(redis_url)
        self.gateway = ClickHouseGateway(clickhouse)
        self.queries = AnalyticsQueries(self.gateway)
        self._sink = AnalyticsSink(self._redis, self.gateway)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._sink.run, args=(self._stop,), name="analytics-sink", daemon=True
        )

    def start(self) -> AnalyticsWorker:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._redis.close()
