"""The suite's test clock, and its publishing for platform processes (a run-level service).

At L4 the platform runs in other processes, which read time from Redis (``apex.clock.RedisClock``).
This clock writes its instant there when publishing starts and on every move, before the move
returns, so the next request any process handles sees the new time.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import redis

from apex import keys
from apex.clock import FrozenClock, RedisClock


class PublishedClock(FrozenClock):
    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self._target: tuple[redis.Redis, str] | None = None
        self._publish_lock = threading.Lock()

    def publish_to(self, redis_url: str, key: str) -> None:
        """Start publishing at ``key``; the current instant is written at once."""
        with self._publish_lock:
            self._target = (redis.Redis.from_url(redis_url), key)
            RedisClock.publish(self._target[0], key, self.now())

    def publish_for(self, redis_url: str, namespace: str) -> None:
        """Publish where the platform processes of ``namespace`` read their clock."""
        self.publish_to(redis_url, keys.test_clock(namespace))

    def republish(self) -> None:
        """Write the current instant again (the store lost it)."""
        with self._publish_lock:
            if self._target is not None:
                RedisClock.publish(self._target[0], self._target[1], self.now())

    def stop_publishing(self) -> None:
        with self._publish_lock:
            if self._target is not None:
                self._target[0].close()
                self._target = None

    def advance(self, delta: timedelta) -> datetime:
        with self._publish_lock:
            now = super().advance(delta)
            if self._target is not None:
                RedisClock.publish(self._target[0], self._target[1], now)
            return now
