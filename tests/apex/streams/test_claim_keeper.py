"""The job lease: a consumer's claim kept alive by heartbeats while it works, against the real
(embedded) Redis. A live consumer is never robbed; a dead one's entry is claimed once its lease
has run out; a consumer whose lease ran out never takes the entry back."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from apex.streams import ClaimKeeper, ConsumerGroup
from harness.services import Services
from harness.waiting import eventually

LEASE = timedelta(milliseconds=300)


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(services.redis_url)
    yield connection
    connection.close()


@pytest.fixture
def stream() -> str:
    return f"test:lease:{secrets.token_hex(4)}"


def _consumer(client: redis.Redis, stream: str, name: str) -> ConsumerGroup:
    group = ConsumerGroup(client, stream, "workers", name, claim_idle=LEASE)
    group.ensure()
    return group


def _owner(client: redis.Redis, stream: str) -> str:
    pending = client.xpending_range(stream, "workers", min="-", max="+", count=10)
    assert len(pending) == 1, pending
    consumer = pending[0]["consumer"]
    return consumer.decode() if isinstance(consumer, bytes) else str(consumer)


def test_a_consumer_that_heartbeats_keeps_its_entry_for_many_times_its_lease(
    client: redis.Redis, stream: str
) -> None:
    working, other = _consumer(client, stream, "working"), _consumer(client, stream, "other")
    client.xadd(stream, {"n": "1"})
    [delivery] = working.read(1)
    with ClaimKeeper(working, delivery.entry_id) as keeper:
        deadline = time.monotonic() + 5 * LEASE.total_seconds()
        while time.monotonic() < deadline:  # the other consumer polls the whole time
            assert other.read(10, timedelta(milliseconds=50)) == []
        assert keeper.held
    assert _owner(client, stream) == "working"


def test_a_dead_consumers_entry_is_claimed_once_its_lease_has_run_out(
    client: redis.Redis, stream: str
) -> None:
    dead, alive = _consumer(client, stream, "dead"), _consumer(client, stream, "alive")
    client.xadd(stream, {"n": "1"})
    [delivery] = dead.read(1)  # then it dies: no heartbeat, no ack
    started = time.monotonic()
    claimed: list[int] = []

    def taken_over() -> None:
        claimed.extend(d.deliveries for d in alive.read(1))
        assert claimed == [2], claimed

    eventually(taken_over, timeout=5, interval=0.02, what="the entry claimed by another")
    assert time.monotonic() - started >= LEASE.total_seconds() * 0.9
    assert _owner(client, stream) == "alive"
    assert not dead.heartbeat(delivery.entry_id), "a lapsed claim was renewed"
    assert _owner(client, stream) == "alive", "the lapsed consumer took the entry back"


def test_a_keeper_whose_claim_was_taken_says_so(client: redis.Redis, stream: str) -> None:
    slow, other = _consumer(client, stream, "slow"), _consumer(client, stream, "other")
    client.xadd(stream, {"n": "1"})
    [delivery] = slow.read(1)
    eventually(lambda: _check(bool(other.read(1))), timeout=5, interval=0.02,
               what="the entry claimed while its consumer was paused")
    with ClaimKeeper(slow, delivery.entry_id) as keeper:
        eventually(lambda: _check(not keeper.held), timeout=5, what="the keeper seeing the loss")
    assert _owner(client, stream) == "other"


def test_confirming_a_claim_asks_the_store_not_the_keepers_last_renewal(
    client: redis.Redis, stream: str
) -> None:
    """A handler woken from a pause confirms before it acts: the answer comes from the store at
    once, whatever the keeper's thread last saw (it renews only every third of the lease)."""
    slow = ConsumerGroup(client, stream, "workers", "slow", claim_idle=timedelta(seconds=30))
    slow.ensure()
    other = _consumer(client, stream, "other")
    client.xadd(stream, {"n": "1"})
    [delivery] = slow.read(1)
    with ClaimKeeper(slow, delivery.entry_id) as keeper:
        assert keeper.confirm(), "its own fresh claim"
        client.xclaim(stream, "workers", "other", 0, [delivery.entry_id])  # taken over
        assert keeper.held, "the keeper's thread has not looked again (every 10 s)"
        assert not keeper.confirm(), "a claim taken by another confirmed as held"
        assert not keeper.held, "the loss the handler found is the keeper's too"
    assert other.heartbeat(delivery.entry_id)


def _check(condition: bool) -> None:
    assert condition
