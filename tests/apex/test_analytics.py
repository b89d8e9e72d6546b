"""The analytics sink on the real stream and ClickHouse (chDB): at least once from the stream,
exactly once in the table."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from apex import keys
from apex.analytics import AnalyticsQueries, AnalyticsSink, ClickHouseGateway
from apex.dlq import DeadLetter, DeliveryPolicy, QueueName, QueueSpec, Reason
from apex.usage import UsageEvent, UsagePublisher, event_id
from harness.services import Services
from harness.waiting import eventually
from tests.apex.dlq.dlq_support import dlq_stores


@pytest.fixture
def stores(services: Services) -> Iterator[tuple[redis.Redis, ClickHouseGateway]]:
    client = redis.Redis.from_url(services.redis_url, socket_timeout=5)
    yield client, ClickHouseGateway(services.clickhouse)
    client.close()


def _event(tenant: str, reference: str, amount: int, period: str = "2026-11") -> UsageEvent:
    return UsageEvent(
        event_id(tenant, "request", reference), tenant, "request", reference, period, "mid", 2,
        amount, 1_793_000_000_000,
    )


def test_events_published_twice_are_counted_once_per_period(
    stores: tuple[redis.Redis, ClickHouseGateway]
) -> None:
    client, clickhouse = stores
    tenant = f"an-{secrets.token_hex(4)}"
    publisher = UsagePublisher(client)
    for event in (
        _event(tenant, "a", 1_234_567), _event(tenant, "a", 1_234_567),
        _event(tenant, "b", 7), _event(tenant, "c", 5, period="2026-12"),
    ):
        publisher.publish_many([event])
    sink = AnalyticsSink(client, clickhouse, consumer=f"test-{secrets.token_hex(3)}")
    while sink.drain_once():
        pass
    queries = AnalyticsQueries(clickhouse)
    assert queries.totals(tenant) == type(queries.totals(tenant))(3, 6, 1_234_579)
    november = queries.totals(tenant, "2026-11")
    assert (november.events, november.amount_micros) == (2, 1_234_574)
    assert sink.health().loops == 1


def test_a_record_clickhouse_refuses_is_set_aside_after_three_deliveries_the_rest_go_in(
    services: Services, stores: tuple[redis.Redis, ClickHouseGateway]
) -> None:
    client, clickhouse = stores
    good, refused = f"an-{secrets.token_hex(4)}", f"an-{secrets.token_hex(4)}"
    queue = QueueSpec(
        QueueName.USAGE, keys.USAGE_STREAM, keys.USAGE_SINK_GROUP,
        DeliveryPolicy(max_deliveries=3, initial_backoff=timedelta(milliseconds=20),
                       max_backoff=timedelta(milliseconds=50)),
    )
    constraint = f"refuses_{refused.replace('-', '_')}"
    # a change in the analytics store that one tenant's records break
    clickhouse.command(
        f"ALTER TABLE usage_events ADD CONSTRAINT {constraint} CHECK tenant_id != '{refused}'"
    )
    try:
        with dlq_stores(services, queue) as dlq:
            publisher = UsagePublisher(client)
            for event in (_event(good, "a", 5), _event(refused, "b", 7), _event(good, "c", 11)):
                publisher.publish_many([event])
            sink = AnalyticsSink(
                client, clickhouse, consumer=f"test-{secrets.token_hex(3)}",
                claim_idle=timedelta(milliseconds=200), dead_letters=dlq.router(queue),
            )

            def set_aside() -> DeadLetter:
                sink.drain_once()
                found = dlq.dead_letters.list(QueueName.USAGE, tenant=refused)
                assert len(found) == 1, f"{len(found)} dead letters of {refused}"
                return found[0]

            letter = eventually(set_aside, timeout=10, what="the refused record set aside")
    finally:
        clickhouse.command(f"ALTER TABLE usage_events DROP CONSTRAINT IF EXISTS {constraint}")
    queries = AnalyticsQueries(clickhouse)
    assert (queries.totals(good).events, queries.totals(good).amount_micros) == (2, 16)
    assert queries.totals(refused).events == 0
    assert (letter.attempts, letter.reason) == (3, Reason.MAX_DELIVERIES)
    assert "VIOLATED_CONSTRAINT" in letter.first_error
    assert "VIOLATED_CONSTRAINT" in letter.last_error
    pending = client.xpending_range(keys.USAGE_STREAM, keys.USAGE_SINK_GROUP, "-", "+", 1000)
    assert letter.entry_id not in {entry["message_id"].decode() for entry in pending}
