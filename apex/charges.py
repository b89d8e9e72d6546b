"""The one way the platform bills: a ledger row, then the usage event for analytics.

The ledger row is idempotent on (tenant, kind, reference), and the usage event's id is derived
from the same three, so charging the same thing again (a retried request, a run re-executed
after a crash) stores one row and counts once in analytics. Publishing the usage event comes
after the ledger commit and may fail on its own: the ledger is the record, and the event is
published again, under the same id, by the next charge of the same thing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from apex.billing import BillingEvent, BillingKind, BillingLedger
from apex.clock import Clock, epoch_millis
from apex.errors import LedgerUnavailable, ServiceUnavailable
from apex.usage import UsageEvent, UsagePublisher, event_id

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Charge:
    tenant_id: str
    kind: BillingKind
    #: the request id or run id billed
    reference_id: str
    period: str
    tier: str
    units: int
    amount_micros: int


class Charges:
    def __init__(self, ledger: BillingLedger, usage: UsagePublisher, clock: Clock) -> None:
        self._ledger = ledger
        self._usage = usage
        self._clock = clock

    def record(self, charge: Charge) -> None:
        """Bill ``charge`` once (billing it again changes nothing). Raises LedgerUnavailable if
        the ledger could not be reached (then nothing was billed)."""
        now = self._clock.now()
        try:
            self._ledger.record(
                BillingEvent(
                    charge.tenant_id, charge.kind, charge.reference_id, charge.period,
                    charge.tier, charge.units, charge.amount_micros, now,
                )
            )
        except ServiceUnavailable as exc:
            raise LedgerUnavailable(
                "the billing ledger is unreachable; nothing was billed, retry shortly"
            ) from exc
        usage = UsageEvent(
            event_id(charge.tenant_id, charge.kind.value, charge.reference_id),
            charge.tenant_id, charge.kind.value, charge.reference_id, charge.period, charge.tier,
            charge.units, charge.amount_micros, epoch_millis(now),
        )
        try:
            self._usage.publish(usage)
        except Exception:
            log.exception("usage event %s not published; the ledger holds the charge",
                          usage.event_id)
