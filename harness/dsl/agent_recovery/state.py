"""The agent-recovery DSL's scenario state: the worker a scenario killed, and when its run went
on again, as the tenant's client heard it."""

from __future__ import annotations

from dataclasses import dataclass

from harness.drivers.agent_recovery.contract import KilledWorker


@dataclass
class RecoveryState:
    killed: KilledWorker | None = None
    #: when the client heard the first event of its run after the kill (``time.monotonic()``)
    resumed_at: float | None = None
    #: a Then judged how soon the run went on after the kill
    take_over_examined: bool = False

    def leftovers(self) -> list[str]:
        if self.killed is not None and not self.take_over_examined:
            return [f"no Then examined the take-over of the run {self.killed.name} was executing"]
        return []
