"""The tier-enforcement contract: subscriptions, requests against the tier's quota and request
slots, and the bill they make, in domain verbs and domain outcomes. The in-process driver
(``in_process.py``) implements it on the reference platform; a team binding the suite to its own
platform implements these Protocols and nothing in the DSL changes.

Words: a *request* is one unit of the monthly quota; while an admitted request is being served it
holds a *slot* (the tier's "runs at once"), released when it finishes, and renewed by whoever
serves it, so that an abandoned slot expires on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

from harness.errors import HarnessError


class RefusalReason(StrEnum):
    QUOTA_USED = "the monthly quota is used"
    SLOTS_FULL = "the tier's runs at once are all in use"
    UNAVAILABLE = "temporarily unavailable"
    OTHER = "another reason"


@dataclass(frozen=True)
class Admission:
    """The platform's answer to one request."""

    request_id: str
    admitted: bool
    reason: RefusalReason | None = None
    #: what the customer is told (a refusal says why, and what to do)
    message: str = ""
    retryable: bool = False
    #: the tier a quota refusal offers as an upgrade
    offer: str | None = None


@dataclass(frozen=True)
class TierTerms:
    """One tier as the product sells it; None means unlimited (or "by contract")."""

    name: str
    requests_per_month: int | None
    concurrent_runs: int | None
    tool_calls_per_day: int | None
    llm_budget_per_day_micros: int | None
    #: model sizes, smallest first
    models: tuple[str, ...]
    #: 0: included in the subscription
    price_per_request_micros: int


@dataclass(frozen=True)
class Totals:
    """What a store shows of one tenant's charges."""

    events: int
    units: int
    amount_micros: int


class Rejected(HarnessError):
    """The platform rejected an action outright (not a refusal under the tier's limits)."""


class UnknownTier(Rejected):
    """There is no such tier; the message lists the tiers on offer."""


class NotSubscribed(Rejected):
    """No tenant of that id is subscribed."""


class InvalidRequest(Rejected):
    """The request is malformed (its tenant id, its size...); the message names the problem."""


class TierInstance(Protocol):
    """One platform instance, as a client of tier enforcement sees it."""

    def subscribe(self, tenant_id: str, display_name: str, tier: str) -> None: ...

    def change_tier(self, tenant_id: str, tier: str) -> None:
        """UnknownTier if there is no such tier."""
        ...

    def current_tier(self, tenant_id: str) -> str: ...

    def submit(self, tenant_id: str, request_id: str, units: int = 1) -> Admission:
        """InvalidRequest if the platform cannot take it as a request at all."""
        ...

    def release_slot(self, tenant_id: str, request_id: str) -> None:
        """The admitted request has been served: its slot is free."""
        ...

    def renew_slot(self, tenant_id: str, request_id: str) -> bool:
        """Whoever serves the request is alive; False if the slot had already expired."""
        ...

    def quota_used(self, tenant_id: str) -> int: ...

    def slots_held(self, tenant_id: str) -> int: ...

    def ledger_totals(self, tenant_id: str) -> Totals: ...

    def analytics_totals(self, tenant_id: str) -> Totals: ...

    def close(self) -> None: ...


#: The stores a scenario can cut one instance off from.
Store = Literal["quota store", "billing ledger"]


class StoreLink(Protocol):
    """The network path between one instance and one of its stores."""

    def cut(self) -> None: ...

    def restore(self) -> None: ...

    def close(self) -> None: ...


class TiersDriver(TierInstance, Protocol):
    """The capability: its primary instance, the catalog, and more instances on demand."""

    def tier_catalog(self) -> list[TierTerms]:
        """The tiers on offer, cheapest first."""
        ...

    def another_instance(self) -> TierInstance:
        """A new instance sharing the stores (a replica); the caller closes it."""
        ...

    def instance_with_cuttable_store(self, store: Store) -> tuple[TierInstance, StoreLink]:
        """A new instance whose path to ``store`` the caller can cut; the caller closes both."""
        ...


class TiersBackDoor(Protocol):
    """Trusted seeding for Given-steps, straight into the stores."""

    def set_requests_used(self, tenant_id: str, used: int) -> None: ...

    def forget_tenant(self, tenant_id: str) -> None:
        """The quota store no longer holds the tenant (evicted, or lost with the store's
        data); its durable records stay."""
        ...
