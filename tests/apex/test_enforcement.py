"""The tier enforcer against real Redis: exact quotas, slots as leases, atomic across clients."""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import redis

from apex import keys
from apex.clock import FrozenClock, billing_period, next_period_start
from apex.enforcement import Decision, TierEnforcer
from apex.errors import ServiceUnavailable, UnknownTenant
from harness.services import Services


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(services.redis_url)
    yield connection
    connection.close()


@pytest.fixture
def enforcer(client: redis.Redis, clock: FrozenClock) -> TierEnforcer:
    enforcer = TierEnforcer(client, clock, lease=timedelta(seconds=30))
    enforcer.publish_catalog()
    return enforcer


def tenant(enforcer: TierEnforcer, tier: str) -> str:
    tenant_id = f"t-{secrets.token_hex(4)}"
    enforcer.set_tier(tenant_id, tier)
    return tenant_id


def request_id() -> str:
    return secrets.token_hex(6)


def test_the_free_quota_admits_exactly_100_requests(enforcer: TierEnforcer) -> None:
    tenant_id = tenant(enforcer, "free")
    decisions = []
    for _ in range(101):
        admission = enforcer.admit(tenant_id, request_id())
        decisions.append(admission.decision)
        if admission.admitted:
            enforcer.release(tenant_id, admission.request_id)
    assert decisions.count(Decision.ADMITTED) == 100
    assert decisions[-1] is Decision.QUOTA_EXHAUSTED
    assert enforcer.quota_used(tenant_id) == 100


def test_a_refused_request_consumes_nothing(enforcer: TierEnforcer) -> None:
    tenant_id = tenant(enforcer, "free")
    first, second = (enforcer.admit(tenant_id, request_id()) for _ in range(2))
    assert first.admitted and second.admitted
    refused = enforcer.admit(tenant_id, request_id())
    assert refused.decision is Decision.CONCURRENCY_LIMIT
    assert enforcer.quota_used(tenant_id) == 2
    assert enforcer.running(tenant_id) == 2


def test_a_retried_request_id_is_decided_once(enforcer: TierEnforcer) -> None:
    tenant_id = tenant(enforcer, "early")
    same = request_id()
    assert enforcer.admit(tenant_id, same).decision is Decision.ADMITTED
    assert enforcer.admit(tenant_id, same).decision is Decision.DUPLICATE
    assert enforcer.quota_used(tenant_id) == 1


def test_a_lease_not_renewed_frees_its_slot_when_it_runs_out(
    enforcer: TierEnforcer, clock: FrozenClock
) -> None:
    tenant_id = tenant(enforcer, "free")
    alive, dead = (enforcer.admit(tenant_id, request_id()) for _ in range(2))
    clock.advance(timedelta(seconds=20))
    assert enforcer.renew(tenant_id, alive.request_id)
    clock.advance(timedelta(seconds=9))
    assert enforcer.admit(tenant_id, request_id()).decision is Decision.CONCURRENCY_LIMIT
    clock.advance(timedelta(seconds=1))
    assert enforcer.admit(tenant_id, request_id()).admitted
    assert not enforcer.renew(tenant_id, dead.request_id), "an expired lease cannot be renewed"


def test_an_expired_lease_stays_ended_when_renewed_before_anything_sweeps_it(
    enforcer: TierEnforcer, clock: FrozenClock
) -> None:
    # No admission runs between the expiry and the renewal, so the stale entry is still in the
    # set: the renewal itself must see that the lease has ended.
    tenant_id = tenant(enforcer, "free")
    late = enforcer.admit(tenant_id, request_id())
    clock.advance(timedelta(seconds=30))
    assert enforcer.running(tenant_id) == 0, "a lease ending this millisecond has ended"
    assert not enforcer.renew(tenant_id, late.request_id)
    assert enforcer.running(tenant_id) == 0


def test_a_refund_returns_units_and_slot_exactly_once(enforcer: TierEnforcer) -> None:
    tenant_id = tenant(enforcer, "free")
    admission = enforcer.admit(tenant_id, request_id(), units=3)
    assert enforcer.quota_used(tenant_id) == 3
    assert enforcer.refund(admission)
    assert not enforcer.refund(admission)
    assert (enforcer.quota_used(tenant_id), enforcer.running(tenant_id)) == (0, 0)


def test_the_quota_renews_with_the_billing_period(
    enforcer: TierEnforcer, client: redis.Redis, clock: FrozenClock
) -> None:
    tenant_id = tenant(enforcer, "free")
    for _ in range(100):
        admission = enforcer.admit(tenant_id, request_id())
        enforcer.release(tenant_id, admission.request_id)
    assert enforcer.admit(tenant_id, request_id()).decision is Decision.QUOTA_EXHAUSTED
    clock.move_to(next_period_start(clock.now()))
    assert enforcer.admit(tenant_id, request_id()).admitted


def test_an_unsubscribed_tenant_is_refused_with_an_error(enforcer: TierEnforcer) -> None:
    with pytest.raises(UnknownTenant):
        enforcer.admit("nobody-here", request_id())


def test_many_clients_at_once_never_overshoot(
    services: Services, enforcer: TierEnforcer, client: redis.Redis, clock: FrozenClock
) -> None:
    tenant_id = tenant(enforcer, "mid")
    client.set(keys.quota_used(tenant_id, billing_period(clock.now())), 9_990)
    connections = [redis.Redis.from_url(services.redis_url) for _ in range(4)]
    replicas = [TierEnforcer(connection, clock) for connection in connections]
    barrier = threading.Barrier(200)

    def attempt(i: int) -> Decision:
        barrier.wait(timeout=30)
        admission = replicas[i % 4].admit(tenant_id, request_id())
        if admission.admitted:
            replicas[i % 4].release(tenant_id, admission.request_id)
        return admission.decision

    with ThreadPoolExecutor(200) as pool:
        decisions = list(pool.map(attempt, range(200)))
    for connection in connections:
        connection.close()
    assert decisions.count(Decision.ADMITTED) == 10
    assert enforcer.quota_used(tenant_id) == 10_000


def test_an_unreachable_store_is_a_retryable_error(clock: FrozenClock) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = redis.Redis(port=port, socket_connect_timeout=0.2, socket_timeout=0.2)
    with pytest.raises(ServiceUnavailable) as raised:
        TierEnforcer(dead, clock).admit("acme-1", request_id())
    assert raised.value.retryable
    assert "retry" in str(raised.value)
