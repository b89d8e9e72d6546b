"""A claim whose store lost its data (Redis restarted empty): the stream, the group and the
entry are gone, so the claim is lost, and the consumer that held it must stop producing effects
(the run is queued again by the rebuild, ``apex.recovery``). Against the real (embedded) Redis,
on keys of its own."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from apex.streams import ClaimKeeper, ConsumerGroup
from harness.services import Services
from harness.waiting import eventually


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(services.redis_url)
    yield connection
    connection.close()


def test_a_claim_on_an_entry_the_store_lost_is_lost(client: redis.Redis) -> None:
    stream = f"test:lost:{secrets.token_hex(4)}"
    consumer = ConsumerGroup(
        client, stream, "workers", "w-1", claim_idle=timedelta(milliseconds=300)
    )
    consumer.ensure()
    client.xadd(stream, {"job": "1"})
    [delivery] = consumer.read(1)
    with ClaimKeeper(consumer, delivery.entry_id) as lease:
        assert lease.held
        client.delete(stream)  # the stream, its group and its pending entries go with it

        def lost() -> None:
            assert not lease.held, "the claim is still held"

        eventually(lost, timeout=2, what="the claim found lost")
    assert consumer.read(1) == [], "a lost group is created again, empty"
