"""The consumer-group framework against the real (embedded) Redis."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from apex.streams import ConsumerGroup, SupervisedLoops
from harness.services import Services
from harness.waiting import eventually


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(services.redis_url)
    yield connection
    connection.close()


@pytest.fixture
def stream() -> str:
    return f"test:stream:{secrets.token_hex(4)}"


def _group(client: redis.Redis, stream: str, consumer: str, idle_ms: int = 50) -> ConsumerGroup:
    group = ConsumerGroup(
        client, stream, "workers", consumer, claim_idle=timedelta(milliseconds=idle_ms)
    )
    group.ensure()
    return group


def test_a_new_entry_is_delivered_once_with_a_delivery_count_of_one(
    client: redis.Redis, stream: str
) -> None:
    group = _group(client, stream, "a")
    client.xadd(stream, {"n": "1"})
    first = group.read(10)
    assert [(d.fields, d.deliveries) for d in first] == [({b"n": b"1"}, 1)]
    group.ack(first[0].entry_id)
    assert group.read(10) == []
    assert group.health().pending == 0


def test_an_entry_left_pending_is_claimed_by_another_consumer_and_counted(
    client: redis.Redis, stream: str
) -> None:
    dead = _group(client, stream, "dead")
    alive = _group(client, stream, "alive")
    client.xadd(stream, {"n": "1"})
    assert len(dead.read(10)) == 1  # the consumer dies before acknowledging

    def claimed() -> None:
        found = alive.read(10)
        assert [d.deliveries for d in found] == [2], found

    eventually(claimed, timeout=5, what="the stale entry claimed by the live consumer")
    assert alive.health().pending == 1


def test_a_lost_group_is_created_again_on_the_next_read(client: redis.Redis, stream: str) -> None:
    group = _group(client, stream, "a")
    client.delete(stream)  # the store lost its data: stream and group are gone
    client.xadd(stream, {"n": "after"})
    group.ensure()  # not needed by read; the next read recreates the group itself
    client.xgroup_destroy(stream, "workers")
    assert [d.fields for d in group.read(10)] == [{b"n": b"after"}]


def test_a_pending_entry_deleted_from_the_stream_leaves_the_pending_list(
    client: redis.Redis, stream: str
) -> None:
    dead = _group(client, stream, "dead")
    alive = _group(client, stream, "alive")
    entry = client.xadd(stream, {"n": "1"})
    dead.read(10)
    client.xdel(stream, entry)

    def dropped() -> None:
        assert alive.read(10) == []
        assert alive.health().pending == 0

    eventually(dropped, timeout=5, what="the deleted entry dropped from the pending list")


def test_an_unreachable_store_is_a_stream_error_not_a_crash() -> None:
    from apex.streams import StreamError

    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    group = ConsumerGroup(client, "s", "g", "c")
    with pytest.raises(StreamError):
        group.read(1)


def test_supervised_loops_survive_failing_iterations_and_report_them() -> None:
    failing = threading.Event()
    failing.set()
    served: list[str] = []

    def iteration(loop: str) -> None:
        if failing.is_set():
            raise ConnectionError("store down")
        served.append(loop)

    loops = SupervisedLoops("t", 2, iteration, backoff=timedelta(milliseconds=10))
    stop = threading.Event()
    runner = threading.Thread(target=loops.run, args=(stop,))
    runner.start()
    try:
        eventually(
            lambda: _assert(len(loops.health().failing) == 2), timeout=5, what="both failing"
        )
        assert not loops.health().serving
        assert loops.health().alive == 2
        failing.clear()
        eventually(lambda: _assert(loops.health().serving), timeout=5, what="serving again")
        assert {"t-0", "t-1"} <= set(served)
    finally:
        stop.set()
        runner.join(timeout=5)
    assert not runner.is_alive()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_loop_thread_that_dies_is_started_again() -> None:
    calls: list[int] = []

    def iteration(_loop: str) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise SystemExit("a thread-killing error")  # not an Exception: ends the thread

    loops = SupervisedLoops("t", 1, iteration, backoff=timedelta(milliseconds=10))
    stop = threading.Event()
    runner = threading.Thread(target=loops.run, args=(stop,))
    runner.start()
    try:
        eventually(lambda: _assert(loops.health().restarts == 1), timeout=5, what="a restart")
        eventually(lambda: _assert(len(calls) > 1), timeout=5, what="iterations after restart")
    finally:
        stop.set()
        runner.join(timeout=5)


def _assert(condition: bool) -> None:
    assert condition
