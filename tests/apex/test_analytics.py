"""The analytics sink on the real stream and ClickHouse (chDB): at least once from the stream,
exactly once in the table."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import redis

from apex.analytics import AnalyticsQueries, AnalyticsSink, ClickHouseGateway
from apex.usage import UsageEvent, UsagePublisher, event_id
from harness.services import Services


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
        publisher.publish(event)
    sink = AnalyticsSink(client, clickhouse, consumer=f"test-{secrets.token_hex(3)}")
    while sink.drain_once():
        pass
    queries = AnalyticsQueries(clickhouse)
    assert queries.totals(tenant) == type(queries.totals(tenant))(3, 6, 1_234_579)
    november = queries.totals(tenant, "2026-11")
    assert (november.events, november.amount_micros) == (2, 1_234_574)
    assert sink.health().loops == 1
