"""Rebuilding the store after it lost its data, on the real stores: not ready until rebuilt,
nothing admitted before, tenants restored from PostgreSQL with their quota counted from the
ledger and their runs admitted and not yet billed, those runs queued again. Its own Redis
database, which it empties, so no other test's state is touched."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from apex import keys
from apex.clock import FrozenClock, RedisClock
from apex.errors import UnknownTenant
from apex.platform import Platform
from apex.requests import RefusalReason
from apex.runs import RunJob, RunState
from apex.settings import PlatformSettings
from harness.services import Services

_DB = 10
_ADMITTED: list[tuple[str, str]] = []


@pytest.fixture
def platform(services: Services, clock: FrozenClock) -> Iterator[Platform]:
    url = services.redis_url.rsplit("/", 1)[0] + f"/{_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    settings = PlatformSettings(
        redis_url=url, postgres_dsn=services.postgres.app_dsn,  # type: ignore[arg-type]
        namespace=f"rec-{secrets.token_hex(3)}",
    )
    built = Platform(settings, clock).start()
    yield built
    # Runs admitted here are never executed: settled, so no later rebuild queues them again.
    for tenant_id, run_id in _ADMITTED:
        built.runs.set_state(tenant_id, run_id, RunState.FAILED)
    _ADMITTED.clear()
    built.close()
    client.flushdb()
    client.close()


def _tenant(platform: Platform, tier: str) -> str:
    tenant_id = f"rec-{secrets.token_hex(4)}"
    platform.tenants.subscribe(tenant_id, "Recovery Test", tier)
    return tenant_id


def _admitted_run(platform: Platform, tenant_id: str, run_id: str) -> None:
    """A run admitted (its unit counted) and queued, not yet billed."""
    assert platform.enforcer.admit(tenant_id, run_id).admitted
    platform.runs.claim(tenant_id, run_id, "a task")
    platform.runs.admitted(RunJob(tenant_id, run_id, "free", "2026-11", 1, "a task"))
    _ADMITTED.append((tenant_id, run_id))


def _jobs(platform: Platform) -> list[dict[str, Any]]:
    entries: Any = platform.redis.xrange(keys.run_jobs(platform.settings.namespace))
    return [json.loads(fields[b"job"]) for _id, fields in entries]


def test_an_emptied_store_is_not_ready_and_admits_nothing_until_rebuilt(
    platform: Platform,
) -> None:
    tenant = _tenant(platform, "mid")
    platform.redis.flushdb()
    assert not platform.recovery.ready()
    refused = platform.requests.submit(tenant, "r-1", 1)
    assert (refused.admitted, refused.reason, refused.retryable) == (
        False, RefusalReason.SERVICE_UNAVAILABLE, True
    )
    assert platform.recovery.ensure().rebuilt
    assert platform.recovery.ready()
    assert not platform.recovery.ensure().rebuilt, "rebuilt twice"
    assert platform.requests.submit(tenant, "r-2", 1).admitted


def test_a_tenant_is_restored_with_its_billed_units_and_its_runs_not_yet_billed(
    platform: Platform,
) -> None:
    tenant = _tenant(platform, "free")  # 100 requests a month, 2 at once
    assert platform.requests.submit(tenant, "batch", 97).admitted
    platform.requests.finish(tenant, "batch")
    _admitted_run(platform, tenant, "run-1")
    _admitted_run(platform, tenant, "run-2")
    platform.redis.flushdb()
    report = platform.recovery.ensure()
    assert report.rebuilt and report.runs_requeued >= 2
    assert platform.enforcer.quota_used(tenant) == 99, "97 billed, 2 runs admitted"
    assert platform.enforcer.running(tenant) == 2, "each run in progress holds its slot"
    assert {j["run_id"] for j in _jobs(platform) if j["tenant_id"] == tenant} == {
        "run-1", "run-2"
    }
    platform.enforcer.release(tenant, "run-2")
    assert platform.requests.submit(tenant, "last", 1).admitted
    platform.requests.finish(tenant, "last")
    over = platform.requests.submit(tenant, "one-too-many", 1)
    assert (over.admitted, over.reason) == (False, RefusalReason.QUOTA_EXHAUSTED)


def test_a_run_restored_after_the_loss_gives_its_unit_back_if_it_fails(
    platform: Platform,
) -> None:
    tenant = _tenant(platform, "free")
    _admitted_run(platform, tenant, "run-1")
    platform.redis.flushdb()
    platform.recovery.ensure()
    admission = platform.enforcer.admit(tenant, "probe")  # restored: counts run-1 and this
    assert admission.quota_used == 2
    assert platform.enforcer.refund(
        type(admission)(admission.decision, tenant, "run-1", "free", admission.period, 1,
                        0, 0, 0, 0)
    )
    assert platform.enforcer.quota_used(tenant) == 1


def test_a_tenant_unknown_to_the_records_is_still_unknown(platform: Platform) -> None:
    platform.redis.flushdb()
    platform.recovery.ensure()
    with pytest.raises(UnknownTenant):
        platform.enforcer.admit(f"rec-{secrets.token_hex(4)}", "r-1")


def test_a_tier_change_after_the_loss_leaves_the_counters_to_the_restore(
    platform: Platform,
) -> None:
    tenant = _tenant(platform, "free")
    assert platform.requests.submit(tenant, "batch", 60).admitted
    platform.redis.flushdb()
    platform.recovery.ensure()
    platform.tenants.change_tier(tenant, "early")
    admission = platform.enforcer.admit(tenant, "after")
    assert (admission.tier, admission.quota_used) == ("early", 61)


def test_the_published_clock_is_published_again_unless_moved_since(services: Services) -> None:
    url = services.redis_url.rsplit("/", 1)[0] + f"/{_DB}"
    client = redis.Redis.from_url(url)
    key = keys.test_clock(f"rec-{secrets.token_hex(3)}")
    instant = datetime(2026, 11, 3, 9, 0, 0, 123_456, tzinfo=UTC)
    try:
        RedisClock.publish(client, key, instant)
        clock = RedisClock(client, key)
        assert clock.now() == instant
        client.delete(key)
        assert clock.restore() and clock.now() == instant
        later = datetime(2026, 11, 4, tzinfo=UTC)
        RedisClock.publish(client, key, later)
        clock.restore()
        assert clock.now() == later
    finally:
        client.delete(key)
        client.close()
