"""The analytics sink: consumes usage events from the Redis stream into ClickHouse in batches.

At-least-once from the stream (entries are acknowledged only after the insert), exactly-once in
ClickHouse (ReplacingMergeTree on the event id, read with FINAL). Entries left pending by a sink
that died are claimed by the next one after ``claim_idle``.

With a dead-letter router (``apex.dlq``, the usage events' queue), a record ClickHouse refuses
does not hold up the others: a batch that fails is inserted again one record at a time, and each
record refused is retried with backoff, then set aside after its queue's deliveries, where the
reconciliation finds it and an operator redrives it. ClickHouse not answering is an outage, not
a refusal: the batch stays pending and the loop backs off.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from clickhouse_connect.driver.exceptions import OperationalError

from apex import keys
from apex.dlq import DeadLetterRouter, Unprocessable
from apex.dlq.router import describe
from apex.streams import ConsumerGroup, Delivery, LoopHealth, SupervisedLoops
from apex.usage import UsageEvent

_POLL = timedelta(milliseconds=200)
_COLUMNS = [
    "event_id", "tenant_id", "kind", "reference_id", "period", "tier", "units",
    "amount_micros", "occurred_at",
]


class ClickHouseGateway:
    """One ClickHouse client shared by threads. chDB is one engine per process and the HTTP
    client is not safe for concurrent use, so every call is serialised here."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._client = factory()
        self._lock = threading.Lock()

    def insert(self, table: str, rows: list[list[Any]], columns: list[str]) -> None:
        with self._lock:
            self._client.insert(table, rows, column_names=columns)

    def query(self, statement: str, parameters: dict[str, Any] | None = None) -> list[Any]:
        with self._lock:
            return list(self._client.query(statement, parameters=parameters).result_rows)

    def command(self, statement: str) -> None:
        with self._lock:
            self._client.command(statement)


@dataclass(frozen=True, slots=True)
class AnalyticsTotals:
    events: int
    units: int
    amount_micros: int


class AnalyticsSink:
    def __init__(
        self,
        client: redis.Redis,
        clickhouse: ClickHouseGateway,
        *,
        consumer: str = "sink-1",
        batch: int = 500,
        claim_idle: timedelta = timedelta(seconds=30),
        dead_letters: DeadLetterRouter | None = None,
    ) -> None:
        self._clickhouse = clickhouse
        self._batch = batch
        self._dead_letters = dead_letters
        self._group = ConsumerGroup(
            client, keys.USAGE_STREAM, keys.USAGE_SINK_GROUP, consumer, claim_idle=claim_idle
        )
        self._group.ensure()
        self._loops = SupervisedLoops("analytics-sink", 1, self._iteration)
        self._poll = _POLL

    def drain_once(self, block: timedelta | None = None) -> int:
        """Move one batch from the stream into ClickHouse; returns how many events moved."""
        deliveries = self._group.read(self._batch, block)
        if not deliveries:
            return 0
        router = self._dead_letters
        if router is None:
            rows = [self._row(UsageEvent.decode(dict(d.fields))) for d in deliveries]
            self._clickhouse.insert(keys.USAGE_EVENTS_TABLE, rows, _COLUMNS)
            self._group.ack(*(d.entry_id for d in deliveries))
            return len(rows)
        events = [
            (delivery, event) for delivery in deliveries
            if (event := self._readable(router, delivery)) is not None
            and router.admit(self._group, delivery, event.tenant_id)
        ]
        if not events:
            return 0
        try:
            self._insert(events)
            return len(events)
        except OperationalError:
            raise  # ClickHouse did not answer: every record waits, none is to blame
        except Exception:  # some record was refused: find which, one by one
            return sum(self._insert_alone(router, delivery, event) for delivery, event in events)

    def run(self, stop: threading.Event, poll: timedelta = _POLL) -> None:
        """Drain until ``stop`` is set; a failed batch stays pending and is retried."""
        self._poll = poll
        self._loops.run(stop)

    def health(self) -> LoopHealth:
        return self._loops.health()

    def _iteration(self, _loop: str) -> None:
        self.drain_once(block=self._poll)

    def _readable(self, router: DeadLetterRouter, delivery: Delivery) -> UsageEvent | None:
        """The delivery's usage event; None (and set aside at once) if it cannot be read."""
        try:
            return UsageEvent.decode(dict(delivery.fields))
        except Exception as exc:  # no sink will ever read it
            router.failed(self._group, delivery, Unprocessable(describe(exc)), None)
            return None

    def _insert(self, events: list[tuple[Delivery, UsageEvent]]) -> None:
        rows = [self._row(event) for _, event in events]
        self._clickhouse.insert(keys.USAGE_EVENTS_TABLE, rows, _COLUMNS)
        self._group.ack(*(delivery.entry_id for delivery, _ in events))
        for delivery, _ in events:
            self._dead_letters_succeeded(delivery)

    def _insert_alone(
        self, router: DeadLetterRouter, delivery: Delivery, event: UsageEvent
    ) -> int:
        try:
            self._insert([(delivery, event)])
            return 1
        except OperationalError:
            raise
        except Exception as exc:  # this record is refused: retry, or set aside
            router.failed(self._group, delivery, exc, event.tenant_id)
            return 0

    def _dead_letters_succeeded(self, delivery: Delivery) -> None:
        if self._dead_letters is not None:
            self._dead_letters.succeeded(delivery)

    @staticmethod
    def _row(event: UsageEvent) -> list[Any]:
        occurred = datetime.fromtimestamp(event.occurred_at_ms / 1000, tz=UTC)
        return [
            event.event_id, event.tenant_id, event.kind, event.reference_id, event.period,
            event.tier, event.units, event.amount_micros, occurred,
        ]


class AnalyticsQueries:
    def __init__(self, clickhouse: ClickHouseGateway) -> None:
        self._clickhouse = clickhouse

    def totals(self, tenant_id: str, period: str | None = None) -> AnalyticsTotals:
        where = "tenant_id = {tenant:String}"
        params: dict[str, Any] = {"tenant": tenant_id}
        if period is not None:
            where += " AND period = {period:String}"
            params["period"] = period
        rows = self._clickhouse.query(
            f"SELECT count(), sum(units), sum(amount_micros)"
            f" FROM {keys.USAGE_EVENTS_TABLE} FINAL WHERE {where}",
            params,
        )
        events, units, amount = rows[0]
        return AnalyticsTotals(int(events), int(units or 0), int(amount or 0))
