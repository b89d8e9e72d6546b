"""The reconciliation report on the real ledger (PostgreSQL) and analytics (chDB): it names the
billed event the analytics store rejected, and where it is held; after a redrive the totals are
equal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from apex.analytics import ClickHouseGateway
from apex.billing import BillingEvent, BillingKind, BillingLedger
from apex.dlq import QueueName, Reconciliation
from apex.dlq.reconcile import Totals
from apex.streams import Delivery
from apex.usage import UsageEvent, event_id
from harness.services import Services
from harness.waiting import eventually
from tests.apex.dlq.dlq_support import Handler, Stores, a_queue, a_tenant, consume_once, dlq_stores

AT = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
COLUMNS = ["event_id", "tenant_id", "kind", "reference_id", "period", "tier", "units",
           "amount_micros", "occurred_at"]


@pytest.fixture
def stores(services: Services) -> Iterator[Stores]:
    with dlq_stores(services, a_queue(max_deliveries=2, name=QueueName.USAGE)) as stores:
        yield stores


@pytest.fixture
def clickhouse(services: Services) -> ClickHouseGateway:
    return ClickHouseGateway(services.clickhouse)


def _subscribe(services: Services, tenant: str) -> None:
    """A tenant row, written as the administrator (a trusted back door)."""
    with psycopg.connect(services.postgres.admin_dsn, autocommit=True) as admin:
        admin.execute(
            "INSERT INTO tenants (tenant_id, display_name, tier, created_at, updated_at)"
            " VALUES (%s, %s, 'mid', %s, %s)", (tenant, tenant, AT, AT),
        )


def _bill(stores: Stores, tenant: str, reference: str, amount_micros: int) -> str:
    """One billed request: the ledger row, then its usage event on the usage queue."""
    BillingLedger(stores.pool).record(
        BillingEvent(tenant, BillingKind.REQUEST, reference, "2026-11", "mid", 2,
                     amount_micros, AT)
    )
    event = UsageEvent(event_id(tenant, "request", reference), tenant, "request", reference,
                       "2026-11", "mid", 2, amount_micros, 1_793_000_000_000)
    stores.redis.xadd(stores.queue.stream, event.encode())
    return event.event_id


class _Sink:
    """The analytics sink's work, one event at a time, with a store that rejects some."""

    def __init__(self, clickhouse: ClickHouseGateway, rejects: set[str]) -> None:
        self.clickhouse = clickhouse
        self.rejects = rejects

    def __call__(self, delivery: Delivery) -> BaseException | None:
        event = UsageEvent.decode(dict(delivery.fields))
        if event.event_id in self.rejects:
            return RuntimeError(f"analytics rejected event {event.event_id}")
        row: list[Any] = [
            event.event_id, event.tenant_id, event.kind, event.reference_id, event.period,
            event.tier, event.units, event.amount_micros,
            datetime.fromtimestamp(event.occurred_at_ms / 1000, tz=UTC),
        ]
        self.clickhouse.insert("usage_events", [row], COLUMNS)
        return None


def _tenant_of(delivery: Delivery) -> str | None:
    return UsageEvent.decode(dict(delivery.fields)).tenant_id


def _drain(stores: Stores, sink: _Sink) -> None:
    group, router = stores.consumer(stores.queue, "sink"), stores.router(stores.queue)
    handler = Handler(fail=sink)

    def drained() -> None:
        consume_once(group, router, handler, _tenant_of)
        assert stores.dead_letters.stream.pending(stores.queue.stream, stores.queue.group) == 0
        assert group.read(1) == [], "entries left"

    eventually(drained, timeout=10, what="the usage queue to drain")


def test_a_billed_event_missing_from_analytics_is_named_until_redriven(
    services: Services, stores: Stores, clickhouse: ClickHouseGateway,
) -> None:
    tenant = a_tenant()
    _subscribe(services, tenant)
    _bill(stores, tenant, "r-1", 1_000_000)
    rejected = _bill(stores, tenant, "r-2", 2_500_000)
    _bill(stores, tenant, "r-3", 250)
    _drain(stores, _Sink(clickhouse, rejects={rejected}))
    reconciliation = Reconciliation(stores.pool, clickhouse, stores.dead_letters)

    before = reconciliation.report(tenant)
    [dead_letter] = stores.dead_letters.list(QueueName.USAGE, tenant)
    [found] = before.tenants
    assert not before.balanced
    assert [(m.event.event_id, m.event.reference_id, m.dead_letter) for m in found.missing] == [
        (rejected, "r-2", dead_letter.id)
    ]
    assert (found.ledger, found.analytics) == (Totals(3, 6, 3_500_250), Totals(2, 4, 1_000_250))

    stores.dead_letters.redrive(dead_letter.id)
    _drain(stores, _Sink(clickhouse, rejects=set()))
    after = reconciliation.report(tenant)
    assert after.balanced, after.as_json()
    assert after.tenants[0].ledger == after.tenants[0].analytics == Totals(3, 6, 3_500_250)


def test_without_a_tenant_the_report_covers_every_billed_tenant(
    services: Services, stores: Stores, clickhouse: ClickHouseGateway,
) -> None:
    tenants = [a_tenant(), a_tenant()]
    for tenant in tenants:
        _subscribe(services, tenant)
        _bill(stores, tenant, "r-1", 10)
    report = Reconciliation(stores.pool, clickhouse).report()
    covered = {t.tenant_id: t for t in report.tenants}
    assert set(tenants) <= set(covered)
    assert [len(covered[t].missing) for t in tenants] == [1, 1]  # never drained
