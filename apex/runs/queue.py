"""The job stream between the gateways (intake) and the orchestration workers (dispatch).

Intake appends admitted runs; dispatch hands them to workers through the consumer-group
framework, so a job whose worker died is claimed by another once its idle time passes. The two
are separate so that dispatch order can change without touching intake.
"""

from __future__ import annotations

from datetime import timedelta

import redis
import redis.asyncio

from apex import keys
from apex.runs.model import RunJob
from apex.streams import ConsumerGroup, Delivery

_JOBS_MAX_LEN = 100_000


class RunIntake:
    """Gateway side: queue an admitted run."""

    def __init__(self, client: redis.asyncio.Redis, namespace: str) -> None:
        self._redis = client
        self._stream = keys.run_jobs(namespace)

    async def enqueue(self, job: RunJob) -> None:
        await self._redis.xadd(
            self._stream, job.encode(), maxlen=_JOBS_MAX_LEN, approximate=True,  # type: ignore[arg-type]
        )


class RunDispatch:
    """Worker side: the next job for one of a worker's loops."""

    def __init__(
        self, client: redis.Redis, namespace: str, *,
        claim_idle: timedelta = timedelta(seconds=30),
    ) -> None:
        self._redis = client
        self._stream = keys.run_jobs(namespace)
        self._claim_idle = claim_idle
        ConsumerGroup(client, self._stream, keys.RUN_WORKERS_GROUP, "setup").ensure()

    def consumer(self, name: str) -> ConsumerGroup:
        return ConsumerGroup(
            self._redis, self._stream, keys.RUN_WORKERS_GROUP, name, claim_idle=self._claim_idle
        )

    @staticmethod
    def job_of(delivery: Delivery) -> RunJob:
        return RunJob.decode(dict(delivery.fields))
