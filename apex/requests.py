"""The metered request path: admit, bill, publish usage. Shared by every entry point (the
in-process API and the network gateway) so that they cannot disagree on money."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

import redis

from apex import catalog, validation
from apex.billing import BillingEvent, BillingKind, BillingLedger
from apex.clock import Clock, epoch_millis
from apex.enforcement import Admission, Decision, TierEnforcer
from apex.errors import ServiceUnavailable
from apex.usage import UsageEvent, UsagePublisher, event_id

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    ADMITTED = "admitted"
    REFUSED = "refused"


class RefusalReason(StrEnum):
    QUOTA_EXHAUSTED = "quota_exhausted"
    CONCURRENCY_LIMIT = "concurrency_limit"
    SERVICE_UNAVAILABLE = "service_unavailable"


@dataclass(frozen=True, slots=True)
class RequestResult:
    outcome: Outcome
    tenant_id: str
    request_id: str
    message: str
    reason: RefusalReason | None = None
    retryable: bool = False
    #: The tier a refused tenant is offered (the next one up), if any.
    offer: str | None = None
    tier: str | None = None
    quota_used: int | None = None
    quota_limit: int | None = None
    billed_micros: int = 0

    @property
    def admitted(self) -> bool:
        return self.outcome is Outcome.ADMITTED


class RequestService:
    def __init__(
        self,
        enforcer: TierEnforcer,
        ledger: BillingLedger,
        usage: UsagePublisher,
        clock: Clock,
    ) -> None:
        self._enforcer = enforcer
        self._ledger = ledger
        self._usage = usage
        self._clock = clock

    def submit(self, tenant_id: str, request_id: str, units: int = 1) -> RequestResult:
        """Admit and bill one request, or refuse it having changed nothing.

        Raises InvalidInput for malformed input and UnknownTenant for a tenant with no
        subscription; every other outcome, including an unreachable store, is a result.
        """
        tenant_id = validation.tenant_id(tenant_id)
        request_id = validation.request_id(request_id)
        units = validation.units(units)
        try:
            admission = self._enforcer.admit(tenant_id, request_id, units)
        except ServiceUnavailable as exc:
            return self._unavailable(tenant_id, request_id, str(exc))
        if admission.decision in (Decision.QUOTA_EXHAUSTED, Decision.CONCURRENCY_LIMIT):
            return self._refusal(admission)
        if admission.decision is Decision.DUPLICATE:
            return RequestResult(
                Outcome.ADMITTED, tenant_id, request_id, "already admitted; not billed again",
                tier=admission.tier, quota_used=admission.quota_used,
            )
        try:
            billed = self._bill(admission)
        except ServiceUnavailable as exc:
            self._enforcer.refund(admission)
            return self._unavailable(tenant_id, request_id, str(exc))
        return RequestResult(
            Outcome.ADMITTED, tenant_id, request_id, "admitted",
            tier=admission.tier, quota_used=admission.quota_used,
            quota_limit=admission.quota_limit, billed_micros=billed,
        )

    def finish(self, tenant_id: str, run_id: str) -> None:
        self._enforcer.release(validation.tenant_id(tenant_id), validation.request_id(run_id))

    def _bill(self, admission: Admission) -> int:
        tier = catalog.tier(admission.tier)
        amount = tier.metered_price_per_request_micros * admission.units
        now = self._clock.now()
        event = BillingEvent(
            admission.tenant_id, BillingKind.REQUEST, admission.request_id, admission.period,
            admission.tier, admission.units, amount, now,
        )
        if self._ledger.record(event):
            usage = UsageEvent(
                event_id(admission.tenant_id, BillingKind.REQUEST.value, admission.request_id),
                admission.tenant_id, BillingKind.REQUEST.value, admission.request_id,
                admission.period, admission.tier, admission.units, amount, epoch_millis(now),
            )
            try:
                self._usage.publish(usage)
            except (redis.ConnectionError, redis.TimeoutError):
                # The ledger is the record and the request was served; analytics misses this
                # event until it is re-published (same event id, so never counted twice).
                log.error("usage event %s not published; the ledger holds it", usage.event_id)
        return amount

    @staticmethod
    def _refusal(admission: Admission) -> RequestResult:
        current = catalog.tier(admission.tier)
        upgrade = catalog.next_tier(current)
        if admission.decision is Decision.QUOTA_EXHAUSTED:
            reason = RefusalReason.QUOTA_EXHAUSTED
            message = (
                f"the {current.name} tier's {admission.quota_limit:,} requests this month are used"
            )
        else:
            reason = RefusalReason.CONCURRENCY_LIMIT
            message = f"the {current.name} tier runs at most {admission.max_running} at once"
        if upgrade is not None:
            message += f"; upgrade to {upgrade.name} for more"
        return RequestResult(
            Outcome.REFUSED, admission.tenant_id, admission.request_id, message,
            reason=reason, retryable=reason is RefusalReason.CONCURRENCY_LIMIT,
            offer=upgrade.name if upgrade else None, tier=current.name,
            quota_used=admission.quota_used, quota_limit=admission.quota_limit,
        )

    @staticmethod
    def _unavailable(tenant_id: str, request_id: str, message: str) -> RequestResult:
        log.warning("request %s of %s refused: %s", request_id, tenant_id, message)
        return RequestResult(
            Outcome.REFUSED, tenant_id, request_id, message,
            reason=RefusalReason.SERVICE_UNAVAILABLE, retryable=True,
        )
