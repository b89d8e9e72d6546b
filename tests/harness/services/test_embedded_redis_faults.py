"""The embedded Redis server as fault scenarios break it: restarted with its data (same port and
directory), restarted empty (optionally with seed keys there from its first moment), paused and
resumed. A server of its own, not the session's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harness.services.embedded import EmbeddedRedis, embedded_redis


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    with embedded_redis(tmp_path / "redis") as running:
        yield running


@pytest.fixture
def client(server: EmbeddedRedis) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(server.url, socket_timeout=0.3)
    yield connection
    connection.close()


def test_a_server_restarted_with_its_data_keeps_it_on_the_same_port(
    server: EmbeddedRedis, client: redis.Redis
) -> None:
    client.set("kept", "yes")
    client.xadd("stream", {"f": "v"})
    client.xgroup_create("stream", "group", id="0")
    port = server.port
    server.restart(keep_data=True)
    assert server.port == port
    assert client.get("kept") == b"yes"
    assert [g["name"] for g in client.xinfo_groups("stream")] == [b"group"]


def test_a_server_restarted_empty_has_only_its_seed_keys(
    server: EmbeddedRedis, client: redis.Redis
) -> None:
    client.set("lost", "yes")
    server.restart(keep_data=False, seed={"held": ("suite", 5_000)})
    assert client.get("lost") is None
    assert client.get("held") == b"suite"
    assert 0 < client.pttl("held") <= 5_000
    server.restart(keep_data=False)
    assert client.dbsize() == 0


def test_a_paused_server_does_not_answer_until_resumed(
    server: EmbeddedRedis, client: redis.Redis
) -> None:
    server.pause()
    try:
        with pytest.raises(redis.TimeoutError):
            client.ping()
    finally:
        server.resume()
    assert client.ping()


def test_a_server_that_is_not_running_is_started_again_by_ensure_running(
    server: EmbeddedRedis, client: redis.Redis
) -> None:
    server.pause()
    server.ensure_running()
    assert client.ping()
