"""The one way the platform bills: a ledger row and its usage event, in one transaction.

The ledger row is idempotent on (tenant, kind, reference), and the usage event's id is derived
from the same three, so charging the same thing again (a retried request, a run re-executed
after a crash) stores one row and counts once in analytics. The usage event is not published
from here: it is written to the outbox (``apex.outbox``) in the ledger row's transaction, so a
charge and its analytics record are stored together or not at all, and the outbox's relay puts
it on the usage stream, again and again until the analytics sink has confirmed it.
"""

from __future__ import annotations

from dataclasses import dataclass

from apex.billing import BillingEvent, BillingKind, BillingLedger
from apex.clock import Clock, epoch_millis
from apex.errors import LedgerUnavailable, ServiceUnavailable
from apex.outbox import UsageOutbox
from apex.usage import UsageEvent, event_id


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
    def __init__(self, ledger: BillingLedger, clock: Clock) -> None:
        self._ledger = ledger
        self._clock = clock

    def record(self, charge: Charge) -> None:
        """Bill ``charge`` once (billing it again changes nothing), its usage event with it.
        Raises LedgerUnavailable if the ledger could not be reached (then nothing was billed)."""
        now = self._clock.now()
        usage = UsageEvent(
            event_id(charge.tenant_id, charge.kind.value, charge.reference_id),
            charge.tenant_id, charge.kind.value, charge.reference_id, charge.period, charge.tier,
            charge.units, charge.amount_micros, epoch_millis(now),
        )
        try:
            self._ledger.record(
                BillingEvent(
                    charge.tenant_id, charge.kind, charge.reference_id, charge.period,
                    charge.tier, charge.units, charge.amount_micros, now,
                ),
                also=lambda conn: UsageOutbox.add(conn, usage),
            )
        except ServiceUnavailable as exc:
            raise LedgerUnavailable(
                "the billing ledger is unreachable; nothing was billed, retry shortly"
            ) from exc
