"""Tenants, tiers and the catalog, in business words."""

from __future__ import annotations

from harness.drivers.tiers.contract import TierTerms, UnknownTier
from harness.dsl.common.evidence import business_step
from harness.dsl.common.world import World
from harness.dsl.tiers.state import TiersState
from harness.money import format_dollars

#: The tiers the product sells, as the feature lists them.
PRODUCT_TIERS = ("free", "early", "mid", "enterprise")


class SubscriptionsDsl:
    def __init__(self, world: World) -> None:
        self._world = world
        self._state = world.state(TiersState)

    def tenant_on_tier(
        self,
        name: str,
        tier: str,
        requests_used: int | None = None,
        quota: int | None = None,
    ) -> str:
        """Subscribe ``name``; optionally seed its use of this period's quota, first checking
        that the quota the scenario states is the catalog's."""
        tenant_id = self._world.aliases.tenant(name)
        if quota is not None:
            actual = self._terms(tier).requests_per_month
            assert actual == quota, (
                f"the scenario says the {tier} tier has {quota:,} requests a month, "
                f"the catalog says {_count(actual)}"
            )
        title = f"{name} is on the {tier} tier"
        if requests_used is not None:
            title += f" with {requests_used:,} requests used this billing period"
        with business_step(title):
            self._world.tiers.subscribe(tenant_id, name, tier)
            if requests_used is not None:
                self._world.tiers_backdoor.set_requests_used(tenant_id, requests_used)
        return tenant_id

    def tenant_with_requests_billed(self, name: str, tier: str, used: int, quota: int) -> None:
        """``name`` subscribed, with ``used`` requests admitted, billed and finished this
        period (durable records, not a counter set behind the platform's back)."""
        tenant_id = self.tenant_on_tier(name, tier, quota=quota)
        tiers = self._world.tiers
        title = f"{name} has {used:,} of its {quota:,} monthly requests billed"
        with business_step(title):
            for _ in range(used):
                request_id = self._world.aliases.request_id()
                admission = tiers.submit(tenant_id, request_id)
                assert admission.admitted, f"request {request_id} of {name}: {admission}"
                tiers.release_slot(tenant_id, request_id)

    def forgotten_by_quota_store(self, name: str) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        with business_step(f"the quota store no longer holds {name}"):
            self._world.tiers_backdoor.forget_tenant(tenant_id)

    def change_tier(self, name: str, tier: str) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        with business_step(f"{name} moves to the {tier} tier"):
            self._world.tiers.change_tier(tenant_id, tier)

    def try_change_tier(self, name: str, tier: str) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        with business_step(f"{name} asks to move to the {tier!r} tier"):
            self._state.error.put(None)
            try:
                self._world.tiers.change_tier(tenant_id, tier)
            except UnknownTier as exc:
                self._state.error.put(exc)

    def look_at_catalog(self) -> None:
        with business_step("a customer looks at the tiers on offer"):
            self._state.catalog = self._world.tiers.tier_catalog()

    def catalog_offers(self, expected: list[dict[str, str]]) -> None:
        shown = [_as_row(tier) for tier in self._state.catalog]
        with business_step("the catalog offers exactly the tiers of the product", lambda: shown):
            assert shown == expected, (
                "the catalog differs from the product's tiers:\n"
                f"  expected {expected}\n  actual   {shown}"
            )

    def rejected_as_unknown_tier(self) -> None:
        error = self._state.error.take()
        with business_step("the move is rejected as an unknown tier", lambda: repr(error)):
            assert isinstance(error, UnknownTier), (
                "expected the move rejected as an unknown tier; "
                + ("it was not rejected" if error is None else f"it failed otherwise: {error}")
            )
            for tier in PRODUCT_TIERS:
                assert tier in str(error), (
                    f"expected the rejection to list the {tier} tier; it said {str(error)!r}"
                )

    def still_on_tier(self, name: str, tier: str) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        actual = self._world.tiers.current_tier(tenant_id)
        with business_step(f"{name} is still on the {tier} tier", lambda: actual):
            assert actual == tier, f"{name} ({tenant_id}) is on {actual!r}, expected {tier!r}"

    def _terms(self, tier: str) -> TierTerms:
        catalog = {terms.name: terms for terms in self._world.tiers.tier_catalog()}
        assert tier in catalog, f"no {tier!r} tier on offer; the catalog has {list(catalog)}"
        return catalog[tier]


def _count(value: int | None) -> str:
    return "unlimited" if value is None else f"{value:,}"


def _as_row(tier: TierTerms) -> dict[str, str]:
    budget = tier.llm_budget_per_day_micros
    price = tier.price_per_request_micros
    return {
        "tier": tier.name,
        "requests per month": _count(tier.requests_per_month),
        "runs at once": _count(tier.concurrent_runs),
        "tool calls per day": _count(tier.tool_calls_per_day),
        "LLM budget per day": "by contract" if budget is None else format_dollars(budget),
        "models": ", ".join(tier.models),
        "price per request": format_dollars(price) if price else "included",
    }
