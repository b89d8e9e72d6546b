"""The analytics sink: moves usage events from the Redis stream into ClickHouse, on a thread of
the suite's process (the only process that can reach an embedded, in-process chDB), and relays
the usage outbox to that stream (for the platform run in-process; the L4 workers relay too). A
record ClickHouse refuses is retried and set aside as the platform's processes do with jobs
(the same dead-letter settings, on the run's clock).

It can be held (:meth:`AnalyticsSink.hold`), as a stalled analytics pipeline would be: usage
events then wait on the stream until it resumes."""

from __future__ import annotations

from typing import Protocol

from apex.analytics import AnalyticsQueries, ClickHouseGateway
from apex.clock import Clock
from apex.platform import AnalyticsWorker
from harness.services import Services
from harness.services.platform_processes import DEAD_LETTERS


class AnalyticsSink(Protocol):
    #: reads what the sink stored
    queries: AnalyticsQueries
    #: the analytics store itself (the operator's reconciliation reads it)
    gateway: ClickHouseGateway

    def hold(self) -> None:
        """Stop taking events (they wait on the stream) until :meth:`resume`."""
        ...

    def resume(self) -> None: ...

    def close(self) -> None: ...


def start_analytics_sink(services: Services, clock: Clock) -> AnalyticsSink:
    """The running sink; ``.queries`` reads what it stored; close it when the run ends."""
    return AnalyticsWorker(
        services.redis_url, services.clickhouse, services.postgres.app_dsn,
        dead_letters=DEAD_LETTERS, clock=clock,
    ).start()
