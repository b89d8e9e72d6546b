"""The composition root: one platform instance built from :class:`~apex.settings.PlatformSettings`.

Two ``Platform`` objects built from the same settings behave as two replicas: they share only
Redis, PostgreSQL and ClickHouse, never Python state. Each process (gateway, orchestration
worker) builds one; code running the platform in its own process builds as many as it needs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import redis
from psycopg_pool import ConnectionPool

from apex import redis_clients
from apex.analytics import AnalyticsQueries, AnalyticsSink, ClickHouseGateway
from apex.billing import BillingLedger
from apex.charges import Charges
from apex.clock import Clock, SystemClock
from apex.dlq import DeadLetterRouter, DeadLetters, DeadLetterSettings, QueueName
from apex.enforcement import TierEnforcer
from apex.gateway.api_keys import ApiKeys
from apex.outbox import UsageRelay
from apex.recovery import DurableAdmissions, StoreRecovery
from apex.requests import RequestService
from apex.runs import RunLog, RunSteps
from apex.settings import PlatformSettings
from apex.streams import SupervisedLoops
from apex.tenants import TenantRegistry

__all__ = ["AnalyticsWorker", "Platform", "PlatformSettings"]

#: the longest a stream read blocks (seconds), on top of the store timeout
_LONGEST_BLOCK = 2.0
#: how often an idle relay looks at the outbox again (seconds)
_RELAY_POLL = 0.1
#: the platform's default for how long a confirmed usage event stays in the outbox
_OUTBOX_RETENTION = timedelta(
    days=PlatformSettings.model_fields["usage_outbox_retention_days"].default
)


class Platform:
    def __init__(self, settings: PlatformSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        timeout = settings.redis_timeout.total_seconds()
        self.redis = redis_clients.connect(
            settings.redis_url.get_secret_value(), timeout=timeout, connect_timeout=timeout,
        )
        self.pool: ConnectionPool[Any] = ConnectionPool(
            settings.postgres_dsn.get_secret_value(), min_size=1, max_size=settings.pool_size,
            timeout=settings.postgres_wait_ms / 1000, open=True, kwargs={"autocommit": True},
            name="apex-platform",
        )
        self.enforcer = TierEnforcer(
            self.redis, clock, lease=settings.lease, durable=DurableAdmissions(self.pool).tenant
        )
        self.ledger = BillingLedger(self.pool)
        self.charges = Charges(self.ledger, clock)
        self.relay = UsageRelay(
            self.pool, self.redis, clock, keep_confirmed=settings.usage_outbox_retention
        )
        self.recovery = StoreRecovery(
            self.redis, self.pool, self.enforcer, clock, settings.namespace
        )
        self.tenants = TenantRegistry(self.pool, self.enforcer, clock)
        self.requests = RequestService(self.enforcer, self.charges)
        self.api_keys = ApiKeys(self.pool, clock)
        self.runs = RunLog(self.pool, clock)
        self.steps = RunSteps(self.pool)
        self.dead_letters = DeadLetters(
            self.pool, self.redis, clock, settings.dlq.queues(settings.namespace)
        )

    def dead_letter_router(self, queue: QueueName) -> DeadLetterRouter:
        """What the consumer of ``queue`` calls around each delivery (``apex.dlq.router``)."""
        return DeadLetterRouter(self.dead_letters, self.dead_letters.queues[queue], self.clock)

    def stream_client(self) -> redis.Redis:
        """A Redis client for blocking stream reads (up to a second or two); the caller closes
        it. Its timeout bounds a read, so a store that stops answering fails the read."""
        timeout = self.settings.redis_timeout.total_seconds()
        return redis_clients.connect(
            self.settings.redis_url.get_secret_value(), timeout=timeout + _LONGEST_BLOCK,
            connect_timeout=timeout,
        )

    def check_database(self) -> None:
        """Raises if PostgreSQL does not answer within the pool's timeout."""
        with self.pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")

    def start(self) -> Platform:
        """Rebuild the store if it is new or lost its data (``apex.recovery``); a store that
        needs no rebuild gets the catalog again (this release's). One being rebuilt by another
        process is left to it: nothing is admitted until it is done."""
        if not self.recovery.ensure().rebuilt and self.recovery.ready():
            self.enforcer.publish_catalog()
        return self

    def close(self) -> None:
        self.pool.close()
        self.redis.close()


class AnalyticsWorker:
    """Runs the analytics sink in a background thread of this process (the only way to reach
    an in-process chDB); with a networked ClickHouse it can run anywhere. Given the platform's
    PostgreSQL DSN, it also relays the usage outbox to the stream (``apex.outbox``), as the
    orchestration workers do: a platform run in-process has no worker process to do it
    (confirmed events kept ``outbox_retention`` on ``clock``, the system's if none); and given
    dead-letter settings and a clock as well, a usage record ClickHouse refuses is retried,
    then set aside in the dead-letter queue (``apex.dlq``)."""

    def __init__(
        self, redis_url: str, clickhouse: Callable[[], Any], postgres_dsn: str | None = None,
        *, dead_letters: DeadLetterSettings | None = None, clock: Clock | None = None,
        outbox_retention: timedelta = _OUTBOX_RETENTION,
    ) -> None:
        self._redis = redis_clients.connect(
            redis_url, timeout=_LONGEST_BLOCK + 1, connect_timeout=1
        )
        self.gateway = ClickHouseGateway(clickhouse)
        self.queries = AnalyticsQueries(self.gateway)
        self._sink_stop = threading.Event()
        self._sink_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._relay_thread: threading.Thread | None = None
        self._pool: ConnectionPool[Any] | None = None
        router: DeadLetterRouter | None = None
        if postgres_dsn is not None:
            self._pool = ConnectionPool(
                postgres_dsn, min_size=1, max_size=2, open=True, kwargs={"autocommit": True},
                name="usage-relay",
            )
            relay = UsageRelay(
                self._pool, self._redis, clock or SystemClock(), keep_confirmed=outbox_retention
            )
            if dead_letters is not None and clock is not None:
                # the usage queue is one stream for every deployment: no namespace matters
                usage = dead_letters.queues(namespace="")[QueueName.USAGE]
                store = DeadLetters(self._pool, self._redis, clock, {QueueName.USAGE: usage})
                router = DeadLetterRouter(store, usage, clock)

            def relay_once(_loop: str) -> None:
                if not relay.relay_once():
                    self._stop.wait(_RELAY_POLL)

            loops = SupervisedLoops("usage-relay", 1, relay_once)
            self._relay_thread = threading.Thread(
                target=loops.run, args=(self._stop,), name="usage-relay", daemon=True
            )
        self._sink = AnalyticsSink(self._redis, self.gateway, dead_letters=router)

    def start(self) -> AnalyticsWorker:
        self.resume()
        if self._relay_thread is not None:
            self._relay_thread.start()
        return self

    def hold(self) -> None:
        """Stop moving events into ClickHouse (they wait on the stream) until :meth:`resume`."""
        self._sink_stop.set()
        if self._sink_thread is not None:
            self._sink_thread.join(timeout=5)
            self._sink_thread = None

    def resume(self) -> None:
        if self._sink_thread is not None:
            return
        self._sink_stop = threading.Event()
        self._sink_thread = threading.Thread(
            target=self._sink.run, args=(self._sink_stop,), name="analytics-sink", daemon=True
        )
        self._sink_thread.start()

    def close(self) -> None:
        self.hold()
        self._stop.set()
        if self._relay_thread is not None and self._relay_thread.is_alive():
            self._relay_thread.join(timeout=5)
        if self._pool is not None:
            self._pool.close()
        self._redis.close()
