"""The platform's own copy of each usage record, in business words: kept until the usage
analytics confirm the record, then kept a stated number of days more, then removed; a record
the analytics have not confirmed is kept however old it is. Works through the agent-run contract
(the tenant's client, and the copies the platform keeps) and the store-faults contract (the
usage analytics stopped and started again). The days are the feature's words; the clock that
counts them is the platform's (the suite's test clock moves it).
"""

from __future__ import annotations

from datetime import timedelta

from harness.drivers.agent_runs.contract import UsageCopies
from harness.dsl.agent_recovery.store_faults import StoreFaultsDsl
from harness.dsl.common.evidence import attach, business_step
from harness.dsl.common.world import World
from harness.waiting import eventually


class UsageCopiesDsl:
    def __init__(self, world: World) -> None:
        self._world = world

    # -- Given ------------------------------------------------------------------------------

    def run_completed_and_confirmed(self, name: str) -> None:
        """``name`` received the complete report of a run, and the usage analytics have
        confirmed its usage record (the platform's copy is marked confirmed)."""
        StoreFaultsDsl(self._world).run_completed(name)
        with business_step(f"the usage analytics have confirmed {name}'s usage record"):
            self._until_copies_are(name, UsageCopies(confirmed=1, waiting=0), "confirmed")

    # -- When -------------------------------------------------------------------------------

    def a_second_passes(self) -> None:
        with business_step("a second passes"):
            self._world.clock.advance(timedelta(seconds=1))

    def days_pass(self, days: int) -> None:
        with business_step(f"{days} days pass"):
            self._world.clock.advance(timedelta(days=days))

    def analytics_started_again(self) -> None:
        with business_step("the usage analytics starts again"):
            self._world.store_faults.resume_analytics()

    # -- Then -------------------------------------------------------------------------------

    def copy_removed(self, name: str) -> None:
        """The platform removes its copy of ``name``'s usage record (it does so on its own,
        within a few seconds)."""
        with business_step(f"the platform no longer keeps a copy of {name}'s usage record"):
            self._until_copies_are(name, UsageCopies(confirmed=0, waiting=0), "removed")

    def copy_kept(self, name: str, *, confirmed: bool) -> None:
        """Read once, after a removal the scenario waited for: the platform's pass that removed
        that copy has left this one."""
        tenant_id = self._world.aliases.known_tenant(name)
        expected = UsageCopies(confirmed=1, waiting=0) if confirmed else UsageCopies(0, 1)
        how = "confirmed by the usage analytics" if confirmed else "waiting for the analytics"
        with business_step(f"the platform still keeps a copy of {name}'s usage record, {how}"):
            copies = self._world.agent_runs.usage_copies(tenant_id)
            attach(f"{name}'s usage records kept", {"confirmed": copies.confirmed,
                                                    "waiting": copies.waiting})
            assert copies == expected, (
                f"{name}'s usage records as the platform keeps them: {_words(copies)};"
                f" expected {_words(expected)}"
            )

    def _until_copies_are(self, name: str, expected: UsageCopies, what: str) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        runs = self._world.agent_runs

        def reached() -> None:
            copies = runs.usage_copies(tenant_id)
            assert copies == expected, (
                f"{name}'s usage records as the platform keeps them: {_words(copies)};"
                f" expected {_words(expected)}"
            )

        eventually(reached, timeout=self._world.eventually_timeout,
                   what=f"{name}'s usage record {what}")


def _words(copies: UsageCopies) -> str:
    return f"{copies.confirmed} confirmed, {copies.waiting} waiting for the analytics"
