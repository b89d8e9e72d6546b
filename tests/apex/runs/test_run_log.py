"""The run record and event log on the real (embedded) PostgreSQL, as the platform's role."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from apex.clock import FrozenClock
from apex.platform import Platform
from apex.runs import RunEventKind, RunJob, RunLog, RunState
from apex.settings import PlatformSettings
from harness.services import Services


def _settings(services: Services) -> PlatformSettings:
    return PlatformSettings(
        redis_url=services.redis_url, postgres_dsn=services.postgres.app_dsn
    )  # type: ignore[arg-type]


@pytest.fixture
def platforms(services: Services, clock: FrozenClock) -> Iterator[list[Platform]]:
    """Two platform instances: two workers' worth of connections to the same stores."""
    built = [Platform(_settings(services), clock).start() for _ in range(2)]
    yield built
    for platform in built:
        platform.close()


@pytest.fixture
def tenant(platforms: list[Platform]) -> str:
    tenant_id = f"runs-{secrets.token_hex(4)}"
    platforms[0].tenants.subscribe(tenant_id, "Runs Test", "mid")
    return tenant_id


def _job(tenant_id: str, run_id: str) -> RunJob:
    return RunJob(tenant_id, run_id, "mid", "2026-11", 1, "a task")


def test_events_appended_by_two_workers_at_once_are_numbered_without_gap_or_repeat(
    platforms: list[Platform], tenant: str
) -> None:
    logs = [p.runs for p in platforms]
    logs[0].claim(tenant, "r1", "a task")
    logs[0].admitted(_job(tenant, "r1"))

    def append(i: int) -> int:
        return logs[i % 2].append(tenant, "r1", RunEventKind.PROGRESS, {"i": i}).seq

    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(append, range(120)))
    assert sorted(numbers) == list(range(1, 121))
    stored = logs[1].events_after(tenant, "r1", 0)
    assert [e.seq for e in stored] == list(range(1, 121))
    assert logs[0].state(tenant, "r1") == (RunState.QUEUED, 120)


def test_a_terminal_event_and_its_state_are_stored_together(
    platforms: list[Platform], tenant: str
) -> None:
    log = platforms[0].runs
    log.claim(tenant, "r2", "a task")
    log.admitted(_job(tenant, "r2"))
    log.append(tenant, "r2", RunEventKind.PROGRESS, {"agent": "triage"})
    done = log.append(
        tenant, "r2", RunEventKind.RESULT, {"charge_micros": 1}, state=RunState.SUCCEEDED
    )
    assert (done.seq, done.terminal) == (2, True)
    assert log.state(tenant, "r2") == (RunState.SUCCEEDED, 2)
    assert [e.kind for e in log.events_after(tenant, "r2", 1)] == [RunEventKind.RESULT]


def test_a_request_id_being_decided_is_not_won_by_a_second_sender(
    platforms: list[Platform], tenant: str
) -> None:
    first, second = (p.runs for p in platforms)
    assert first.claim(tenant, "r3", "a task").won
    waiting = second.claim(tenant, "r3", "a task")
    assert (waiting.won, waiting.state) == (False, RunState.DECIDING)
    first.refused(tenant, "r3", {"reason": "concurrency_limit", "message": "m",
                                 "retryable": True, "offer": "enterprise"})
    decided = second.decision(tenant, "r3")
    assert decided is not None and decided.state is RunState.REFUSED
    assert decided.refusal == {"reason": "concurrency_limit", "message": "m",
                               "retryable": True, "offer": "enterprise"}
    assert first.state(tenant, "r3") is None, "a refused id names no run"


def test_a_refused_request_id_is_decided_afresh_and_an_admitted_one_never(
    platforms: list[Platform], tenant: str
) -> None:
    log = platforms[0].runs
    log.claim(tenant, "r4", "a task")
    log.refused(tenant, "r4", {"reason": "quota_exhausted", "message": "m",
                               "retryable": False, "offer": None})
    assert log.claim(tenant, "r4", "a task").won
    log.admitted(_job(tenant, "r4"))
    again = log.claim(tenant, "r4", "another task")
    assert (again.won, again.state) == (False, RunState.QUEUED)


def test_a_run_of_one_tenant_is_invisible_to_another(
    platforms: list[Platform], tenant: str
) -> None:
    log: RunLog = platforms[0].runs
    other = f"runs-{secrets.token_hex(4)}"
    platforms[0].tenants.subscribe(other, "Other", "mid")
    log.claim(tenant, "r5", "a task")
    log.admitted(_job(tenant, "r5"))
    log.append(tenant, "r5", RunEventKind.PROGRESS, {"secret": "of tenant one"})
    assert log.state(other, "r5") is None
    assert log.events_after(other, "r5", 0) == []
    assert log.claim(other, "r5", "a task").won, "the same request id is the other's own"
    with pytest.raises(LookupError):
        log.append(other, "r6", RunEventKind.PROGRESS, {})
