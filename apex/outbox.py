"""The usage outbox: nothing billed is missing from analytics, whatever happens to Redis.

A charge writes its usage event to ``usage_outbox`` in the transaction that writes its ledger
row (``apex.charges``): both are stored, or neither. The relay (:class:`UsageRelay`, a loop of
the orchestration workers and of the analytics sink's host) puts outbox rows on the usage
stream, which the analytics sink moves into ClickHouse.

How the relay knows an event reached analytics, even after Redis lost its data: a row is
*delivered* only once the analytics sink has acknowledged its stream entry (the sink
acknowledges after its ClickHouse insert), never when it was appended. Each row records the
store generation it was relayed into (``apex.recovery``: a random id the platform writes once
it has rebuilt an empty store) and its entry id. So:

* a row never relayed, or relayed into a generation that is no longer the store's (the store
  lost its data, and the entry with it), is relayed again;
* a row relayed into the current generation waits; it is delivered once the sink group's last
  delivered entry is at or past it and no entry at or before it is still pending.

A confirmed row is kept a while (the retention, a platform setting, on the platform's clock, like
the billing period: the row is stamped with the platform's instant when confirmed), then
deleted by the relay, so the table does not grow by a row per charge for ever. A row not
confirmed is never deleted, however old.

A row may be relayed twice (a relay that died between the append and recording it; a store
that lost an entry the sink had in fact stored): the event id is derived from the billed fact,
so ClickHouse's ReplacingMergeTree keeps one row. Reading ClickHouse instead would tie the
relay to the one process that can reach an embedded chDB; the sink's acknowledgement is what
every process can see. Relaying is across tenants: the relay calls narrow SECURITY DEFINER
functions (``0009_usage_outbox.sql``), never reads the table as a tenant would.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import psycopg
import redis
from psycopg_pool import ConnectionPool

from apex import keys
from apex.clock import Clock
from apex.usage import UsageEvent, UsagePublisher

log = logging.getLogger(__name__)

_STORE_DOWN = (redis.ConnectionError, redis.TimeoutError)
#: how often (real seconds) a relay deletes the confirmed rows past the retention: a cheap
#: indexed statement, but no reason to run it on every pass of a busy relay
_PURGE_EVERY = 1.0


class UsageOutbox:
    """Writes a usage event with its ledger row (inside the ledger's transaction)."""

    @staticmethod
    def add(conn: psycopg.Connection[Any], event: UsageEvent) -> None:
        conn.execute(
            f"INSERT INTO {keys.USAGE_OUTBOX_TABLE}"
            " (tenant_id, kind, reference_id, event_id, period, tier, units, amount_micros,"
            " occurred_at_ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (tenant_id, kind, reference_id) DO NOTHING",
            (
                event.tenant_id, event.kind, event.reference_id, event.event_id, event.period,
                event.tier, event.units, event.amount_micros, event.occurred_at_ms,
            ),
        )


class UsageRelay:
    """Moves outbox rows to the usage stream until the analytics sink has confirmed them."""

    def __init__(
        self, pool: ConnectionPool[Any], client: redis.Redis, clock: Clock, *,
        keep_confirmed: timedelta, batch: int = 200,
    ) -> None:
        self._pool = pool
        self._redis = client
        self._publisher = UsagePublisher(client)
        self._clock = clock
        self._keep_confirmed = keep_confirmed
        self._batch = batch
        self._purged_at: float | None = None

    def relay_once(self) -> int:
        """Confirm what the sink acknowledged, then relay one batch of due rows; returns how
        many were relayed. Nothing happens while the store is not rebuilt (no generation).
        Now and then it also deletes the rows confirmed longer ago than the retention."""
        generation = self._generation()
        if generation is None:
            return 0
        self._confirm(generation)
        relayed = self._relay(generation)
        started = time.monotonic()
        if self._purged_at is None or started - self._purged_at >= _PURGE_EVERY:
            self.purge_confirmed()
            self._purged_at = started
        return relayed

    def purge_confirmed(self) -> int:
        """Delete the rows the sink confirmed more than the retention ago (on the platform's
        clock), a batch at a time; returns how many went."""
        cutoff = self._clock.now() - self._keep_confirmed
        removed = 0
        with self._pool.connection() as conn:
            while True:
                row = conn.execute(
                    "SELECT apex_usage_outbox_purge(%s, %s)", (cutoff, self._batch)
                ).fetchone()
                gone = int(row[0]) if row is not None else 0
                removed += gone
                if gone < self._batch:
                    break
        if removed:
            log.info("removed %d usage event(s) confirmed before %s", removed, cutoff)
        return removed

    def _generation(self) -> str | None:
        raw: Any = self._redis.get(keys.STORE_GENERATION)
        return None if raw is None else (raw.decode() if isinstance(raw, bytes) else str(raw))

    def _relay(self, generation: str) -> int:
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT event_id, tenant_id, kind, reference_id, period, tier, units,"
                " amount_micros, occurred_at_ms FROM apex_usage_outbox_due(%s, %s)",
                (generation, self._batch),
            ).fetchall()
            if not rows:
                return 0
            events = [
                UsageEvent(str(r[0]), r[1], r[2], r[3], r[4], r[5], int(r[6]), int(r[7]),
                           int(r[8]))
                for r in rows
            ]
            entries = self._publisher.publish_many(events)
            conn.execute(
                "SELECT apex_usage_outbox_relayed(%s, %s::uuid[], %s::text[])",
                (generation, [e.event_id for e in events], entries),
            )
        log.info("relayed %d usage event(s) to the usage stream", len(events))
        return len(events)

    def _confirm(self, generation: str) -> None:
        with self._pool.connection() as conn:
            waiting = conn.execute(
                "SELECT event_id, entry_id FROM apex_usage_outbox_in_flight(%s, %s)",
                (generation, self._batch),
            ).fetchall()
            if not waiting:
                return
            acknowledged = self._acknowledged_up_to()
            if acknowledged is None:
                return
            done = [str(event) for event, entry in waiting if _id(entry) < acknowledged]
            if done:
                conn.execute(
                    "SELECT apex_usage_outbox_delivered(%s::uuid[], %s)",
                    (done, self._clock.now()),
                )

    def _acknowledged_up_to(self) -> tuple[int, int] | None:
        """Every entry of the usage stream before this id has been acknowledged by the sink
        (None if the sink's group is not there)."""
        try:
            groups: Any = self._redis.xinfo_groups(keys.USAGE_STREAM)
        except redis.ResponseError:
            return None
        for group in groups:
            if group["name"] in (keys.USAGE_SINK_GROUP, keys.USAGE_SINK_GROUP.encode()):
                delivered = _id(group["last-delivered-id"])
                after = (delivered[0], delivered[1] + 1)
                if int(group["pending"]) == 0:
                    return after
                summary: Any = self._redis.xpending(keys.USAGE_STREAM, keys.USAGE_SINK_GROUP)
                return min(after, _id(summary["min"]))
        return None


def _id(entry: bytes | str) -> tuple[int, int]:
    text = entry.decode() if isinstance(entry, bytes) else entry
    millis, _, sequence = text.partition("-")
    return int(millis), int(sequence or 0)
