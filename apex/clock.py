"""Time as the platform sees it.

The platform never calls ``datetime.now()`` directly: it reads a :class:`Clock`. Production uses
:class:`SystemClock`; the suite hands in a :class:`FrozenClock` that it moves forward (billing
periods, day boundaries, lease expiry) instantly, like a payment provider's test clock.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

from apex.errors import ClockNotPublished


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to, and only forward."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start instant")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError(f"a test clock moves forward only, not by {delta}")
        with self._lock:
            self._now += delta
            return self._now

    def move_to(self, instant: datetime) -> datetime:
        return self.advance(instant.astimezone(UTC) - self.now())


def billing_period(instant: datetime) -> str:
    """The billing period an instant falls in: calendar months in UTC, e.g. ``2026-11``."""
    utc = instant.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}"


def next_period_start(instant: datetime) -> datetime:
    """The first instant of the billing period after the one ``instant`` falls in."""
    utc = instant.astimezone(UTC)
    year, month = (utc.year + 1, 1) if utc.month == 12 else (utc.year, utc.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def epoch_millis(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


class InstantStore(Protocol):
    """The part of a Redis client a :class:`RedisClock` needs."""

    def get(self, name: str) -> bytes | str | None: ...

    def set(self, name: str, value: str, *, nx: bool = False) -> object: ...


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RedisClock:
    """The instant another process published in Redis: how platform processes read the suite's
    test clock at L4. Read on every call (one GET); a clock nobody published is an error, never
    a silent fallback to system time."""

    def __init__(self, store: InstantStore, key: str) -> None:
        self._store = store
        self._key = key
        self._last: int | None = None

    def now(self) -> datetime:
        raw = self._store.get(self._key)
        if raw is None:
            raise ClockNotPublished(
                f"no instant is published at {self._key!r}; is the test clock set?"
            )
        self._last = int(raw)
        return _EPOCH + timedelta(microseconds=self._last)

    def restore(self) -> bool:
        """After the store lost its data: publish again the last instant this clock read,
        unless an instant was published since (the test clock only moves forward, and its
        owner's next move publishes again). False if this clock never read one."""
        if self._last is None:
            return False
        self._store.set(self._key, str(self._last), nx=True)
        return True

    @staticmethod
    def publish(store: InstantStore, key: str, instant: datetime) -> None:
        """Make ``instant`` what every RedisClock on ``key`` reads, to the microsecond."""
        if instant.tzinfo is None:
            raise ValueError("a published instant must be timezone-aware")
        delta = instant.astimezone(UTC) - _EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        store.set(key, str(micros))
