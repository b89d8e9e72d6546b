"""The agent-state-recovery contract: the platform's workers as an operator sees them, to be
stopped the hard way mid-run and started again, or paused past their lease and let go on, and
the platform's store (Redis), to be restarted with or without its data or to stop answering
for a while. Implementations: ``processes.py`` (the platform's worker processes, killed with
SIGKILL or paused with SIGSTOP) and ``stores.py`` (the run's own Redis server, restarted or
paused); the in-process assembly has neither, and an external stack no store to break: their
fault scenarios are skipped, saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class KilledWorker:
    """A worker stopped without warning (SIGKILL): no cleanup, its claims left as they were."""

    name: str
    #: when it died, on the suite's monotonic clock (``time.monotonic()``)
    died_at: float


@dataclass(frozen=True, slots=True)
class PausedWorker:
    """A worker stopped on the spot (SIGSTOP), holding what it held, until it is resumed."""

    name: str
    #: the runs it had given up before it was paused (its health report's count)
    given_up_before: int


@dataclass(frozen=True, slots=True)
class WorkerActivity:
    """What a worker says it is doing (its health report)."""

    #: runs it is executing now
    executing: int
    #: runs it stopped working on because another worker had taken them over
    given_up: int


class WorkerFaults(Protocol):
    @property
    def job_lease_seconds(self) -> float:
        """How long a worker's hold on a run lasts without a renewal (the job lease, real
        time)."""
        ...

    @property
    def slot_lease_seconds(self) -> float:
        """How long a run's slot among its tier's runs at once lasts without a renewal (the
        slot lease, on the platform's clock)."""
        ...

    def kill_worker_running(self, tenant_id: str) -> KilledWorker:
        """Kill, without warning, the worker executing the tenant's run; AssertionError if no
        worker is executing one."""
        ...

    def restart(self, worker: str) -> None:
        """Start the worker again and wait until it serves."""
        ...

    def pause_worker_running(self, tenant_id: str) -> PausedWorker:
        """Stop on the spot the worker executing the tenant's run; AssertionError if no worker
        is executing one."""
        ...

    def resume(self, worker: str) -> None:
        """Let a paused worker go on (nothing happens to one that runs)."""
        ...

    def activity(self, worker: str) -> WorkerActivity:
        """What the worker says it is doing."""
        ...


@dataclass(frozen=True, slots=True)
class Readiness:
    """How the platform's processes answered their health checks from the moment the store
    went down until every one of them was ready again."""

    #: "ready" answers given while the store did not yet hold what the platform needs (the
    #: tier catalog, the consumer groups, the published clock), as "<process>: <missing>"
    premature: tuple[str, ...]
    #: seconds from the store answering again to every process answering ready
    ready_after: float


class StoreFaults(Protocol):
    def restart_store(self, *, keep_data: bool) -> Readiness:
        """Stop the store (saving its data first, or losing it) and start it again on the same
        address; returns once every platform process answers ready again."""
        ...

    def freeze_store(self, seconds: float) -> None:
        """The store stops answering now (its process paused) and answers again by itself
        ``seconds`` later; returns at once."""
        ...

    def store_frozen(self) -> bool:
        """The store is still paused."""
        ...

    def hold_analytics(self) -> None:
        """The usage analytics stops taking events: they wait on their way."""
        ...

    def resume_analytics(self) -> None: ...

    def usage_records_in_transit(self) -> int:
        """Usage records handed on towards the usage analytics and not yet taken by it."""
        ...

    def processes(self) -> dict[str, int]:
        """Each platform process by name, with its process id."""
        ...

    def all_ready(self) -> None:
        """AssertionError unless every platform process answers its health check ready."""
        ...

    def restore(self) -> None:
        """Undo any fault: the store up with the run's state (the published clock, the
        catalog), the usage analytics taking events, every platform process ready."""
        ...
