"""Trusted back door for tier Given-steps: seeds state straight into the stores, with the key
names the platform documents in ``apex.keys``. When and Then never use it."""

from __future__ import annotations

import redis

from apex import keys
from apex.clock import Clock, billing_period

#: A seeded counter outlives any billing period a scenario can reach.
_TTL_SECONDS = 62 * 24 * 3600


class StoresBackDoor:
    def __init__(self, redis_url: str, clock: Clock) -> None:
        self._redis = redis.Redis.from_url(redis_url)
        self._clock = clock

    def set_requests_used(self, tenant_id: str, used: int) -> None:
        period = billing_period(self._clock.now())
        self._redis.set(keys.quota_used(tenant_id, period), used, ex=_TTL_SECONDS)

    def forget_tenant(self, tenant_id: str) -> None:
        """Delete everything the quota store holds for the tenant (its tier, counters, slots,
        remembered admissions), as an eviction or a lost store would: its records stay."""
        pattern = keys.tenant_tier(tenant_id).rsplit(":", 1)[0] + ":*"
        found = list(self._redis.scan_iter(match=pattern, count=1000))
        assert found, f"the quota store held nothing for {tenant_id}"
        self._redis.delete(*found)

    def close(self) -> None:
        self._redis.close()
