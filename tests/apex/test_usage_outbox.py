"""The usage outbox on the real stores: a charge and its usage event are stored together, the
relay hands the event on until the analytics sink has acknowledged it, and hands it on again
when the store lost it. Its own Redis database, which it empties, so no other test's state is
touched."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import redis
from psycopg_pool import ConnectionPool

from apex import keys
from apex.billing import BillingKind, BillingLedger
from apex.charges import Charge, Charges
from apex.clock import FrozenClock
from apex.errors import LedgerUnavailable
from apex.outbox import UsageRelay
from apex.platform import Platform
from apex.settings import PlatformSettings
from apex.streams import ConsumerGroup
from apex.tenancy.session import tenant_transaction
from harness.services import Services
from harness.waiting import eventually

_DB = 9


def _url(services: Services) -> str:
    return services.redis_url.rsplit("/", 1)[0] + f"/{_DB}"


@pytest.fixture
def platform(services: Services, clock: FrozenClock) -> Iterator[Platform]:
    client = redis.Redis.from_url(_url(services))
    client.flushdb()
    settings = PlatformSettings(
        redis_url=_url(services), postgres_dsn=services.postgres.app_dsn  # type: ignore[arg-type]
    )
    built = Platform(settings, clock).start()
    yield built
    built.close()
    client.flushdb()
    client.close()


def _charge(platform: Platform, amount: int = 84_456) -> Charge:
    tenant_id = f"obx-{secrets.token_hex(4)}"
    platform.tenants.subscribe(tenant_id, "Outbox Test", "mid")
    return Charge(tenant_id, BillingKind.AGENT_RUN, "run-1", "2026-11", "mid", 1, amount)


def _on_stream(platform: Platform, tenant_id: str) -> list[str]:
    entries: Any = platform.redis.xrange(keys.USAGE_STREAM)
    return [
        entry_id.decode() for entry_id, fields in entries if tenant_id.encode() in fields[b"event"]
    ]


def _outbox(platform: Platform, tenant_id: str) -> list[tuple[Any, ...]]:
    with tenant_transaction(platform.pool, tenant_id) as conn:
        return conn.execute(
            "SELECT amount_micros, relayed_in IS NOT NULL, delivered_at IS NOT NULL"
            " FROM usage_outbox WHERE tenant_id = %s", (tenant_id,)
        ).fetchall()


def _relay_all(platform: Platform) -> None:
    while platform.relay.relay_once():
        pass


def _sink_takes_everything(platform: Platform) -> None:
    sink = ConsumerGroup(platform.redis, keys.USAGE_STREAM, keys.USAGE_SINK_GROUP, "test-sink")
    while taken := sink.read(100):
        sink.ack(*(d.entry_id for d in taken))


def test_a_charge_stores_its_usage_event_with_it_and_nothing_on_the_stream_yet(
    platform: Platform,
) -> None:
    charge = _charge(platform)
    platform.charges.record(charge)
    platform.charges.record(charge)  # billed again: still one row, one event
    assert _outbox(platform, charge.tenant_id) == [(84_456, False, False)]
    assert _on_stream(platform, charge.tenant_id) == []


def test_a_charge_the_ledger_cannot_store_leaves_no_usage_event(
    platform: Platform, clock: FrozenClock
) -> None:
    charge = _charge(platform)
    dead = ConnectionPool(
        "host=127.0.0.1 port=9 user=nobody connect_timeout=1", min_size=0, max_size=1,
        open=True, timeout=0.5, name="dead-ledger",
    )
    try:
        with pytest.raises(LedgerUnavailable):
            Charges(BillingLedger(dead), clock).record(charge)
    finally:
        dead.close()
    assert _outbox(platform, charge.tenant_id) == []


def test_an_event_is_relayed_once_and_delivered_only_after_the_sink_acknowledged_it(
    platform: Platform,
) -> None:
    charge = _charge(platform)
    platform.charges.record(charge)
    _relay_all(platform)
    _relay_all(platform)
    assert len(_on_stream(platform, charge.tenant_id)) == 1
    assert _outbox(platform, charge.tenant_id) == [(84_456, True, False)]
    _sink_takes_everything(platform)
    platform.relay.relay_once()
    assert _outbox(platform, charge.tenant_id) == [(84_456, True, True)]


def test_an_event_the_store_lost_before_the_sink_took_it_is_relayed_again(
    platform: Platform,
) -> None:
    charge = _charge(platform)
    platform.charges.record(charge)
    _relay_all(platform)
    platform.redis.flushdb()  # the store loses its data, the event with it
    assert platform.relay.relay_once() == 0, "relayed into a store not yet rebuilt"
    assert platform.recovery.ensure().rebuilt
    _relay_all(platform)
    assert len(_on_stream(platform, charge.tenant_id)) == 1
    _sink_takes_everything(platform)
    platform.relay.relay_once()
    assert _outbox(platform, charge.tenant_id) == [(84_456, True, True)]


def test_a_delivered_event_is_not_relayed_again_after_the_store_lost_its_data(
    platform: Platform,
) -> None:
    charge = _charge(platform)
    platform.charges.record(charge)
    _relay_all(platform)
    _sink_takes_everything(platform)
    platform.relay.relay_once()
    platform.redis.flushdb()
    platform.recovery.ensure()
    _relay_all(platform)
    assert _on_stream(platform, charge.tenant_id) == []


def test_the_platform_role_sees_only_its_tenant_and_cannot_rewrite_the_relay_state(
    platform: Platform,
) -> None:
    mine, theirs = _charge(platform), _charge(platform)
    platform.charges.record(mine)
    platform.charges.record(theirs)
    with tenant_transaction(platform.pool, mine.tenant_id) as conn:
        seen = conn.execute("SELECT DISTINCT tenant_id FROM usage_outbox").fetchall()
    assert seen == [(mine.tenant_id,)]
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege),
        tenant_transaction(platform.pool, mine.tenant_id) as conn,
    ):
        conn.execute("UPDATE usage_outbox SET delivered_at = now()")


def _confirmed(platform: Platform) -> None:
    _relay_all(platform)
    _sink_takes_everything(platform)
    platform.relay.relay_once()


def test_a_confirmed_event_is_kept_for_the_retention_on_the_platform_clock_then_removed(
    platform: Platform, clock: FrozenClock
) -> None:
    first, second = _charge(platform), _charge(platform)
    platform.charges.record(first)
    _confirmed(platform)
    clock.advance(timedelta(seconds=1))
    platform.charges.record(second)
    _confirmed(platform)
    clock.advance(timedelta(days=7))  # the first confirmed 7 days 1 s ago, the second 7 days
    platform.relay.purge_confirmed()
    assert _outbox(platform, first.tenant_id) == []
    assert _outbox(platform, second.tenant_id) == [(84_456, True, True)]
    clock.advance(timedelta(microseconds=1))
    platform.relay.purge_confirmed()
    assert _outbox(platform, second.tenant_id) == []
    # the ledger keeps both charges: only the outbox's copies went
    assert platform.ledger.totals(first.tenant_id).events == 1
    assert platform.ledger.totals(second.tenant_id).events == 1


def test_an_event_the_sink_never_confirmed_is_kept_however_old(
    platform: Platform, clock: FrozenClock
) -> None:
    waiting, never_relayed = _charge(platform), _charge(platform)
    platform.charges.record(waiting)
    _relay_all(platform)  # on the stream, not taken by the sink
    platform.charges.record(never_relayed)
    clock.advance(timedelta(days=3650))
    platform.relay.purge_confirmed()
    assert _outbox(platform, never_relayed.tenant_id) == [(84_456, False, False)]
    assert _outbox(platform, waiting.tenant_id) == [(84_456, True, False)]


def test_the_relay_removes_confirmed_events_past_the_retention_on_its_own(
    platform: Platform, clock: FrozenClock
) -> None:
    charge = _charge(platform)
    platform.charges.record(charge)
    _confirmed(platform)
    clock.advance(timedelta(days=8))

    def removed() -> None:
        platform.relay.relay_once()  # it purges on a pass at most once a second
        assert _outbox(platform, charge.tenant_id) == []

    eventually(removed, timeout=5, interval=0.1, what="the confirmed event removed")


def test_a_purge_takes_every_batch_in_one_call(platform: Platform, clock: FrozenClock) -> None:
    small = UsageRelay(platform.pool, platform.redis, clock, keep_confirmed=timedelta(days=1),
                       batch=2)
    charges = [_charge(platform) for _ in range(5)]
    for charge in charges:
        platform.charges.record(charge)
    while small.relay_once():
        pass
    _sink_takes_everything(platform)
    for _ in range(3):  # five rows confirmed two at a time
        small.relay_once()
    assert all(_outbox(platform, c.tenant_id)[0][2] for c in charges)
    clock.advance(timedelta(days=2))
    assert small.purge_confirmed() >= 5  # other tests' confirmed rows may go with them
    assert [_outbox(platform, c.tenant_id) for c in charges] == [[]] * 5
