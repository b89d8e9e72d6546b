"""The metered request path on the real stores: what an admitted, a refused, a repeated and an
unbillable request leave in the quota, the ledger and the usage stream. Expected amounts are
the catalog's published prices, multiplied here."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from psycopg_pool import ConnectionPool

from apex import keys
from apex.billing import BillingLedger
from apex.charges import Charges
from apex.clock import FrozenClock
from apex.platform import Platform
from apex.requests import RefusalReason, RequestService
from apex.settings import PlatformSettings
from harness.services import Services

#: the enterprise tier's metered price per request, as the product states it: $0.01
ENTERPRISE_PRICE_MICROS = 10_000


@pytest.fixture
def platform(services: Services, clock: FrozenClock) -> Iterator[Platform]:
    settings = PlatformSettings(
        redis_url=services.redis_url, postgres_dsn=services.postgres.app_dsn  # type: ignore[arg-type]
    )
    built = Platform(settings, clock).start()
    yield built
    built.close()


def _tenant(platform: Platform, tier: str) -> str:
    tenant_id = f"req-{secrets.token_hex(4)}"
    platform.tenants.subscribe(tenant_id, "Requests Test", tier)
    return tenant_id


def _usage_events(services: Services, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's usage events on the stream, once the outbox has relayed every due one."""
    relay = Platform(
        PlatformSettings(redis_url=services.redis_url, postgres_dsn=services.postgres.app_dsn),  # type: ignore[arg-type]
        FrozenClock(datetime(2026, 11, 3, tzinfo=UTC)),
    )
    try:
        while relay.relay.relay_once():
            pass
    finally:
        relay.close()
    client = redis.Redis.from_url(services.redis_url)
    try:
        entries: Any = client.xrange(keys.USAGE_STREAM)
    finally:
        client.close()
    events = [json.loads(fields[b"event"]) for _id, fields in entries]
    return [e for e in events if e["tenant_id"] == tenant_id]


def test_an_admitted_batch_is_billed_its_units_times_the_price_and_published_once(
    platform: Platform, services: Services
) -> None:
    tenant = _tenant(platform, "enterprise")
    result = platform.requests.submit(tenant, "batch-1", units=7)
    assert result.admitted
    totals = platform.ledger.totals(tenant)
    assert (totals.events, totals.units, totals.amount_micros) == (1, 7, 70_000)
    [event] = _usage_events(services, tenant)
    assert (event["units"], event["amount_micros"], event["reference_id"]) == (7, 70_000, "batch-1")
    assert platform.enforcer.quota_used(tenant) == 7


def test_a_repeated_request_id_is_admitted_again_but_billed_and_counted_once(
    platform: Platform, services: Services
) -> None:
    tenant = _tenant(platform, "enterprise")
    first = platform.requests.submit(tenant, "same", units=3)
    again = platform.requests.submit(tenant, "same", units=3)
    assert first.admitted and again.admitted
    assert platform.ledger.totals(tenant).amount_micros == 30_000
    assert len(_usage_events(services, tenant)) == 1
    assert platform.enforcer.quota_used(tenant) == 3


def test_a_request_over_the_quota_is_refused_and_changes_nothing(
    platform: Platform, services: Services
) -> None:
    tenant = _tenant(platform, "free")
    for i in range(100):
        assert platform.requests.submit(tenant, f"r{i}", 1).admitted
        platform.requests.finish(tenant, f"r{i}")
    refused = platform.requests.submit(tenant, "r100", units=2)
    assert (refused.reason, refused.offer, refused.retryable) == (
        RefusalReason.QUOTA_EXHAUSTED, "early", False
    )
    assert "100 requests this month are used" in refused.message
    assert platform.enforcer.quota_used(tenant) == 100
    assert platform.ledger.totals(tenant).units == 100


def test_a_request_the_ledger_cannot_bill_is_refunded_and_refused_as_retryable(
    platform: Platform, services: Services, clock: FrozenClock
) -> None:
    tenant = _tenant(platform, "enterprise")
    # A ledger on a PostgreSQL that is not there: every call fails at once.
    dead = ConnectionPool(
        "host=127.0.0.1 port=9 user=nobody connect_timeout=1", min_size=0, max_size=1,
        open=True, timeout=0.5, name="dead-ledger",
    )
    try:
        service = RequestService(
            platform.enforcer, Charges(BillingLedger(dead), clock)
        )
        result = service.submit(tenant, f"r-{uuid.uuid4().hex[:6]}", units=2)
    finally:
        dead.close()
    assert (result.admitted, result.reason, result.retryable) == (
        False, RefusalReason.SERVICE_UNAVAILABLE, True
    )
    assert "ledger" in result.message and "retry" in result.message
    assert platform.enforcer.quota_used(tenant) == 0, "the admission was refunded"
    assert platform.enforcer.running(tenant) == 0, "and its slot freed"
    assert _usage_events(services, tenant) == []
