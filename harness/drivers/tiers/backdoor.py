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

    def close(self) -> None:
        self._redis.close()
