"""What the dead-letter queue's tests share: the real stores, a queue of their own per test,
and a consumer loop written the way the platform's consumers will call the router."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from psycopg_pool import ConnectionPool

from apex.clock import FrozenClock
from apex.dlq import DeadLetterRouter, DeadLetters, DeliveryPolicy, QueueSpec
from apex.streams import ConsumerGroup, Delivery
from harness.services import Services

START = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
GROUP = "workers"


def a_tenant() -> str:
    return f"dlq-{secrets.token_hex(5)}"


def a_queue(
    max_deliveries: int = 3, *, name: str | None = None,
    initial_backoff: timedelta = timedelta(milliseconds=20),
    max_backoff: timedelta = timedelta(milliseconds=100),
) -> QueueSpec:
    token = secrets.token_hex(4)
    return QueueSpec(
        name or f"t-{token}", f"test:dlq:{token}", GROUP,
        DeliveryPolicy(
            max_deliveries=max_deliveries, initial_backoff=initial_backoff,
            max_backoff=max_backoff,
        ),
    )


@dataclass
class Stores:
    redis: redis.Redis
    pool: ConnectionPool[Any]
    clock: FrozenClock
    dead_letters: DeadLetters
    queues: dict[str, QueueSpec]

    @property
    def queue(self) -> QueueSpec:
        """The test's first queue."""
        return next(iter(self.queues.values()))

    def consumer(
        self, queue: QueueSpec, name: str, claim_idle: timedelta = timedelta(milliseconds=200)
    ) -> ConsumerGroup:
        group = ConsumerGroup(self.redis, queue.stream, queue.group, name, claim_idle=claim_idle)
        group.ensure()
        return group

    def router(self, queue: QueueSpec) -> DeadLetterRouter:
        return DeadLetterRouter(self.dead_letters, queue, self.clock)


@contextlib.contextmanager
def dlq_stores(services: Services, *queues: QueueSpec) -> Iterator[Stores]:
    client = redis.Redis.from_url(services.redis_url, socket_timeout=5)
    pool: ConnectionPool[Any] = ConnectionPool(
        services.postgres.app_dsn, min_size=1, max_size=4, open=True,
        kwargs={"autocommit": True},
    )
    clock = FrozenClock(START)
    by_name = {q.name: q for q in queues}
    try:
        yield Stores(client, pool, clock, DeadLetters(pool, client, clock, by_name), by_name)
    finally:
        pool.close()
        client.close()


@dataclass
class Handler:
    """A message handler that fails as told, and remembers every delivery it was given."""

    fail: Callable[[Delivery], BaseException | None] = lambda _d: RuntimeError("always fails")
    seen: list[Delivery] = field(default_factory=list)

    def __call__(self, delivery: Delivery) -> None:
        self.seen.append(delivery)
        error = self.fail(delivery)
        if error is not None:
            raise error


def consume_once(
    consumer: ConsumerGroup, router: DeadLetterRouter, handler: Handler,
    tenant_of: Callable[[Delivery], str | None],
) -> int:
    """One read of a consumer loop, as a platform consumer calls the router; returns how many
    deliveries it got."""
    deliveries = consumer.read(10)
    for delivery in deliveries:
        tenant = tenant_of(delivery)
        if not router.admit(consumer, delivery, tenant):
            continue
        try:
            handler(delivery)
        except Exception as exc:
            router.failed(consumer, delivery, exc, tenant)
            continue
        consumer.ack(delivery.entry_id)
        router.succeeded(delivery)
    return len(deliveries)


def tenant_field(delivery: Delivery) -> str | None:
    raw = delivery.fields.get(b"tenant")
    return raw.decode() if raw else None


def text(value: object) -> str:
    """A Redis reply (an entry id) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)
