"""The billing ledger and usage analytics of requests, observed through the platform's reads."""

from __future__ import annotations

from harness.dsl.common.evidence import business_step
from harness.dsl.common.world import World
from harness.money import format_dollars
from harness.waiting import eventually


class BillingDsl:
    def __init__(self, world: World) -> None:
        self._world = world

    def billed_for(self, name: str, requests: int) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        totals = self._world.tiers.ledger_totals(tenant_id)
        with business_step(f"{name} has been billed for {requests} requests", lambda: totals):
            assert totals.units == requests, (
                f"{name} ({tenant_id}) billed for {totals.units} requests "
                f"in {totals.events} events, expected {requests}"
            )

    def ledger_and_analytics_show(self, expected: dict[str, tuple[int, int]]) -> None:
        """Per tenant name: (requests, amount in micro-dollars), in both stores, one event each."""
        for name, (requests, amount) in expected.items():
            self._stores_agree(name, requests, requests, amount)

    def one_charge_for_batch(self, name: str, requests: int, amount: int) -> None:
        """One charge carrying ``requests`` requests, in both stores."""
        self._stores_agree(name, 1, requests, amount)

    def _stores_agree(self, name: str, charges: int, requests: int, amount: int) -> None:
        tiers = self._world.tiers
        tenant_id = self._world.aliases.known_tenant(name)
        ledger = tiers.ledger_totals(tenant_id)
        title = (
            f"{name}: {charges} charges for {requests} requests, {format_dollars(amount)}"
            " in ledger and analytics"
        )
        with business_step(title, lambda: ledger):
            assert (ledger.events, ledger.units, ledger.amount_micros) == (
                charges, requests, amount
            ), (
                f"ledger of {name} ({tenant_id}): {ledger.events} charges, {ledger.units} "
                f"requests, {format_dollars(ledger.amount_micros)}; expected {charges} "
                f"charges, {requests} requests, {format_dollars(amount)}"
            )

            def analytics_agree() -> None:
                seen = tiers.analytics_totals(tenant_id)
                assert (seen.events, seen.units, seen.amount_micros) == (
                    ledger.events, ledger.units, ledger.amount_micros
                ), (
                    f"analytics of {name} ({tenant_id}): {seen.events} events, {seen.units} "
                    f"requests, {format_dollars(seen.amount_micros)}; the ledger has "
                    f"{ledger.events}, {ledger.units}, {format_dollars(ledger.amount_micros)}"
                )

            eventually(
                analytics_agree, timeout=self._world.eventually_timeout,
                what=f"analytics of {name} matching the ledger",
            )
