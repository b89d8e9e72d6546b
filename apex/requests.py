"""The metered request path: admit, bill, publish usage. Shared by every entry point (the
in-process API and the network gateway) so that they cannot disagree on money."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from apex import catalog, refusals, validation
from apex.billing import BillingKind
from apex.charges import Charge, Charges
from apex.enforcement import Admission, Decision, TierEnforcer
from apex.errors import ServiceUnavailable
from apex.refusals import Refusal, RefusalReason

log = logging.getLogger(__name__)

__all__ = ["Outcome", "RefusalReason", "RequestResult", "RequestService"]


class Outcome(StrEnum):
    ADMITTED = "admitted"
    REFUSED = "refused"


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

    @property
    def admitted(self) -> bool:
        return self.outcome is Outcome.ADMITTED


class RequestService:
    def __init__(self, enforcer: TierEnforcer, charges: Charges) -> None:
        self._enforcer = enforcer
        self._charges = charges

    def submit(self, tenant_id: str, request_id: str, units: int) -> RequestResult:
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
            log.warning("request %s of %s refused: %s", request_id, tenant_id, exc)
            return self._refused(tenant_id, request_id, refusals.of_error(exc))
        if admission.decision in (Decision.QUOTA_EXHAUSTED, Decision.CONCURRENCY_LIMIT):
            return self._refused(
                tenant_id, request_id, refusals.of_admission(admission), admission
            )
        if admission.decision is Decision.DUPLICATE:
            return RequestResult(
                Outcome.ADMITTED, tenant_id, request_id, "already admitted; not billed again",
                tier=admission.tier, quota_used=admission.quota_used,
            )
        try:
            self._bill(admission)
        except ServiceUnavailable as exc:
            log.warning("request %s of %s refused and refunded: %s", request_id, tenant_id, exc)
            self._enforcer.refund(admission)
            return self._refused(tenant_id, request_id, refusals.of_error(exc))
        return RequestResult(
            Outcome.ADMITTED, tenant_id, request_id, "admitted",
            tier=admission.tier, quota_used=admission.quota_used,
            quota_limit=admission.quota_limit,
        )

    def finish(self, tenant_id: str, request_id: str) -> None:
        """The request's work is done: its concurrency slot is free (its quota stays used)."""
        self._enforcer.release(validation.tenant_id(tenant_id), validation.request_id(request_id))

    def _bill(self, admission: Admission) -> None:
        amount = catalog.tier(admission.tier).metered_price_per_request_micros * admission.units
        self._charges.record(
            Charge(
                admission.tenant_id, BillingKind.REQUEST, admission.request_id, admission.period,
                admission.tier, admission.units, amount,
            )
        )

    @staticmethod
    def _refused(
        tenant_id: str, request_id: str, refusal: Refusal, admission: Admission | None = None
    ) -> RequestResult:
        return RequestResult(
            Outcome.REFUSED, tenant_id, request_id, refusal.message, reason=refusal.reason,
            retryable=refusal.retryable, offer=refusal.offer,
            tier=admission.tier if admission else None,
            quota_used=admission.quota_used if admission else None,
            quota_limit=admission.quota_limit if admission else None,
        )
