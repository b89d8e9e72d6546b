"""The agent-recovery DSL's scenario state: the worker a scenario killed (or paused), and when
its run went on again, as the tenant's client heard it; for a store fault, the platform's
processes before it and how they answered their health checks while the store came back."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.drivers.agent_recovery.contract import KilledWorker, PausedWorker, Readiness


@dataclass(frozen=True)
class SlotWatch:
    """One look at a working run's slot after the platform's clock moved: how far into the
    watch, how long the slot's lease had left then (None: the tenant held no single slot), and
    how many runs the tenant had in progress."""

    elapsed_seconds: float
    lease_left_seconds: float | None
    runs_in_progress: int


@dataclass
class RecoveryState:
    killed: KilledWorker | None = None
    #: when the client heard the first event of its run after the kill (``time.monotonic()``)
    resumed_at: float | None = None
    #: a Then judged how soon the run went on after the kill
    take_over_examined: bool = False
    #: the worker a scenario paused past its lease, whether it was woken, and whether a Then
    #: judged what it did on waking
    paused: PausedWorker | None = None
    woken: bool = False
    waking_examined: bool = False
    #: each platform process and its process id, just before a store fault
    processes_before: dict[str, int] | None = None
    #: how the processes answered their health checks while the store came back
    readiness: Readiness | None = None
    #: a Then judged the processes' health through the fault
    health_examined: bool = False
    #: the slot lease and its renewal period the scenario states (seconds)
    slot_lease: tuple[float, float] | None = None
    #: each look at a working run's slot while the clock moved, and whether a Then judged them
    slot_watch: list[SlotWatch] = field(default_factory=list)
    slot_watch_examined: bool = False

    def leftovers(self) -> list[str]:
        found = []
        if self.killed is not None and not self.take_over_examined:
            found.append(
                f"no Then examined the take-over of the run {self.killed.name} was executing"
            )
        if self.paused is not None and self.woken and not self.waking_examined:
            found.append(f"no Then examined what {self.paused.name} did when it woke up")
        if self.slot_watch and not self.slot_watch_examined:
            found.append("no Then examined how the working run's slot was renewed")
        if self.readiness is not None and self.readiness.premature and not self.health_examined:
            found.append(f"processes answered ready too early: {list(self.readiness.premature)}")
        return found
