"""Redrive on the real stores: exactly once, even called twice, at once, or after a redrive that
stopped half-way; a redriven message that fails again comes back with its history."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis

from apex.dlq import DeadLetters, RedriveOutcome, State
from apex.errors import ServiceUnavailable
from apex.keys import DLQ_MESSAGE_ID_FIELD as MESSAGE_ID_FIELD
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


@pytest.fixture
def stores(services: Services) -> Iterator[Stores]:
    with dlq_stores(services, a_queue(max_deliveries=2)) as stores:
        yield stores


def _dead_letter_one(stores: Stores, tenant: str, handler: Handler | None = None) -> str:
    """Enqueue a message and fail it until it is dead-lettered; its dead letter's id."""
    queue = stores.queue
    handler = handler or Handler()
    group, router = stores.consumer(queue, "c1"), stores.router(queue)

    def dead() -> str:
        consume_once(group, router, handler, tenant_field)
        found = stores.dead_letters.list(queue.name, tenant)
        assert found, "not dead-lettered yet"
        return found[0].id

    return eventually(dead, timeout=10, what="the dead-lettering")


def _entries(stores: Stores) -> list[tuple[str, dict[bytes, bytes]]]:
    found: Any = stores.redis.xrange(stores.queue.stream)
    return [(text(i), dict(f)) for i, f in found]


def test_redriving_an_entry_twice_puts_it_back_once(stores: Stores) -> None:
    tenant = a_tenant()
    stores.redis.xadd(stores.queue.stream, {"tenant": tenant, "job": "x"})
    entry = _dead_letter_one(stores, tenant)
    [first] = stores.dead_letters.redrive(entry)
    [second] = stores.dead_letters.redrive(entry)
    [(stream_entry, fields)] = _entries(stores)
    assert (first.outcome, second.outcome) == (
        RedriveOutcome.REDRIVEN, RedriveOutcome.ALREADY_REDRIVEN
    )
    assert first.stream_entry == second.stream_entry == stream_entry
    letter = stores.dead_letters.get(entry)
    assert fields == {b"tenant": tenant.encode(), b"job": b"x",
                      MESSAGE_ID_FIELD.encode(): letter.message_id.encode()}
    assert (letter.state, letter.redriven_at) == (State.REDRIVEN, stores.clock.now())
    assert stores.dead_letters.list(stores.queue.name, tenant) == []


def test_two_operators_redriving_at_once_put_it_back_once(stores: Stores) -> None:
    tenant = a_tenant()
    stores.redis.xadd(stores.queue.stream, {"tenant": tenant})
    entry = _dead_letter_one(stores, tenant)
    start = threading.Barrier(2)
    outcomes: list[RedriveOutcome] = []

    def redrive() -> None:
        start.wait()
        outcomes.extend(r.outcome for r in stores.dead_letters.redrive(entry))

    threads = [threading.Thread(target=redrive) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(_entries(stores)) == 1
    assert len(outcomes) == 2


def test_a_redrive_that_stopped_before_enqueueing_is_finished_by_the_next(
    stores: Stores,
) -> None:
    tenant = a_tenant()
    stores.redis.xadd(stores.queue.stream, {"tenant": tenant})
    entry = _dead_letter_one(stores, tenant)
    unreachable = redis.Redis(port=1, socket_connect_timeout=0.2)
    broken = DeadLetters(stores.pool, unreachable, stores.clock, stores.queues)
    with pytest.raises(ServiceUnavailable):
        broken.redrive(entry)
    assert stores.dead_letters.get(entry).state is State.REDRIVING
    assert [d.id for d in stores.dead_letters.list(stores.queue.name, tenant)] == [entry]
    [finished] = stores.dead_letters.redrive(entry)
    assert finished.outcome is RedriveOutcome.REDRIVEN
    assert len(_entries(stores)) == 1


class _StopsAfterEnqueueing(DeadLetters):
    def _finish(self, claimed: Any, stream_entry: str) -> None:
        raise RuntimeError("the operator's process died here")


def test_a_redrive_that_stopped_after_enqueueing_is_not_enqueued_again(stores: Stores) -> None:
    tenant = a_tenant()
    stores.redis.xadd(stores.queue.stream, {"tenant": tenant})
    entry = _dead_letter_one(stores, tenant)
    dying = _StopsAfterEnqueueing(stores.pool, stores.redis, stores.clock, stores.queues)
    with pytest.raises(RuntimeError):
        dying.redrive(entry)
    [(enqueued, _fields)] = _entries(stores)
    [finished] = stores.dead_letters.redrive(entry)
    assert (finished.outcome, finished.stream_entry) == (RedriveOutcome.REDRIVEN, enqueued)
    assert len(_entries(stores)) == 1
    assert stores.dead_letters.get(entry).state is State.REDRIVEN


def test_a_redriven_message_that_fails_again_returns_with_its_history(stores: Stores) -> None:
    tenant = a_tenant()
    stores.redis.xadd(stores.queue.stream, {"tenant": tenant})
    handler = Handler(fail=lambda d: RuntimeError(f"delivery {d.deliveries} failed"))
    entry = _dead_letter_one(stores, tenant, handler)
    before = stores.dead_letters.get(entry)
    stores.dead_letters.redrive(entry)
    stores.clock.advance(timedelta(hours=1))
    again = _dead_letter_one(stores, tenant, handler)
    after = stores.dead_letters.get(entry)
    assert again == entry
    assert [d.deliveries for d in handler.seen] == [1, 2, 1, 2]
    assert (after.state, after.attempts, after.redrives) == (State.DEAD, 2, 1)
    assert after.entered_at == before.entered_at + timedelta(hours=1)
    assert after.entry_id != before.entry_id
    [earlier] = after.history
    assert (earlier["entry_id"], earlier["attempts"], earlier["last_error"]) == (
        before.entry_id, 2, "RuntimeError: delivery 2 failed"
    )
    assert earlier["redriven_entry"] == after.entry_id
    [second] = stores.dead_letters.redrive(entry)
    assert second.outcome is RedriveOutcome.REDRIVEN


def test_redrive_all_puts_back_every_waiting_entry_of_the_queue_and_reports_progress(
    stores: Stores,
) -> None:
    tenants = [a_tenant(), a_tenant()]
    for tenant in tenants:
        stores.redis.xadd(stores.queue.stream, {"tenant": tenant})
    ids = {_dead_letter_one(stores, t) for t in tenants}
    progress: list[tuple[int, int]] = []
    done = stores.dead_letters.redrive_all(
        stores.queue.name, progress=lambda n, total: progress.append((n, total))
    )
    assert {r.id for r in done} == ids
    assert progress == [(1, 2), (2, 2)]
    assert len(_entries(stores)) == 2
