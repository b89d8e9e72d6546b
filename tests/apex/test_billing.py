"""The billing ledger against the session's real PostgreSQL, as the platform's own role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from apex.billing import BillingEvent, BillingKind, BillingLedger, LedgerTotals
from apex.tenancy.session import act_for
from harness.services import Services

NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pool(services: Services) -> Iterator[ConnectionPool]:
    with ConnectionPool(
        services.postgres.app_dsn, min_size=1, max_size=2, open=True,
        kwargs={"autocommit": True},
    ) as opened:
        yield opened


@pytest.fixture
def ledger(pool: ConnectionPool) -> BillingLedger:
    return BillingLedger(pool)


def _subscribed(services: Services) -> str:
    """A fresh tenant, written as the administrator (a trusted back door)."""
    tenant_id = f"bill-{uuid.uuid4().hex[:12]}"
    with psycopg.connect(services.postgres.admin_dsn, autocommit=True) as admin:
        admin.execute(
            "INSERT INTO tenants (tenant_id, display_name, tier, created_at, updated_at)"
            " VALUES (%s, %s, 'mid', %s, %s)",
            (tenant_id, tenant_id, NOW, NOW),
        )
    return tenant_id


def _event(tenant_id: str, reference: str, micros: int, period: str = "2026-11",
           kind: BillingKind = BillingKind.REQUEST, units: int = 1) -> BillingEvent:
    return BillingEvent(tenant_id, kind, reference, period, "mid", units, micros, NOW)


def test_recording_the_same_fact_twice_stores_it_once(
    services: Services, ledger: BillingLedger
) -> None:
    tenant = _subscribed(services)
    ledger.record(_event(tenant, "req-1", 1_500_000))
    ledger.record(_event(tenant, "req-1", 9_999_999))
    assert ledger.totals(tenant) == LedgerTotals(events=1, units=1, amount_micros=1_500_000)


def test_the_same_reference_of_another_kind_is_another_fact(
    services: Services, ledger: BillingLedger
) -> None:
    tenant = _subscribed(services)
    ledger.record(_event(tenant, "ref-7", 1))
    ledger.record(_event(tenant, "ref-7", 2, kind=BillingKind.AGENT_RUN))
    assert ledger.totals(tenant).amount_micros == 3


def test_totals_are_exact_to_the_micro_dollar_per_period(
    services: Services, ledger: BillingLedger
) -> None:
    tenant = _subscribed(services)
    # A third of a dollar, three times, in micro-dollars: any float on the path would drift.
    for n in range(3):
        ledger.record(_event(tenant, f"nov-{n}", 333_333, units=2))
    ledger.record(_event(tenant, "nov-cent", 1))
    ledger.record(_event(tenant, "dec-1", 123_456_789_012, period="2026-12"))
    assert ledger.totals(tenant, "2026-11") == LedgerTotals(4, 7, 1_000_000)
    assert ledger.totals(tenant, "2026-12") == LedgerTotals(1, 1, 123_456_789_012)
    assert ledger.totals(tenant, "2027-01") == LedgerTotals(0, 0, 0)
    assert ledger.totals(tenant) == LedgerTotals(5, 8, 123_457_789_012)


def test_totals_count_only_the_tenants_own_charges(
    services: Services, ledger: BillingLedger
) -> None:
    acme, globex = _subscribed(services), _subscribed(services)
    ledger.record(_event(acme, "a-1", 10))
    ledger.record(_event(globex, "g-1", 20))
    assert (ledger.totals(acme).amount_micros, ledger.totals(globex).amount_micros) == (10, 20)


def test_charges_are_recorded_acting_for_their_tenant(
    services: Services, ledger: BillingLedger, pool: ConnectionPool
) -> None:
    """What the ledger writes is the tenant's own: another tenant's transaction sees none of
    it (row-level security, not a WHERE clause in the ledger)."""
    acme, globex = _subscribed(services), _subscribed(services)
    ledger.record(_event(acme, "a-1", 10))
    with pool.connection() as conn, conn.transaction():
        act_for(conn, globex)
        seen = conn.execute(
            "SELECT count(*) FROM billing_events WHERE tenant_id = %s", (acme,)
        ).fetchone()
    assert seen == (0,)


def test_a_charge_for_a_tenant_that_never_subscribed_is_refused(
    ledger: BillingLedger,
) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        ledger.record(_event(f"ghost-{uuid.uuid4().hex[:8]}", "r", 1))
