"""A stand-in for the run's analytics sink, for tests that build a run composition on the
session's shared services: it reads ClickHouse but moves nothing into it, so usage events stay
on the test's Redis stream and the shared in-process ClickHouse (one chDB engine per process)
is left as other tests expect."""

from __future__ import annotations

from types import SimpleNamespace

from apex.analytics import AnalyticsQueries, ClickHouseGateway
from harness.services import Services
from harness.services.analytics_sink import AnalyticsSink
from harness.services.clock import PublishedClock


def queries_only(running: Services, _clock: PublishedClock) -> AnalyticsSink:
    gateway = ClickHouseGateway(running.clickhouse)
    sink: AnalyticsSink = SimpleNamespace(  # type: ignore[assignment]
        queries=AnalyticsQueries(gateway), gateway=gateway, close=lambda: None,
    )
    return sink
