"""The platform's Redis clients after the store restarted: every pooled connection is then
closed by the server, and the next command on each goes through on a fresh one (a gateway once
refused a run it queued on such a connection). A server of its own, not the session's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from apex import redis_clients
from harness.services.embedded import EmbeddedRedis, embedded_redis

#: connections opened before the restart, each used once after it
POOLED = 4


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    with embedded_redis(tmp_path / "redis") as running:
        yield running


def test_every_pooled_asyncio_connection_goes_on_after_a_restart(server: EmbeddedRedis) -> None:
    async def scenario() -> list[object]:
        client = redis_clients.connect_async(server.url, timeout=1, connect_timeout=1)
        try:
            await asyncio.gather(*(client.set(f"k{n}", n) for n in range(POOLED)))
            server.restart(keep_data=True)
            await asyncio.gather(*(client.xadd("jobs", {"n": n}) for n in range(POOLED)))
            return [await client.xlen("jobs"), await client.get("k0")]
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == [POOLED, b"0"]


def test_a_plain_asyncio_client_fails_there_which_is_why_the_platform_does_not_use_one(
    server: EmbeddedRedis,
) -> None:
    """The defect the factory guards against, shown on redis-py itself: if this starts
    passing, redis-py retries pooled connections by default and the factory can go."""

    async def scenario() -> None:
        client = redis.asyncio.Redis.from_url(server.url, socket_timeout=1)
        try:
            await asyncio.gather(*(client.set(f"k{n}", n) for n in range(POOLED)))
            server.restart(keep_data=True)
            await asyncio.gather(*(client.xadd("jobs", {"n": n}) for n in range(POOLED)))
        finally:
            await client.aclose()

    with pytest.raises(redis.ConnectionError):
        asyncio.run(scenario())


def test_the_blocking_client_goes_on_after_a_restart(server: EmbeddedRedis) -> None:
    client = redis_clients.connect(server.url, timeout=1, connect_timeout=1)
    try:
        client.set("kept", "yes")
        server.restart(keep_data=True)
        assert client.get("kept") == b"yes"
    finally:
        client.close()


def test_a_store_that_does_not_answer_still_fails_within_the_timeout(
    server: EmbeddedRedis,
) -> None:
    """Only dropped connections are tried again: a paused store is a timeout, at once."""
    client = redis_clients.connect(server.url, timeout=0.3, connect_timeout=0.3)
    client.ping()
    server.pause()
    try:
        with pytest.raises(redis.TimeoutError):
            client.ping()
    finally:
        server.resume()
        client.close()
