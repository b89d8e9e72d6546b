"""Step checkpoints and effect keys on the real (embedded) PostgreSQL, as the platform's role:
what lets a worker take over a run whose worker died without redoing or repeating anything."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from apex.clock import FrozenClock
from apex.platform import Platform
from apex.runs import RunEventKind, RunJob, StepCheckpoint
from apex.settings import PlatformSettings
from apex.tenancy.session import tenant_transaction
from harness.services import Services


@pytest.fixture
def platforms(services: Services, clock: FrozenClock) -> Iterator[list[Platform]]:
    """Two platform instances: a worker that died and the one taking its run over."""
    settings = PlatformSettings(
        redis_url=services.redis_url, postgres_dsn=services.postgres.app_dsn
    )  # type: ignore[arg-type]
    built = [Platform(settings, clock).start() for _ in range(2)]
    yield built
    for platform in built:
        platform.close()


@pytest.fixture
def run(platforms: list[Platform]) -> tuple[str, str]:
    tenant_id = f"ckpt-{secrets.token_hex(4)}"
    platforms[0].tenants.subscribe(tenant_id, "Checkpoint Test", "mid")
    platforms[0].runs.claim(tenant_id, "r1", "a task")
    platforms[0].runs.admitted(RunJob(tenant_id, "r1", "mid", "2026-11", 1, "a task"))
    return tenant_id, "r1"


def _step(step: int, content: str, cost: int = 180) -> StepCheckpoint:
    return StepCheckpoint(step, "triage", "small", content, 1200, 0, 300, cost)


def test_a_completed_step_is_read_back_by_another_worker(
    platforms: list[Platform], run: tuple[str, str]
) -> None:
    tenant, run_id = run
    platforms[0].steps.record(tenant, run_id, _step(1, "first"))
    platforms[0].steps.record(tenant, run_id, _step(2, "second"))
    assert platforms[1].steps.completed(tenant, run_id) == {
        1: _step(1, "first"), 2: _step(2, "second"),
    }


def test_the_first_checkpoint_of_a_step_wins_and_is_never_rewritten(
    platforms: list[Platform], run: tuple[str, str]
) -> None:
    tenant, run_id = run
    assert platforms[0].steps.record(tenant, run_id, _step(1, "first")) == _step(1, "first")
    stored = platforms[1].steps.record(tenant, run_id, _step(1, "again", cost=999))
    assert stored == _step(1, "first")
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege),
        tenant_transaction(platforms[0].pool, tenant) as conn,
    ):
        conn.execute("UPDATE run_steps SET cost_micros = 0 WHERE run_id = %s", (run_id,))


def test_an_event_emitted_again_under_its_effect_key_is_stored_once(
    platforms: list[Platform], run: tuple[str, str]
) -> None:
    tenant, run_id = run
    logs = [p.runs for p in platforms]
    first = logs[0].append(tenant, run_id, RunEventKind.PROGRESS, {"n": 1}, effect="step:1:started")

    def emit_again(i: int) -> int:
        return logs[i % 2].append(
            tenant, run_id, RunEventKind.PROGRESS, {"n": 1}, effect="step:1:started"
        ).seq

    with ThreadPoolExecutor(4) as pool:
        again = list(pool.map(emit_again, range(8)))
    later = logs[1].append(
        tenant, run_id, RunEventKind.PROGRESS, {"n": 2}, effect="step:1:finished"
    )
    assert (first.seq, set(again), later.seq) == (1, {1}, 2)
    assert [e.seq for e in logs[0].events_after(tenant, run_id, 0)] == [1, 2]
