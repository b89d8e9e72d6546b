"""The gateway's run desk on the real stores: one decision per request id, whoever sends it."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio

from apex.clock import FrozenClock
from apex.enforcement import Admission, TierEnforcer
from apex.gateway.protocol import StartRun
from apex.gateway.session import RunDesk
from apex.platform import Platform
from apex.runs import RunEventNotices, RunIntake
from apex.settings import PlatformSettings
from harness.services import Services


class GatedEnforcer(TierEnforcer):
    """The real enforcer, whose first admission waits at a gate the test opens: so that a second
    sender provably arrives while the first one's decision is being made."""

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform.redis, platform.clock, lease=platform.enforcer.lease)
        self.deciding = threading.Event()
        self.gate = threading.Event()

    def admit(self, tenant_id: str, request_id: str, units: int = 1) -> Admission:
        if not self.deciding.is_set():
            self.deciding.set()
            assert self.gate.wait(10), "the test never opened the gate"
        return super().admit(tenant_id, request_id, units)


@pytest.fixture
def platform(services: Services, clock: FrozenClock) -> Iterator[Platform]:
    settings = PlatformSettings(
        redis_url=services.redis_url, postgres_dsn=services.postgres.app_dsn,  # type: ignore[arg-type]
        namespace=f"desk-{secrets.token_hex(3)}",
    )
    built = Platform(settings, clock).start()
    yield built
    built.close()


def _free_tier_tenant_with_slots_full(platform: Platform) -> str:
    tenant_id = f"desk-{secrets.token_hex(4)}"
    platform.tenants.subscribe(tenant_id, "Desk Test", "free")
    for i in range(2):  # the free tier runs 2 at once
        assert platform.enforcer.admit(tenant_id, f"holding-{i}").admitted
    return tenant_id


async def _desk_replies(platform: Platform, services: Services, tenant_id: str) -> list[Any]:
    enforcer = GatedEnforcer(platform)
    client = redis.asyncio.Redis.from_url(services.redis_url)
    notices = RunEventNotices(services.postgres.app_dsn).start()
    desk = RunDesk(
        enforcer, platform.runs, RunIntake(client, platform.settings.namespace), notices
    )
    try:
        first = asyncio.create_task(desk.start(tenant_id, StartRun("m1", "same-id", "task")))
        await asyncio.to_thread(enforcer.deciding.wait, 10)
        second = asyncio.create_task(desk.start(tenant_id, StartRun("m2", "same-id", "task")))
        await asyncio.sleep(0.2)  # the second sender is now waiting on the first's decision
        assert not second.done(), "the second sender was answered before the decision"
        enforcer.gate.set()
        replies = [await first, await second]
        # Slots free again: the refused request id is decided afresh, and admitted.
        for i in range(2):
            platform.enforcer.release(tenant_id, f"holding-{i}")
        replies.append(await desk.start(tenant_id, StartRun("m3", "same-id", "task")))
        return replies
    finally:
        notices.close()
        await client.aclose()


def test_every_sender_of_a_request_id_being_decided_gets_that_decision(
    platform: Platform, services: Services
) -> None:
    tenant_id = _free_tier_tenant_with_slots_full(platform)
    first, second, retry = asyncio.run(_desk_replies(platform, services, tenant_id))
    assert first["type"] == second["type"] == "run.refused", (first, second)
    assert first["reason"] == second["reason"] == "concurrency_limit"
    assert first["message"] == second["message"]
    assert (first["reply_to"], second["reply_to"]) == ("m1", "m2")
    assert retry["type"] == "run.accepted" and retry["duplicate"] is False, retry
    assert platform.enforcer.quota_used(tenant_id) == 3, "2 holding requests and the retry"
