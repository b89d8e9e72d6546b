"""The composition root: one platform instance built from :class:`~apex.settings.PlatformSettings`.

Two ``Platform`` objects built from the same settings behave as two replicas: they share only
Redis, PostgreSQL and ClickHouse, never Python state. Each process (gateway, orchestration
worker) builds one; code running the platform in its own process builds as many as it needs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import redis
from psycopg_pool import ConnectionPool

from apex.analytics import AnalyticsQueries, AnalyticsSink, ClickHouseGateway
from apex.billing import BillingLedger
from apex.charges import Charges
from apex.clock import Clock
from apex.enforcement import TierEnforcer
from apex.gateway.api_keys import ApiKeys
from apex.requests import RequestService
from apex.runs import RunLog, RunSteps
from apex.settings import PlatformSettings
from apex.tenants import TenantRegistry
from apex.usage import UsagePublisher

__all__ = ["AnalyticsWorker", "Platform", "PlatformSettings"]

#: the longest a stream read blocks (seconds), on top of the store timeout
_LONGEST_BLOCK = 2.0


class Platform:
    def __init__(self, settings: PlatformSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        timeout = settings.redis_timeout.total_seconds()
        self.redis = redis.Redis.from_url(
            settings.redis_url.get_secret_value(), socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        self.pool: ConnectionPool[Any] = ConnectionPool(
            settings.postgres_dsn.get_secret_value(), min_size=1, max_size=settings.pool_size,
            timeout=settings.postgres_wait_ms / 1000, open=True, kwargs={"autocommit": True},
            name="apex-platform",
        )
        self.enforcer = TierEnforcer(self.redis, clock, lease=settings.lease)
        self.ledger = BillingLedger(self.pool)
        self.usage = UsagePublisher(self.redis)
        self.charges = Charges(self.ledger, self.usage, clock)
        self.tenants = TenantRegistry(self.pool, self.enforcer, clock)
        self.requests = RequestService(self.enforcer, self.charges)
        self.api_keys = ApiKeys(self.pool, clock)
        self.runs = RunLog(self.pool, clock)
        self.steps = RunSteps(self.pool)

    def stream_client(self) -> redis.Redis:
        """A Redis client for blocking stream reads (up to a second or two); the caller closes
        it. Its timeout bounds a read, so a store that stops answering fails the read."""
        timeout = self.settings.redis_timeout.total_seconds()
        return redis.Redis.from_url(
            self.settings.redis_url.get_secret_value(), socket_timeout=timeout + _LONGEST_BLOCK,
            socket_connect_timeout=timeout,
        )

    def check_database(self) -> None:
        """Raises if PostgreSQL does not answer within the pool's timeout."""
        with self.pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")

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
        self._redis = redis.Redis.from_url(
            redis_url, socket_timeout=_LONGEST_BLOCK + 1, socket_connect_timeout=1
        )
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
