"""The platform's settings handed to a process through its environment come back the same, and
a bad variable is named without its value (it may be a secret)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from apex.dlq.queues import DeadLetterSettings, QueueName
from apex.errors import InvalidInput
from apex.settings import PlatformSettings


def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("APEX_"):
            monkeypatch.delenv(name)


def test_settings_read_back_from_their_environment_are_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _clean(monkeypatch)
    dlq = DeadLetterSettings(
        max_deliveries=4, max_deliveries_by_queue={QueueName.USAGE: 6}, initial_backoff_ms=50,
        clickhouse_url=SecretStr("http://u:hidden@ch:8123/db"),
    )
    given = PlatformSettings(
        redis_url=SecretStr("redis://:pw@r:6379/0"), postgres_dsn=SecretStr("host=/s user=a"),
        namespace="ns-1", llm_api_key=SecretStr("sk-test"), job_lease_seconds=2.5,
        usage_outbox_retention_days=3, dlq=dlq,
    )
    variables = given.as_environment()
    assert variables["APEX_DLQ_MAX_DELIVERIES_BY_QUEUE"] == '{"usage": 6}'
    assert "APEX_PLATFORM_LLM_BASE_URL" not in variables  # unset stays unset
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert PlatformSettings.from_environment() == given


def test_a_bad_variable_is_named_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean(monkeypatch)
    monkeypatch.setenv("APEX_PLATFORM_REDIS_URL", "redis://r")
    monkeypatch.setenv("APEX_PLATFORM_POSTGRES_DSN", "host=/s")
    monkeypatch.setenv("APEX_PLATFORM_POOL_SIZE", "s3cret-looking")
    with pytest.raises(InvalidInput) as raised:
        PlatformSettings.from_environment()
    assert "APEX_PLATFORM_POOL_SIZE" in str(raised.value)
    assert "s3cret-looking" not in str(raised.value)
    monkeypatch.setenv("APEX_DLQ_MAX_DELIVERIES_BY_QUEUE", '{"usage": 0}')
    with pytest.raises(InvalidInput, match="APEX_DLQ_MAX_DELIVERIES_BY_QUEUE: "):
        DeadLetterSettings.from_environment()
