"""What every agent-run driver reads the same way, whatever the channel: the product's published
numbers (price list, margins, pipeline), the billing ledger (PostgreSQL), the usage analytics
(ClickHouse, through the run's sink), the usage outbox (PostgreSQL, as the tenant), the tier
enforcer's counters (Redis) and whether queued work is done, each through the platform's own
query code where it has one. The platform's imports for these reads are all here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis
from psycopg_pool import ConnectionPool

from apex import keys
from apex.analytics import AnalyticsQueries
from apex.billing import BillingLedger
from apex.catalog import MODEL_PRICES
from apex.clock import Clock
from apex.enforcement import TierEnforcer
from apex.gateway.api_keys import ApiKeys
from apex.orchestration.agents import PIPELINE
from apex.orchestration.pricing import MARGIN_PERCENT
from apex.tenancy.session import tenant_transaction
from harness.drivers.agent_runs.contract import ModelPrice, UsageCopies
from harness.drivers.tiers.contract import Totals


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

    def revoke_api_key(self, tenant_id: str, api_key: str) -> None:
        assert self._keys.revoke(tenant_id, api_key), "the key to revoke was not a live one"

    def tenant_for(self, api_key: str) -> str | None:
        return self._keys.tenant_for(api_key)

    def ledger_totals(self, tenant_id: str) -> Totals:
        t = self._ledger.totals(tenant_id)
        return Totals(t.events, t.units, t.amount_micros)

    def analytics_totals(self, tenant_id: str) -> Totals:
        t = self._analytics.totals(tenant_id)
        return Totals(t.events, t.units, t.amount_micros)

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

    def slots_held(self, tenant_id: str) -> int:
        return self._enforcer.running(tenant_id)

    def slot_leases_end(self, tenant_id: str) -> list[datetime]:
        leases: Any = self._redis.zrange(keys.run_leases(tenant_id), 0, -1, withscores=True)
        return [datetime.fromtimestamp(millis / 1000, UTC) for _, millis in leases]

    def usage_copies(self, tenant_id: str) -> UsageCopies:
        with tenant_transaction(self._pool, tenant_id) as conn:
            row = conn.execute(
                f"SELECT count(delivered_at), count(*) - count(delivered_at)"
                f" FROM {keys.USAGE_OUTBOX_TABLE} WHERE tenant_id = %s", (tenant_id,),
            ).fetchone()
        assert row is not None
        return UsageCopies(confirmed=int(row[0]), waiting=int(row[1]))

    def close(self) -> None:
        self._pool.close()
        self._redis.close()


class ReadsThroughStores:
    """The contract's published numbers and store reads, the same whatever the channel: drivers
    inherit them and add ``connect``."""

    _stores: PlatformStores

    def model_prices(self) -> dict[str, ModelPrice]:
        return {
            size.value: ModelPrice(
                p.input_per_million_micros, p.cached_input_per_million_micros,
                p.output_per_million_micros,
            )
            for size, p in MODEL_PRICES.items()
        }

    def margins(self) -> dict[str, int]:
        return dict(MARGIN_PERCENT)

    def pipeline(self) -> list[str]:
        return [agent.name.value for agent in PIPELINE]

    def issue_api_key(self, tenant_id: str) -> str:
        return self._stores.issue_api_key(tenant_id)

    def revoke_api_key(self, tenant_id: str, api_key: str) -> None:
        self._stores.revoke_api_key(tenant_id, api_key)

    def ledger_totals(self, tenant_id: str) -> Totals:
        return self._stores.ledger_totals(tenant_id)

    def analytics_totals(self, tenant_id: str) -> Totals:
        return self._stores.analytics_totals(tenant_id)

    def analytics_caught_up(self) -> bool:
        return self._stores.analytics_caught_up()

    def runs_settled(self) -> bool:
        return self._stores.runs_settled()

    def quota_used(self, tenant_id: str) -> int:
        return self._stores.quota_used(tenant_id)

    def slots_held(self, tenant_id: str) -> int:
        return self._stores.slots_held(tenant_id)

    def slot_leases_end(self, tenant_id: str) -> list[datetime]:
        return self._stores.slot_leases_end(tenant_id)

    def usage_copies(self, tenant_id: str) -> UsageCopies:
        return self._stores.usage_copies(tenant_id)
