"""A consumer calling the router on the real (embedded) Redis and PostgreSQL: exactly N
deliveries with backoff between them, then the dead-letter queue with reason, count and
errors; a crashed delivery counts; a transient failure never reaches the DLQ; the pending-entries
list does not grow."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from typing import TypeVar

import pytest

from apex.dlq import DeadLetterRouter, Reason, State, Unprocessable
from apex.keys import dlq_failure_notes as failure_notes
from apex.streams import ConsumerGroup
from harness.services import Services
from harness.waiting import eventually
from tests.apex.dlq.dlq_support import (
    Handler,
    Stores,
    a_queue,
    a_tenant,
    consume_once,
    dlq_stores,
    tenant_field,
    text,
)

T = TypeVar("T")


@pytest.fixture
def stores(services: Services) -> Iterator[Stores]:
    with dlq_stores(services, a_queue(max_deliveries=3)) as stores:
        yield stores


def _enqueue(stores: Stores, tenant: str, body: str = "work") -> str:
    return text(stores.redis.xadd(stores.queue.stream, {"tenant": tenant, "body": body}))


def _drain_until_dead(stores: Stores, handler: Handler, tenant: str, consumer: str = "c1") -> None:
    group = stores.consumer(stores.queue, consumer)
    router = stores.router(stores.queue)

    def dead_lettered() -> None:
        consume_once(group, router, handler, tenant_field)
        found = stores.dead_letters.list(stores.queue.name, tenant)
        assert found, f"not dead-lettered yet; deliveries so far: {len(handler.seen)}"

    eventually(dead_lettered, timeout=10, what="the message to reach the dead-letter queue")


def test_a_message_that_always_fails_is_delivered_exactly_three_times_then_dead_lettered(
    stores: Stores,
) -> None:
    tenant = a_tenant()
    entry = _enqueue(stores, tenant)
    handler = Handler(fail=lambda d: RuntimeError(f"step raised on delivery {d.deliveries}"))
    _drain_until_dead(stores, handler, tenant)
    [letter] = stores.dead_letters.list(stores.queue.name, tenant)
    assert [d.deliveries for d in handler.seen] == [1, 2, 3]
    assert (letter.reason, letter.attempts, letter.state) == (Reason.MAX_DELIVERIES, 3, State.DEAD)
    assert letter.first_error == "RuntimeError: step raised on delivery 1"
    assert letter.last_error == "RuntimeError: step raised on delivery 3"
    assert [e["delivery"] for e in letter.errors] == [1, 2, 3]
    assert (letter.message_id, letter.entry_id, letter.entered_at) == (
        entry, entry, stores.clock.now()
    )
    assert letter.fields() == {b"tenant": tenant.encode(), b"body": b"work"}
    # more reads deliver nothing: it is off the stream, not retried forever
    assert consume_once(stores.consumer(stores.queue, "c1"), stores.router(stores.queue), handler,
                        tenant_field) == 0
    assert len(handler.seen) == 3


def test_a_failed_delivery_is_held_back_for_its_backoff_before_the_next(
    stores: Stores,
) -> None:
    queue = a_queue(max_deliveries=3, initial_backoff=timedelta(milliseconds=300),
                    max_backoff=timedelta(seconds=1))
    claim_idle = timedelta(seconds=3)
    with_backoff = stores.router(queue)
    group = stores.consumer(queue, "c1", claim_idle=claim_idle)
    stores.redis.xadd(queue.stream, {"tenant": a_tenant()})
    stores.queues[queue.name] = queue
    [first] = group.read(1)
    failed_at = time.monotonic()
    verdict = with_backoff.failed(group, first, RuntimeError("boom"), None)
    [pending] = stores.redis.xpending_range(queue.stream, queue.group, "-", "+", 1)
    # idle time set so the entry passes the 3 s claim time 300 ms from now, no delivery counted
    assert verdict.backoff == timedelta(milliseconds=300)
    assert 2700 <= int(pending["time_since_delivered"]) < 3000
    assert int(pending["times_delivered"]) == 1
    assert group.read(1) == [], "claimable before its backoff passed"
    [second] = eventually(lambda: _one(group.read(1)), timeout=5, what="the redelivery")
    assert second.deliveries == 2
    assert time.monotonic() - failed_at >= 0.3


def _one(found: list[T]) -> list[T]:
    assert found, "nothing delivered yet"
    return found


def test_a_transient_failure_that_clears_before_the_last_delivery_never_reaches_the_dlq(
    stores: Stores,
) -> None:
    tenant = a_tenant()
    entry = _enqueue(stores, tenant)
    handler = Handler(fail=lambda d: RuntimeError("store blip") if d.deliveries == 1 else None)
    group, router = stores.consumer(stores.queue, "c1"), stores.router(stores.queue)
    eventually(lambda: _handled(handler, group, router), timeout=5, what="the retry")
    assert stores.dead_letters.list(stores.queue.name, tenant) == []
    assert stores.redis.exists(failure_notes(stores.queue.stream, entry)) == 0
    assert stores.dead_letters.stream.pending(stores.queue.stream, stores.queue.group) == 0


def _handled(handler: Handler, group: ConsumerGroup, router: DeadLetterRouter) -> None:
    consume_once(group, router, handler, tenant_field)
    assert [d.deliveries for d in handler.seen] == [1, 2], handler.seen


def test_a_worker_crash_during_a_delivery_counts_as_one_of_the_three(stores: Stores) -> None:
    tenant = a_tenant()
    _enqueue(stores, tenant)
    crashed = stores.consumer(stores.queue, "crashed")
    assert len(crashed.read(1)) == 1  # delivery 1: the worker dies, saying nothing
    survivor = Handler()
    _drain_until_dead(stores, survivor, tenant, consumer="survivor")
    [letter] = stores.dead_letters.list(stores.queue.name, tenant)
    assert [d.deliveries for d in survivor.seen] == [2, 3]
    assert letter.attempts == 3
    assert "no error reported" in letter.first_error
    assert letter.last_error == "RuntimeError: always fails"


def test_a_message_whose_last_delivery_crashed_is_dead_lettered_without_a_fourth_handling(
    stores: Stores,
) -> None:
    tenant = a_tenant()
    _enqueue(stores, tenant)
    group, router = stores.consumer(stores.queue, "c1"), stores.router(stores.queue)
    handler = Handler()
    for expected in (1, 2):
        eventually(partial(_seen, handler, group, router, expected), timeout=5,
                   what=f"delivery {expected}")
    crashed = stores.consumer(stores.queue, "crashed")
    eventually(lambda: _one(crashed.read(1)), timeout=5, what="delivery 3")  # then it dies

    def dead_lettered() -> None:
        consume_once(group, router, handler, tenant_field)  # delivery 4: past the limit
        assert stores.dead_letters.list(stores.queue.name, tenant), "not dead-lettered yet"

    eventually(dead_lettered, timeout=5, what="the dead-lettering")
    [letter] = stores.dead_letters.list(stores.queue.name, tenant)
    assert len(handler.seen) == 2
    assert letter.attempts == 3
    assert "delivery 3: no error reported" in letter.last_error


def _seen(handler: Handler, group: ConsumerGroup, router: DeadLetterRouter, count: int) -> None:
    consume_once(group, router, handler, tenant_field)
    assert len(handler.seen) >= count, handler.seen


def test_an_unprocessable_message_is_kept_unattributed_after_one_delivery(stores: Stores) -> None:
    queue = stores.queue
    entry = stores.redis.xadd(queue.stream, {"body": b"\xff\x00not json"})
    handler = Handler(fail=lambda _d: Unprocessable("the payload does not decode"))
    consume_once(stores.consumer(queue, "c1"), stores.router(queue), handler, lambda _d: None)
    [letter] = [d for d in stores.dead_letters.list(queue.name)
                if d.entry_id == text(entry)]
    assert (letter.tenant_id, letter.reason, letter.attempts) == ("", Reason.UNPROCESSABLE, 1)
    assert letter.fields() == {b"body": b"\xff\x00not json"}


def test_dead_lettering_leaves_nothing_pending_and_nothing_in_the_stream(stores: Stores) -> None:
    tenant = a_tenant()
    for n in range(25):
        _enqueue(stores, tenant, body=str(n))
    group, router = stores.consumer(stores.queue, "c1"), stores.router(stores.queue)
    handler = Handler(fail=lambda _d: Unprocessable("poison"))
    while consume_once(group, router, handler, tenant_field):
        pass
    assert len(stores.dead_letters.list(stores.queue.name, tenant)) == 25
    assert stores.dead_letters.stream.pending(stores.queue.stream, stores.queue.group) == 0
    assert stores.redis.xlen(stores.queue.stream) == 0


def test_xdel_alone_would_leave_the_entry_pending_where_remove_does_not(stores: Stores) -> None:
    group = stores.consumer(stores.queue, "c1")
    first = stores.redis.xadd(stores.queue.stream, {"n": "1"})
    second = stores.redis.xadd(stores.queue.stream, {"n": "2"})
    assert len(group.read(2)) == 2
    stores.redis.xdel(stores.queue.stream, first)
    assert stores.dead_letters.stream.pending(stores.queue.stream, stores.queue.group) == 2, (
        "XDEL took the entry out of the pending list: this Redis behaves unlike 6.2 and 7"
    )
    ops, queue = stores.dead_letters.stream, stores.queue
    ops.remove(queue.stream, queue.group, text(first), delete=True)
    ops.remove(queue.stream, queue.group, text(second), delete=True)
    assert ops.pending(queue.stream, queue.group) == 0
    assert stores.redis.xlen(queue.stream) == 0
