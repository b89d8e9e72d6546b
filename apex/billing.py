"""The billing ledger in PostgreSQL: one row per billable fact, exact money, idempotent.

Recording the same (tenant, kind, reference) twice stores one row and reports the first one,
so retries, reconnects and replays can never bill twice. Every read and write acts for the
event's tenant (``tenant_transaction``): row-level security lets no other tenant's row in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from apex import keys
from apex.errors import ServiceUnavailable
from apex.money import MICROS_PER_DOLLAR, micros_to_dollars
from apex.tenancy.session import tenant_transaction


class BillingKind(StrEnum):
    REQUEST = "request"
    AGENT_RUN = "agent_run"


@dataclass(frozen=True, slots=True)
class BillingEvent:
    tenant_id: str
    kind: BillingKind
    reference_id: str
    period: str
    tier: str
    units: int
    amount_micros: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class LedgerTotals:
    events: int
    units: int
    amount_micros: int


class BillingLedger:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def record(
        self, event: BillingEvent, also: Callable[[psycopg.Connection[Any]], None] | None = None
    ) -> None:
        """Store the event once: recording it again changes nothing. ``also`` writes, in the
        same transaction, what must be stored with the ledger row or not at all (the usage
        event's outbox row)."""
        try:
            with tenant_transaction(self._pool, event.tenant_id) as conn:
                conn.execute(
                    f"INSERT INTO {keys.BILLING_EVENTS_TABLE}"
                    " (tenant_id, kind, reference_id, period, tier, units, amount, occurred_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (tenant_id, kind, reference_id) DO NOTHING",
                    (
                        event.tenant_id, event.kind.value, event.reference_id, event.period,
                        event.tier, event.units, micros_to_dollars(event.amount_micros),
                        event.occurred_at,
                    ),
                )
                if also is not None:
                    also(conn)
        except psycopg.OperationalError as exc:
            raise ServiceUnavailable("the billing ledger is unreachable; retry shortly") from exc

    def totals(self, tenant_id: str, period: str | None = None) -> LedgerTotals:
        query = (
            f"SELECT count(*), coalesce(sum(units), 0), coalesce(sum(amount), 0)"
            f" FROM {keys.BILLING_EVENTS_TABLE} WHERE tenant_id = %s"
        )
        params: tuple[str, ...] = (tenant_id,)
        if period is not None:
            query += " AND period = %s"
            params += (period,)
        with tenant_transaction(self._pool, tenant_id) as conn:
            row = conn.execute(query, params).fetchone()
        assert row is not None
        amount: Decimal = row[2]
        return LedgerTotals(int(row[0]), int(row[1]), int(amount * MICROS_PER_DOLLAR))
