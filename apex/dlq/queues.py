"""The platform's queues that have a dead-letter queue, and the settings that shape them.

A queue is a Redis stream read by one consumer group; its dead letters are stored under the
queue's name, and a redrive puts them back on its stream. ``DeadLetterSettings`` reads
``APEX_DLQ_*``; it is part of the platform's one settings object (``PlatformSettings.dlq``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from apex import environment, keys
from apex.dlq.errors import UnknownQueue
from apex.dlq.policy import DeliveryPolicy
from apex.errors import InvalidInput

ENV_PREFIX = "APEX_DLQ_"
#: deliveries of a message before it is dead-lettered: at least one, and not for ever
Deliveries = Annotated[int, Field(ge=1, le=1000)]


class QueueName(StrEnum):
    #: agent-run jobs, read by the orchestration workers
    RUN_JOBS = "run-jobs"
    #: usage events, read by the analytics sink
    USAGE = "usage"


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    stream: str
    group: str
    policy: DeliveryPolicy
    #: delete a dead-lettered entry from the stream too (after acknowledging it: XDEL alone
    #: leaves it in the group's pending list); off when other groups also read the stream
    delete_dead: bool = True


class DeadLetterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    #: deliveries of a message before it is dead-lettered, for every queue ...
    max_deliveries: Deliveries = 3
    #: ... unless its queue has its own, e.g. ``APEX_DLQ_MAX_DELIVERIES_BY_QUEUE='{"usage": 5}'``
    max_deliveries_by_queue: dict[QueueName, Deliveries] = Field(default_factory=dict)
    initial_backoff_ms: int = Field(500, ge=0, le=3_600_000)
    max_backoff_ms: int = Field(30_000, ge=0, le=3_600_000)
    backoff_multiplier: float = Field(2.0, ge=1.0, le=10.0)
    #: how long a dead letter is kept, counted from when it entered the dead-letter queue
    retention_days: float = Field(14.0, gt=0, le=3650)
    #: ClickHouse for the reconciliation report (``http://user:password@host:8123/db``)
    clickhouse_url: SecretStr | None = None

    @classmethod
    def from_environment(cls) -> DeadLetterSettings:
        try:
            return cls()
        except ValidationError as exc:
            raise InvalidInput(
                f"bad dead-letter queue settings ({environment.problems(exc, ENV_PREFIX)})"
            ) from None

    def as_environment(self) -> dict[str, str]:
        """The ``APEX_DLQ_*`` variables a process needs to read these same settings."""
        return environment.as_environment(self, ENV_PREFIX)

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)

    def policy_for(self, queue: QueueName) -> DeliveryPolicy:
        return DeliveryPolicy(
            max_deliveries=self.max_deliveries_by_queue.get(queue, self.max_deliveries),
            initial_backoff=timedelta(milliseconds=self.initial_backoff_ms),
            max_backoff=timedelta(milliseconds=max(self.max_backoff_ms, self.initial_backoff_ms)),
            multiplier=self.backoff_multiplier,
        )

    def queues(self, namespace: str) -> dict[str, QueueSpec]:
        """Every queue of a deployment (its namespace), by name."""
        return {
            QueueName.RUN_JOBS: QueueSpec(
                QueueName.RUN_JOBS, keys.run_jobs(namespace), keys.RUN_WORKERS_GROUP,
                self.policy_for(QueueName.RUN_JOBS),
            ),
            QueueName.USAGE: QueueSpec(
                QueueName.USAGE, keys.USAGE_STREAM, keys.USAGE_SINK_GROUP,
                self.policy_for(QueueName.USAGE),
            ),
        }


def queue_named(queues: dict[str, QueueSpec], name: str) -> QueueSpec:
    try:
        return queues[name]
    except KeyError:
        raise UnknownQueue(
            f"unknown queue {name!r}: the queues are {', '.join(sorted(queues))}"
        ) from None
