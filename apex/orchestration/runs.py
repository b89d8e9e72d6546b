"""Agent runs in Redis: the run record (its existence claims a request id), the run's event
stream, and the job stream from the gateways to the orchestration workers.

Key names come from ``apex.keys``. The worker side is synchronous (threads); the gateway side is
asyncio (one blocking read per followed run must not hold a thread).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import redis
import redis.asyncio

from apex import keys
from apex.gateway.protocol import RunState

#: How long a run's record and events are kept: as long as admissions are remembered, so a
#: request id repeated within that time attaches to its run and never starts another.
RUN_MEMORY = timedelta(days=35)
_MEMORY_SECONDS = int(RUN_MEMORY.total_seconds())
_JOBS_MAX_LEN = 100_000


@dataclass(frozen=True, slots=True)
class RunJob:
    """An admitted run, as a worker receives it."""

    tenant_id: str
    run_id: str
    tier: str
    period: str
    units: int
    task: str

    def encode(self) -> dict[str, str]:
        return {"job": json.dumps(asdict(self), separators=(",", ":"))}

    @classmethod
    def decode(cls, fields: dict[bytes, bytes]) -> RunJob:
        return cls(**json.loads(fields[b"job"]))


def _decode_event(fields: dict[bytes, bytes]) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(fields[b"event"])
    return event


class RunStore:
    """Worker side: take jobs, record state, append events."""

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self._redis = client
        self._jobs = keys.run_jobs(namespace)

    def ensure_group(self) -> None:
        try:
            self._redis.xgroup_create(self._jobs, keys.RUN_WORKERS_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def next_job(self, consumer: str, block: timedelta) -> tuple[bytes, RunJob] | None:
        response: Any = self._redis.xreadgroup(
            keys.RUN_WORKERS_GROUP, consumer, {self._jobs: ">"}, count=1,
            block=int(block.total_seconds() * 1000),
        )
        for _stream, entries in response or []:
            for entry_id, fields in entries:
                return entry_id, RunJob.decode(fields)
        return None

    def ack(self, entry_id: bytes) -> None:
        self._redis.xack(self._jobs, keys.RUN_WORKERS_GROUP, entry_id)

    def set_state(self, job: RunJob, run_state: RunState) -> None:
        self._redis.hset(keys.agent_run(job.tenant_id, job.run_id), "state", run_state.value)

    def append_event(self, job: RunJob, event: dict[str, Any]) -> None:
        stream = keys.agent_run_events(job.tenant_id, job.run_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(stream, {"event": json.dumps(event, separators=(",", ":"))})
        pipe.expire(stream, _MEMORY_SECONDS)
        pipe.hset(keys.agent_run(job.tenant_id, job.run_id), "seq", event["seq"])
        pipe.execute()


class AsyncRunStore:
    """Gateway side: claim request ids, queue jobs, follow events."""

    def __init__(self, client: redis.asyncio.Redis, namespace: str) -> None:
        self._redis = client
        self._jobs = keys.run_jobs(namespace)

    async def claim(self, tenant_id: str, run_id: str) -> bool:
        """True if this call created the run's record (the request id was new)."""
        record = keys.agent_run(tenant_id, run_id)
        created = await self._redis.hsetnx(record, "state", RunState.QUEUED.value)
        if created:
            await self._redis.expire(record, _MEMORY_SECONDS)
        return bool(created)

    async def forget(self, tenant_id: str, run_id: str) -> None:
        """Drop a claim whose run was not admitted: the request id may be sent again."""
        await self._redis.delete(keys.agent_run(tenant_id, run_id))

    async def enqueue(self, job: RunJob) -> None:
        await self._redis.xadd(
            self._jobs, job.encode(), maxlen=_JOBS_MAX_LEN, approximate=True  # type: ignore[arg-type]
        )

    async def state(self, tenant_id: str, run_id: str) -> tuple[RunState, int] | None:
        """The run's state and last event number, or None if there is no such run."""
        raw = await self._redis.hmget(keys.agent_run(tenant_id, run_id), ["state", "seq"])
        if raw[0] is None:
            return None
        state_raw: Any = raw[0]
        return RunState(state_raw.decode()), int(raw[1] or 0)

    async def events(
        self, tenant_id: str, run_id: str, after: bytes, block: timedelta
    ) -> list[tuple[bytes, dict[str, Any]]]:
        """Events after stream position ``after`` (``b"0"`` for all), waiting up to ``block``
        for the first one."""
        stream = keys.agent_run_events(tenant_id, run_id)
        response: Any = await self._redis.xread(
            {stream: after}, block=int(block.total_seconds() * 1000)
        )
        found: list[tuple[bytes, dict[str, Any]]] = []
        for _stream, entries in response or []:
            found.extend((entry_id, _decode_event(fields)) for entry_id, fields in entries)
        return found
