"""The agent-state-recovery contract: the platform's workers as an operator sees them, to be
stopped the hard way mid-run and started again. Implementation: ``processes.py`` (the
platform's worker processes, killed with SIGKILL); the in-process assembly has none, and its
scenarios that kill workers are skipped, saying so.
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


class WorkerFaults(Protocol):
    @property
    def job_lease_seconds(self) -> float:
        """How long a worker's hold on a run lasts without a renewal (the job lease, real
        time)."""
        ...

    def kill_worker_running(self, tenant_id: str) -> KilledWorker:
        """Kill, without warning, the worker executing the tenant's run; AssertionError if no
        worker is executing one."""
        ...

    def restart(self, worker: str) -> None:
        """Start the worker again and wait until it serves."""
        ...
