"""The tier-enforcement DSL's scenario state (one per scenario, registered with the World)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.drivers.tiers.contract import Admission, StoreLink, TierInstance, TierTerms
from harness.dsl.common.world import ErrorSlot


@dataclass
class TiersState:
    #: answers to the last When's requests, in the order they were sent
    results: list[Admission] = field(default_factory=list)
    #: the error the last When raised, when a rule expects one
    error: ErrorSlot = field(default_factory=ErrorSlot)
    #: request ids holding a slot, per tenant id (the scenario keeps them renewed)
    slots_held: dict[str, list[str]] = field(default_factory=dict)
    #: request ids whose server stopped renewing their slot
    abandoned: set[str] = field(default_factory=set)
    #: what a crashed worker's late renewal of its slot was told (None: not tried)
    late_renewal: bool | None = None
    #: the id of a request sent earlier in the scenario, to be sent again
    earlier_request: str | None = None
    #: the tenant id a request without a subscription came from
    unsubscribed: str | None = None
    #: the instance requests go through, when a Given chose one other than the primary
    route: TierInstance | None = None
    #: links to the quota store a Given cut
    links: list[StoreLink] = field(default_factory=list)
    #: how many platform instances a When spreads simultaneous requests over
    instance_count: int = 1
    catalog: list[TierTerms] = field(default_factory=list)

    def leftovers(self) -> list[str]:
        return self.error.leftovers()
