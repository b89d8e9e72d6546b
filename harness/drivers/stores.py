"""Reads of the platform's documented stores that every agent-run driver shares: the billing
ledger (PostgreSQL), the usage analytics (ClickHouse, through the suite's sink) and the tier
enforcer's counters (Redis), each through the platform's own query code."""

from __future__ import annotations

from typing import Any

import redis
from psycopg_pool import ConnectionPool

from apex import keys
from apex.analytics import AnalyticsQueries, AnalyticsTotals
from apex.billing import BillingLedger, LedgerTotals
from apex.clock import Clock
from apex.enforcement import TierEnforcer
from apex.gateway.api_keys import ApiKeys


def _id(stream_id: bytes | str) -> tuple[int, int]:
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    millis, _, sequence = text.partition("-")
    return int(millis), int(sequence or 0)


class PlatformStores:
    def __init__(
        self, redis_url: str, postgres_dsn: str, analytics: AnalyticsQueries, clock: Clock,
        namespace: str,
    ) -> None:
        self._redis = redis.Redis.from_url(redis_url)
        self._jobs = keys.run_jobs(namespace)
        self._pool = ConnectionPool(
            postgres_dsn, min_size=1, max_size=4, open=True, kwargs={"autocommit": True},
            name="suite-stores",
        )
        self._ledger = BillingLedger(self._pool)
        self._analytics = analytics
        self._enforcer = TierEnforcer(self._redis, clock)
        self._keys = ApiKeys(self._pool, clock)

    def issue_api_key(self, tenant_id: str) -> str:
        return self._keys.issue(tenant_id)

    def tenant_for(self, api_key: str) -> str | None:
        return self._keys.tenant_for(api_key)

    def ledger_totals(self, tenant_id: str) -> LedgerTotals:
        return self._ledger.totals(tenant_id)

    def analytics_totals(self, tenant_id: str) -> AnalyticsTotals:
        return self._analytics.totals(tenant_id)

    def analytics_caught_up(self) -> bool:
        return self._group_idle(keys.USAGE_STREAM, keys.USAGE_SINK_GROUP)

    def runs_settled(self) -> bool:
        """True when every queued run has been taken and finished by a worker."""
        return self._group_idle(self._jobs, keys.RUN_WORKERS_GROUP)

    def _group_idle(self, stream: str, group_name: str) -> bool:
        """No entry of ``stream`` is waiting for, or being handled by, ``group_name``: nothing
        pending, and the group has been handed the stream's last entry (Redis 6.2 has no lag)."""
        try:
            last: Any = self._redis.xinfo_stream(stream)["last-generated-id"]
            groups: Any = self._redis.xinfo_groups(stream)
        except redis.ResponseError:
            return False  # no such stream yet
        for group in groups:
            if group["name"] in (group_name, group_name.encode()):
                return int(group["pending"]) == 0 and _id(group["last-delivered-id"]) >= _id(last)
        return False

    def quota_used(self, tenant_id: str) -> int:
        return self._enforcer.quota_used(tenant_id)

    def runs_in_progress(self, tenant_id: str) -> int:
        return self._enforcer.running(tenant_id)

    def close(self) -> None:
        self._pool.close()
        self._redis.close()


class ReadsThroughStores:
    """The store reads of the agent-run driver contract, the same whatever the channel: drivers
    inherit them and add ``connect``."""

    _stores: PlatformStores

    def issue_api_key(self, tenant_id: str) -> str:
        return self._stores.issue_api_key(tenant_id)

    def ledger_totals(self, tenant_id: str) -> LedgerTotals:
        return self._stores.ledger_totals(tenant_id)

    def analytics_totals(self, tenant_id: str) -> AnalyticsTotals:
        return self._stores.analytics_totals(tenant_id)

    def analytics_caught_up(self) -> bool:
        return self._stores.analytics_caught_up()

    def runs_settled(self) -> bool:
        return self._stores.runs_settled()

    def quota_used(self, tenant_id: str) -> int:
        return self._stores.quota_used(tenant_id)

    def runs_in_progress(self, tenant_id: str) -> int:
        return self._stores.runs_in_progress(tenant_id)
