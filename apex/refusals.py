"""One vocabulary for a request or run that is not admitted: why, what to tell the customer,
whether sending it again may succeed, and which tier to offer. Every entry point (the request
API, the gateway) answers from here, so a refusal reads the same wherever it happens."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from apex import catalog
from apex.enforcement import Admission, Decision
from apex.errors import ApexError, UnknownTenant


class RefusalReason(StrEnum):
    QUOTA_EXHAUSTED = "quota_exhausted"
    CONCURRENCY_LIMIT = "concurrency_limit"
    SERVICE_UNAVAILABLE = "service_unavailable"
    UNKNOWN_TENANT = "unknown_tenant"
    REQUEST_ID_USED = "request_id_used"


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: RefusalReason
    #: for the customer: what happened and what to do
    message: str
    #: whether the same request sent later may be admitted
    retryable: bool
    #: the tier to upgrade to, when more of the tier is what is missing
    offer: str | None = None

    def as_record(self) -> dict[str, Any]:
        """As stored with a refused run, so every sender of its request id gets the same."""
        return {
            "reason": self.reason.value, "message": self.message, "retryable": self.retryable,
            "offer": self.offer,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Refusal:
        return cls(
            RefusalReason(record["reason"]), str(record["message"]), bool(record["retryable"]),
            record.get("offer"),
        )


def of_admission(admission: Admission) -> Refusal:
    """The refusal of an admission the tier's limits turned down."""
    current = catalog.tier(admission.tier)
    upgrade = catalog.next_tier(current)
    if admission.decision is Decision.QUOTA_EXHAUSTED:
        reason = RefusalReason.QUOTA_EXHAUSTED
        message = (
            f"the {current.name} tier's {admission.quota_limit:,} requests this month are used"
        )
    elif admission.decision is Decision.CONCURRENCY_LIMIT:
        reason = RefusalReason.CONCURRENCY_LIMIT
        message = f"the {current.name} tier runs at most {admission.max_running} at once"
    else:
        raise ValueError(f"an admission decided {admission.decision} is not a refusal")
    if upgrade is not None:
        message += f"; upgrade to {upgrade.name} for more"
    return Refusal(
        reason, message, retryable=reason is RefusalReason.CONCURRENCY_LIMIT,
        offer=upgrade.name if upgrade else None,
    )


def of_error(error: ApexError) -> Refusal:
    """The refusal of a request the platform could not decide (store down, no such tenant)."""
    if isinstance(error, UnknownTenant):
        return Refusal(RefusalReason.UNKNOWN_TENANT, str(error), retryable=False)
    if error.retryable:
        return Refusal(RefusalReason.SERVICE_UNAVAILABLE, str(error), retryable=True)
    raise ValueError(f"{type(error).__name__} is not a refusal: {error}")


def request_id_used() -> Refusal:
    return Refusal(
        RefusalReason.REQUEST_ID_USED,
        "this request id was already used by another request; use a new one", retryable=False,
    )
