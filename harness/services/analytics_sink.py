"""The analytics sink: moves usage events from the Redis stream into ClickHouse, on a thread of
the suite's process (the only process that can reach an embedded, in-process chDB)."""

from __future__ import annotations

from typing import Protocol

from apex.analytics import AnalyticsQueries
from apex.platform import AnalyticsWorker
from harness.services import Services


class AnalyticsSink(Protocol):
    #: reads what the sink stored
    queries: AnalyticsQueries

    def close(self) -> None: ...


def start_analytics_sink(services: Services) -> AnalyticsSink:
    """The running sink; ``.queries`` reads what it stored; close it when the run ends."""
    return AnalyticsWorker(services.redis_url, services.clickhouse).start()
