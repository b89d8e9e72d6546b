"""The agent-recovery DSL's scenario state: the worker a scenario killed, and when its run went
on again, as the tenant's client heard it; for a store fault, the platform's processes before
it and how they answered their health checks while the store came back."""

from __future__ import annotations

from dataclasses import dataclass

from harness.drivers.agent_recovery.contract import KilledWorker, Readiness


@dataclass
class RecoveryState:
    killed: KilledWorker | None = None
    #: when the client heard the first event of its run after the kill (``time.monotonic()``)
    resumed_at: float | None = None
    #: a Then judged how soon the run went on after the kill
    take_over_examined: bool = False
    #: each platform process and its process id, just before a store fault
    processes_before: dict[str, int] | None = None
    #: how the processes answered their health checks while the store came back
    readiness: Readiness | None = None
    #: a Then judged the processes' health through the fault
    health_examined: bool = False

    def leftovers(self) -> list[str]:
        found = []
        if self.killed is not None and not self.take_over_examined:
            found.append(
                f"no Then examined the take-over of the run {self.killed.name} was executing"
            )
        if self.readiness is not None and self.readiness.premature and not self.health_examined:
            found.append(f"processes answered ready too early: {list(self.readiness.premature)}")
        return found
