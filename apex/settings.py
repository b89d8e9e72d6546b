"""The platform's one settings object: every knob of every part, read once.

Platform processes (gateway, orchestration worker) read it from ``APEX_PLATFORM_*`` environment
variables (:meth:`PlatformSettings.for_process`); code that builds the platform in its own
process passes values directly (``PlatformSettings(redis_url=..., postgres_dsn=...)``), and
:meth:`PlatformSettings.as_environment` gives the variables that make a process see the same
settings, so no caller writes the variable names again.

Secrets (store addresses with passwords, the LLM key) are ``SecretStr``: never printed, and they
reach processes through the environment, never the command line, so ``ps`` never shows them.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from enum import StrEnum

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from apex import environment, keys, redis_clients
from apex.catalog import ModelSize
from apex.clock import Clock, RedisClock, SystemClock
from apex.dlq.queues import DeadLetterSettings
from apex.errors import InvalidInput

ENV_PREFIX = "APEX_PLATFORM_"


class ClockSource(StrEnum):
    SYSTEM = "system"
    #: the instant a test clock publishes in Redis (``apex.clock.RedisClock``)
    REDIS = "redis"


class PlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    redis_url: SecretStr
    #: libpq DSN of the platform's non-owner role (``host=/socket/dir`` works across processes).
    postgres_dsn: SecretStr
    #: separates deployments sharing one Redis (job stream and test clock are per namespace).
    namespace: str = Field("default", pattern=r"^[a-z0-9-]{1,40}$")
    #: any OpenAI-compatible endpoint, e.g. ``https://api.openai.com/v1`` (workers only).
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model_small: str = "apex-small"
    llm_model_medium: str = "apex-medium"
    llm_model_large: str = "apex-large"
    llm_timeout_seconds: float = Field(30.0, gt=0, le=600)
    llm_max_retries: int = Field(2, ge=0, le=10)
    clock: ClockSource = ClockSource.SYSTEM
    #: a running run's concurrency slot expires this long after its last renewal, on the
    #: platform clock (like the billing period: the suite's test clock moves both)
    lease_seconds: float = Field(30.0, gt=0, le=3600)
    #: the job lease, on real time: a worker executing a run renews its claim on the job every
    #: third of this (a heartbeat); a job whose claim went unrenewed this long (its worker
    #: died) is taken over by another worker, which resumes the run from its checkpoints
    job_lease_seconds: float = Field(30.0, gt=0, le=3600)
    #: a usage event the analytics sink confirmed stays in the usage outbox this long (on the
    #: platform clock), then the relay deletes it; one not confirmed is never deleted
    usage_outbox_retention_days: float = Field(7.0, gt=0, le=3650)
    redis_timeout_ms: int = Field(500, ge=10, le=60_000)
    pool_size: int = Field(10, ge=1, le=200)
    #: how long a statement waits for a PostgreSQL connection before the store counts as
    #: unreachable (the request is then refused, to be retried)
    postgres_wait_ms: int = Field(5000, ge=10, le=60_000)
    #: largest WebSocket message a client may send; larger ones close with code 1009.
    max_message_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    worker_threads: int = Field(8, ge=1, le=256)
    #: the dead-letter queue: deliveries per message (per queue), backoff between them,
    #: retention. Read from its own ``APEX_DLQ_*`` variables (``apex.dlq.queues``), which
    #: :meth:`as_environment` hands on too.
    dlq: DeadLetterSettings = Field(default_factory=DeadLetterSettings.from_environment)

    @classmethod
    def from_environment(cls) -> PlatformSettings:
        try:
            return cls()  # required fields come from the environment
        except ValidationError as exc:
            raise InvalidInput(
                f"bad platform settings ({environment.problems(exc, ENV_PREFIX)})"
            ) from None

    @classmethod
    def for_process(cls) -> PlatformSettings:
        """The settings, or exit with status 2 and one line saying what is wrong."""
        try:
            return cls.from_environment()
        except InvalidInput as exc:
            print(f"not started: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    def as_environment(self) -> dict[str, str]:
        """The ``APEX_PLATFORM_*`` variables a process needs to read these same settings (and
        the ``APEX_DLQ_*`` ones of :attr:`dlq`)."""
        return environment.as_environment(self, ENV_PREFIX)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)

    @property
    def job_lease(self) -> timedelta:
        return timedelta(seconds=self.job_lease_seconds)

    @property
    def usage_outbox_retention(self) -> timedelta:
        return timedelta(days=self.usage_outbox_retention_days)

    @property
    def redis_timeout(self) -> timedelta:
        return timedelta(milliseconds=self.redis_timeout_ms)

    def model_names(self) -> dict[ModelSize, str]:
        return {
            ModelSize.SMALL: self.llm_model_small,
            ModelSize.MEDIUM: self.llm_model_medium,
            ModelSize.LARGE: self.llm_model_large,
        }

    def llm_endpoint(self) -> tuple[str, str]:
        """The model endpoint and its key; InvalidInput if either is not set."""
        if self.llm_base_url is None or self.llm_api_key is None:
            raise InvalidInput(
                f"bad platform settings ({ENV_PREFIX}LLM_BASE_URL and {ENV_PREFIX}LLM_API_KEY"
                " are needed to run agents)"
            )
        return self.llm_base_url, self.llm_api_key.get_secret_value()

    def build_clock(self) -> Clock:
        if self.clock is ClockSource.SYSTEM:
            return SystemClock()
        client = redis_clients.connect(self.redis_url.get_secret_value())
        return RedisClock(client, keys.test_clock(self.namespace))
