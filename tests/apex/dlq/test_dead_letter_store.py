"""The dead-letter store on the real PostgreSQL, as the platform's role: stored once, listed by
queue and tenant, kept apart by row-level security, purged by retention counted from entry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from apex.dlq import DeliveryError, Message, Reason, UnknownEntry, UnknownQueue
from apex.tenancy.session import act_for
from harness.services import Services
from tests.apex.dlq.dlq_support import Stores, a_queue, a_tenant, dlq_stores, text

JOBS, USAGE = a_queue(), a_queue()


@pytest.fixture
def stores(services: Services) -> Iterator[Stores]:
    with dlq_stores(services, JOBS, USAGE) as stores:
        yield stores


def _message(stores: Stores, queue_name: str, tenant: str) -> Message:
    queue = stores.queues[queue_name]
    entry = text(stores.redis.xadd(queue.stream, {"tenant": tenant}))
    return Message(queue_name, tenant, entry, entry, {b"tenant": tenant.encode()})


def _store(stores: Stores, message: Message) -> str:
    return stores.dead_letters.dead_letter(
        message, Reason.MAX_DELIVERIES, attempts=3,
        errors=[DeliveryError(1, "first"), DeliveryError(3, "third")],
    ).id


def test_storing_the_same_entry_twice_keeps_one_dead_letter(stores: Stores) -> None:
    tenant = a_tenant()
    message = _message(stores, JOBS.name, tenant)
    first = stores.dead_letters.dead_letter(
        message, Reason.MAX_DELIVERIES, attempts=3, errors=[DeliveryError(3, "boom")]
    )
    again = stores.dead_letters.dead_letter(
        message, Reason.MAX_DELIVERIES, attempts=3, errors=[DeliveryError(3, "boom")]
    )
    assert (first.new, again.new, again.id) == (True, False, first.id)
    [letter] = stores.dead_letters.list(JOBS.name, tenant)
    assert letter.history == []
    assert [e["error"][:14] for e in letter.errors] == [
        "delivery 1: no", "delivery 2: no", "boom"
    ]


def test_the_list_filters_by_queue_by_tenant_and_by_both(stores: Stores) -> None:
    acme, globex = a_tenant(), a_tenant()
    ids = {
        (q, t): _store(stores, _message(stores, q, t))
        for q in (JOBS.name, USAGE.name) for t in (acme, globex)
    }

    def listed(queue: str | None = None, tenant: str | None = None) -> set[str]:
        mine = set(ids.values())
        return {d.id for d in stores.dead_letters.list(queue, tenant)} & mine

    assert listed() == set(ids.values())
    assert listed(queue=JOBS.name) == {ids[(JOBS.name, acme)], ids[(JOBS.name, globex)]}
    assert listed(tenant=acme) == {ids[(JOBS.name, acme)], ids[(USAGE.name, acme)]}
    assert listed(USAGE.name, globex) == {ids[(USAGE.name, globex)]}
    counts = {c.tenant_id: c.dead for c in stores.dead_letters.tenants(JOBS.name)}
    assert (counts[acme], counts[globex]) == (1, 1)


def test_an_unknown_queue_or_entry_is_refused_by_name(stores: Stores) -> None:
    with pytest.raises(UnknownQueue, match="unknown queue 'nope'"):
        stores.dead_letters.list("nope")
    with pytest.raises(UnknownEntry, match="not a dead-letter id"):
        stores.dead_letters.redrive("42")
    with pytest.raises(UnknownEntry, match="no dead letter has the id"):
        stores.dead_letters.redrive("0b8e4c3e-1f2a-4d5b-9c6d-7e8f9a0b1c2d")


def test_the_platform_role_sees_one_tenants_dead_letters_and_with_no_tenant_none(
    stores: Stores, services: Services,
) -> None:
    acme, globex = a_tenant(), a_tenant()
    _store(stores, _message(stores, JOBS.name, acme))
    _store(stores, _message(stores, JOBS.name, globex))
    with psycopg.connect(services.postgres.app_dsn, autocommit=True) as app:
        seen_by_nobody = {r[0] for r in app.execute("SELECT tenant_id FROM dead_letters")}
        with app.transaction():
            act_for(app, acme)
            seen_by_acme = {r[0] for r in app.execute("SELECT tenant_id FROM dead_letters")}
            changed = app.execute(
                "UPDATE dead_letters SET state = 'redriven' WHERE tenant_id = %s", (globex,)
            ).rowcount
    assert seen_by_nobody <= {""}, "tenants' dead letters visible with no tenant set"
    assert seen_by_acme == {acme}
    assert changed == 0


def test_the_census_tells_the_platform_role_tenants_and_counts_only(services: Services) -> None:
    with psycopg.connect(services.postgres.app_dsn, autocommit=True) as app:
        columns = [
            c.name for c in app.execute(
                "SELECT * FROM apex_dead_letter_tenants(NULL) LIMIT 0"
            ).description or []
        ]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("SET ROLE apex_census")
    assert columns == ["tenant_id", "dead", "redriving", "redriven"]


def test_retention_counts_from_entry_into_the_dlq_not_from_the_enqueue(stores: Stores) -> None:
    tenant, retention = a_tenant(), timedelta(days=14)
    message = _message(stores, JOBS.name, tenant)  # enqueued at the clock's start
    stores.clock.advance(timedelta(days=10))
    _store(stores, message)  # retried for 10 days, then dead-lettered
    stores.clock.advance(timedelta(days=4, seconds=1))  # 14 days after the enqueue
    assert stores.dead_letters.purge_expired(retention, tenant) == 0
    assert len(stores.dead_letters.list(JOBS.name, tenant)) == 1
    stores.clock.advance(timedelta(days=10))  # 14 days after its entry into the DLQ
    assert stores.dead_letters.purge_expired(retention, tenant) == 1
    assert stores.dead_letters.list(JOBS.name, tenant) == []
