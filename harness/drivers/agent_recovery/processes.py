"""Worker faults on the platform's processes: which worker process executes a tenant's run is
read from the job stream's pending entries (the consumer holding the job is named after the
worker's loop, ``<worker>-<n>``), and that process is killed with SIGKILL, or paused with
SIGSTOP and let go on with SIGCONT. What a worker is doing is read from its health report."""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import redis

from apex import keys
from harness.drivers.agent_recovery.contract import KilledWorker, PausedWorker, WorkerActivity


class ProcessControl(Protocol):
    """What the run's platform processes let a scenario do to them."""

    @property
    def job_lease_seconds(self) -> float: ...

    @property
    def slot_lease_seconds(self) -> float: ...

    def kill(self, name: str) -> None: ...

    def restart(self, name: str) -> None: ...

    def pause(self, name: str) -> None: ...

    def resume(self, name: str) -> None: ...

    def health_report(self, name: str) -> dict[str, Any]: ...


class ProcessWorkerFaults:
    def __init__(self, processes: ProcessControl, redis_url: str, namespace: str) -> None:
        self._processes = processes
        self._redis = redis.Redis.from_url(redis_url)
        self._jobs = keys.run_jobs(namespace)

    @property
    def job_lease_seconds(self) -> float:
        return self._processes.job_lease_seconds

    @property
    def slot_lease_seconds(self) -> float:
        return self._processes.slot_lease_seconds

    def kill_worker_running(self, tenant_id: str) -> KilledWorker:
        worker = self._worker_running(tenant_id)
        self._processes.kill(worker)
        return KilledWorker(worker, time.monotonic())

    def restart(self, worker: str) -> None:
        self._processes.restart(worker)

    def pause_worker_running(self, tenant_id: str) -> PausedWorker:
        worker = self._worker_running(tenant_id)
        before = self.activity(worker).given_up
        self._processes.pause(worker)
        return PausedWorker(worker, before)

    def resume(self, worker: str) -> None:
        self._processes.resume(worker)

    def activity(self, worker: str) -> WorkerActivity:
        report = self._processes.health_report(worker)
        return WorkerActivity(int(report["executing"]), int(report["given_up"]))

    def close(self) -> None:
        self._redis.close()

    def _worker_running(self, tenant_id: str) -> str:
        pending: Any = self._redis.xpending_range(
            self._jobs, keys.RUN_WORKERS_GROUP, min="-", max="+", count=100
        )
        for entry in pending:
            found: Any = self._redis.xrange(self._jobs, entry["message_id"], entry["message_id"])
            if found and json.loads(found[0][1][b"job"])["tenant_id"] == tenant_id:
                consumer = entry["consumer"]
                loop = consumer.decode() if isinstance(consumer, bytes) else str(consumer)
                return loop.rpartition("-")[0]
        raise AssertionError(f"no worker is executing a run of {tenant_id}")
