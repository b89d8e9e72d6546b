"""The dump an emptied store starts from (embedded and Docker modes alike): written by a
throwaway redis-server, it holds exactly its seed keys with their expiry, replaces the dump it
finds, and is in a format the Docker image's Redis 7.4 loads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from harness.services.children import free_port
from harness.services.redis_server import DUMP_FILE, serve, write_dump

#: the newest RDB format Redis 7.4 (the pinned image) writes; it loads every one up to it
IMAGE_RDB_VERSION = 12

Load = Callable[[Path], redis.Redis]


@pytest.fixture
def load(tmp_path: Path) -> Iterator[Load]:
    """Start a redis-server on a directory, as a restarted store starts on its dump; returns a
    client of it. Every server started is stopped at the end."""
    started = []

    def start(directory: Path) -> redis.Redis:
        port = free_port()
        client = redis.Redis(port=port, socket_timeout=1)
        started.append((serve(directory, port, client, tmp_path / f"{port}.log"), client))
        return client

    yield start
    for process, client in started:
        client.close()
        process.terminate()
        process.wait()


def test_a_seed_dump_holds_exactly_its_keys_with_their_expiry(tmp_path: Path, load: Load) -> None:
    seed = {"held": ("suite", 5_000), "later": ("x", 60_000)}
    dump = write_dump(tmp_path, seed)
    assert dump == tmp_path / DUMP_FILE
    client = load(tmp_path)
    assert sorted(client.keys()) == [b"held", b"later"]
    assert client.get("held") == b"suite"
    assert 0 < client.pttl("held") <= 5_000
    assert 5_000 < client.pttl("later") <= 60_000


def test_a_seed_dump_replaces_the_dump_it_finds(tmp_path: Path, load: Load) -> None:
    write_dump(tmp_path, {"old": ("data", 60_000)})
    write_dump(tmp_path, {})
    assert load(tmp_path).dbsize() == 0


def test_a_seed_dump_is_in_a_format_the_docker_image_loads(tmp_path: Path) -> None:
    header = write_dump(tmp_path, {"held": ("suite", 5_000)}).read_bytes()[:9]
    assert header[:5] == b"REDIS"
    assert 1 <= int(header[5:]) <= IMAGE_RDB_VERSION, header
