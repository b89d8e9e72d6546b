"""An orchestration worker's loops outlive store outages and failed runs, and its health says
whether it is really serving."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import redis

from apex import redis_clients
from apex.catalog import ModelSize
from apex.clock import FrozenClock
from apex.llm.client import LlmClient
from apex.orchestration.supervisor import Supervisor
from apex.orchestration.worker import OrchestrationWorker
from apex.platform import Platform
from apex.runs import RunDispatch, RunJob
from apex.settings import PlatformSettings
from harness.services import Services
from harness.services.link import CuttableLink
from harness.waiting import eventually

THREADS = 3


@pytest.fixture
def link(services: Services) -> Iterator[CuttableLink]:
    parts = urlsplit(services.redis_url)
    relay = CuttableLink(parts.hostname or "127.0.0.1", parts.port or 6379)
    yield relay
    relay.close()


@pytest.fixture
def worker(
    services: Services, clock: FrozenClock, link: CuttableLink
) -> Iterator[tuple[OrchestrationWorker, Platform, str]]:
    namespace = f"sup-{secrets.token_hex(3)}"
    settings = PlatformSettings(
        redis_url=services.redis_url, postgres_dsn=services.postgres.app_dsn,  # type: ignore[arg-type]
        namespace=namespace,
    )
    platform = Platform(settings, clock).start()
    # built as the worker process builds its stream client (apex.redis_clients)
    jobs = redis_clients.connect(
        f"redis://127.0.0.1:{link.port}", timeout=1.5, connect_timeout=0.5
    )
    # Nothing listens there: a model call fails at once, as when the provider is down.
    llm = LlmClient(
        "http://127.0.0.1:9/v1", "unused", dict.fromkeys(ModelSize, "m"), max_retries=0
    )
    built = OrchestrationWorker(
        platform, RunDispatch(jobs, namespace, claim_idle=timedelta(seconds=30)),
        Supervisor(llm), name="w", threads=THREADS,
    )
    stop = threading.Event()
    runner = threading.Thread(target=built.run, args=(stop,))
    runner.start()
    yield built, platform, namespace
    stop.set()
    runner.join(timeout=10)
    assert not runner.is_alive(), "the worker did not stop"
    llm.close()
    jobs.close()
    platform.close()


def test_three_short_store_outages_leave_every_loop_serving(
    worker: tuple[OrchestrationWorker, Platform, str], link: CuttableLink
) -> None:
    built, _platform, _namespace = worker
    eventually(lambda: _check(built.health().serving), timeout=5, what="serving at start")
    for _outage in range(3):
        link.cut()
        eventually(lambda: _check(not built.health().serving), timeout=10,
                   what="health reporting the outage")
        link.restore()
        eventually(lambda: _check(built.health().serving), timeout=10,
                   what="serving again after the outage")
    health = built.health()
    assert (health.alive, health.restarts) == (THREADS, 0), health


def test_a_run_that_cannot_be_executed_does_not_stop_its_loop(
    worker: tuple[OrchestrationWorker, Platform, str], services: Services
) -> None:
    built, _platform, namespace = worker
    client = redis.Redis.from_url(services.redis_url)
    try:
        # A job for a run that has no record: executing it fails on the run log.
        orphan = RunJob("no-such-tenant", "orphan", "mid", "2026-11", 1, "task")
        stream = f"apex:{namespace}:runs:jobs"
        last = b""
        for _ in range(THREADS * 2):
            last = client.xadd(stream, orphan.encode())  # type: ignore[arg-type]

        def every_job_taken() -> None:
            group = client.xinfo_groups(stream)[0]
            # handed out, each failed (so none acknowledged), and no loop left behind
            assert (group["last-delivered-id"], group["pending"]) == (last, THREADS * 2), group

        eventually(every_job_taken, timeout=10, what="every job handed to a loop")
        health = built.health()
        assert (health.alive, health.restarts) == (THREADS, 0), health
    finally:
        client.close()


def _check(condition: bool) -> None:
    assert condition
