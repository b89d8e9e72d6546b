"""What one scenario knows: the drivers of its assembly, its aliases, and the scenario state of
each capability's DSL.

A fresh World is made for every scenario (environment.py). Each capability keeps its scenario
state in one small object registered here (:meth:`World.state`), which says what the scenario
left unexamined; a scenario with leftovers in any capability fails (STYLE 14). Resources a
scenario creates register their cleanup with behave, so nothing outlives it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from harness.drivers.agent_recovery.contract import StoreFaults, WorkerFaults
from harness.drivers.agent_runs.contract import AgentRunsDriver, ModelControl
from harness.drivers.bundle import Drivers
from harness.drivers.clock import TestClock
from harness.drivers.dead_letters.contract import AnalyticsRefusals, DeadLetterDesk
from harness.drivers.tenant_config.contract import StoreProbe, TenantConfigDriver
from harness.drivers.tiers.contract import TiersBackDoor, TiersDriver
from harness.dsl.common.aliases import Aliases


class ScenarioState(Protocol):
    def leftovers(self) -> list[str]:
        """What the scenario did not examine: errors no Then looked at, unread messages."""
        ...


S = TypeVar("S", bound=ScenarioState)
D = TypeVar("D")


@dataclass
class ErrorSlot:
    """The error the last action raised, for a Then to examine; unexamined, it is a leftover."""

    error: Exception | None = None

    def put(self, error: Exception | None) -> None:
        self.error = error

    def take(self) -> Exception | None:
        error, self.error = self.error, None
        return error

    def leftovers(self) -> list[str]:
        return [f"an error no Then examined: {self.error!r}"] if self.error is not None else []


@dataclass
class World:
    drivers: Drivers
    add_cleanup: Callable[..., None]
    eventually_timeout: float
    aliases: Aliases = field(default_factory=Aliases)
    _states: dict[type, ScenarioState] = field(default_factory=dict)

    def state(self, kind: type[S]) -> S:
        """The scenario's state of one capability (made on first use)."""
        if kind not in self._states:
            self._states[kind] = kind()
        found = self._states[kind]
        assert isinstance(found, kind)
        return found

    def leftovers(self) -> list[str]:
        return [item for state in self._states.values() for item in state.leftovers()]

    # -- the drivers, each failing with the reason when this assembly has none ---------------

    @property
    def clock(self) -> TestClock:
        return self.drivers.clock

    @property
    def tiers(self) -> TiersDriver:
        return self._need(self.drivers.tiers, "tiers")

    @property
    def tiers_backdoor(self) -> TiersBackDoor:
        return self._need(self.drivers.tiers_backdoor, "tiers")

    @property
    def agent_runs(self) -> AgentRunsDriver:
        return self._need(self.drivers.agent_runs, "agent runs")

    @property
    def model(self) -> ModelControl:
        assert self.drivers.model is not None, (
            "this step needs the scripted model (a real LLM endpoint is configured): "
            "tag it @scripted_llm"
        )
        return self.drivers.model

    @property
    def has_scripted_model(self) -> bool:
        return self.drivers.model is not None

    @property
    def worker_faults(self) -> WorkerFaults:
        return self._need(self.drivers.worker_faults, "worker faults")

    @property
    def store_faults(self) -> StoreFaults:
        return self._need(self.drivers.store_faults, "store faults")

    @property
    def dead_letters(self) -> DeadLetterDesk:
        return self._need(self.drivers.dead_letters, "dead letters")

    @property
    def analytics_refusals(self) -> AnalyticsRefusals:
        return self._need(self.drivers.analytics_refusals, "analytics refusals")

    @property
    def tenant_config(self) -> TenantConfigDriver:
        return self._need(self.drivers.tenant_config, "tenant configuration")

    @property
    def tenant_stores(self) -> StoreProbe:
        return self._need(self.drivers.tenant_stores, "tenant configuration")

    def _need(self, driver: D | None, capability: str) -> D:
        if driver is None:
            why = self.drivers.missing.get(capability, "no driver was built for it")
            raise AssertionError(
                f"{capability} has no driver in the {self.drivers.assembly} assembly: {why}"
            )
        return driver
