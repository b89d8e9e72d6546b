"""Ledger against analytics: the reconciliation report.

Every billed event (a row of ``billing_events`` in PostgreSQL, the record) must reach analytics
(``usage_events`` in ClickHouse) under the id derived from (tenant, kind, reference)
(``apex.usage.event_id``). The report names, per tenant, every billed event analytics lacks,
with the dead letter holding it when there is one (a usage event the sink gave up on), every
analytics event the ledger has no row for, and the totals on both sides; after the dead letters
are redriven and the sink has moved them, the totals are equal.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg_pool import ConnectionPool

from apex import keys, validation
from apex.dlq.queues import QueueName
from apex.dlq.records import State
from apex.dlq.store import DeadLetters
from apex.errors import ServiceUnavailable
from apex.money import dollars_to_micros
from apex.tenancy.session import tenant_transaction
from apex.usage import event_id

if TYPE_CHECKING:  # the analytics sink dead-letters through this package: no import cycle
    from apex.analytics import ClickHouseGateway

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Totals:
    events: int
    units: int
    amount_micros: int


@dataclass(frozen=True, slots=True)
class BilledEvent:
    event_id: str
    kind: str
    reference_id: str
    period: str
    units: int
    amount_micros: int


@dataclass(frozen=True, slots=True)
class MissingEvent:
    """A billed event analytics does not have."""

    event: BilledEvent
    #: the dead letter holding its usage event, if it is in the dead-letter queue
    dead_letter: str | None


@dataclass(frozen=True, slots=True)
class TenantReconciliation:
    tenant_id: str
    ledger: Totals
    analytics: Totals
    missing: list[MissingEvent] = field(default_factory=list)
    #: analytics event ids with no ledger row
    unbilled: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.missing and not self.unbilled and self.ledger == self.analytics


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    tenants: list[TenantReconciliation]

    @property
    def balanced(self) -> bool:
        return all(t.balanced for t in self.tenants)

    def as_json(self) -> dict[str, Any]:
        return {
            "balanced": self.balanced,
            "tenants": [
                {
                    "tenant": t.tenant_id, "balanced": t.balanced,
                    "ledger": _totals(t.ledger), "analytics": _totals(t.analytics),
                    "missing_from_analytics": [
                        {
                            "event_id": m.event.event_id, "kind": m.event.kind,
                            "reference_id": m.event.reference_id, "period": m.event.period,
                            "units": m.event.units, "amount_micros": m.event.amount_micros,
                            "dead_letter": m.dead_letter,
                        }
                        for m in t.missing
                    ],
                    "not_in_ledger": t.unbilled,
                }
                for t in self.tenants
            ],
        }


class Reconciliation:
    def __init__(
        self, pool: ConnectionPool[Any], clickhouse: ClickHouseGateway,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        self._pool = pool
        self._clickhouse = clickhouse
        self._dead_letters = dead_letters

    def report(self, tenant: str | None = None) -> ReconciliationReport:
        """The report for one tenant, or for every tenant with a billing event."""
        tenants = [validation.tenant_id(tenant)] if tenant is not None else self._billed_tenants()
        return ReconciliationReport([self._tenant(t) for t in tenants])

    def _tenant(self, tenant_id: str) -> TenantReconciliation:
        billed = self._ledger(tenant_id)
        seen = self._analytics(tenant_id)
        held = self._dead_lettered_usage(tenant_id)
        missing = [
            MissingEvent(event, held.get(event.event_id))
            for event in billed if event.event_id not in seen
        ]
        ledger_ids = {e.event_id for e in billed}
        return TenantReconciliation(
            tenant_id,
            _sum([(e.units, e.amount_micros) for e in billed]),
            _sum(list(seen.values())),
            missing,
            sorted(set(seen) - ledger_ids),
        )

    def _billed_tenants(self) -> list[str]:
        try:
            with self._pool.connection() as conn:
                rows = conn.execute(
                    f"SELECT * FROM {keys.BILLED_TENANTS_FUNCTION}()"
                ).fetchall()
        except psycopg.OperationalError as exc:
            raise ServiceUnavailable("the billing ledger is unreachable; retry shortly") from exc
        return [str(r[0]) for r in rows]

    def _ledger(self, tenant_id: str) -> list[BilledEvent]:
        try:
            with tenant_transaction(self._pool, tenant_id) as conn:
                rows = conn.execute(
                    f"SELECT kind, reference_id, period, units, amount"
                    f" FROM {keys.BILLING_EVENTS_TABLE} ORDER BY occurred_at, reference_id"
                ).fetchall()
        except psycopg.OperationalError as exc:
            raise ServiceUnavailable("the billing ledger is unreachable; retry shortly") from exc
        return [
            BilledEvent(
                event_id(tenant_id, str(kind), str(reference)), str(kind), str(reference),
                str(period), int(units), dollars_to_micros(amount),
            )
            for kind, reference, period, units, amount in rows
        ]

    def _analytics(self, tenant_id: str) -> dict[str, tuple[int, int]]:
        """(units, amount) of each of the tenant's analytics events, by event id."""
        rows = self._clickhouse.query(
            f"SELECT event_id, units, amount_micros FROM {keys.USAGE_EVENTS_TABLE} FINAL"
            " WHERE tenant_id = {tenant:String}",
            {"tenant": tenant_id},
        )
        return {str(r[0]): (int(r[1]), int(r[2])) for r in rows}

    def _dead_lettered_usage(self, tenant_id: str) -> dict[str, str]:
        """Event id -> the dead letter holding that usage event, for the tenant."""
        if self._dead_letters is None or QueueName.USAGE not in self._dead_letters.queues:
            return {}
        held: dict[str, str] = {}
        for letter in self._dead_letters.list(
            QueueName.USAGE, tenant_id, states=(State.DEAD, State.REDRIVING)
        ):
            try:
                held[str(json.loads(letter.payload["event"])["event_id"])] = letter.id
            except (KeyError, TypeError, ValueError):
                log.warning("dead letter %s holds no readable usage event", letter.id)
        return held


def _sum(rows: Sequence[tuple[int, int]]) -> Totals:
    return Totals(len(rows), sum(r[0] for r in rows), sum(r[1] for r in rows))


def _totals(totals: Totals) -> dict[str, int]:
    return {"events": totals.events, "units": totals.units,
            "amount_micros": totals.amount_micros}
