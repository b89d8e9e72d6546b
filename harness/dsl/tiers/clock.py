"""The test clock, moved in business words. Billing periods are calendar months in UTC (the
product's rule), computed here rather than asked of the platform."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from harness.dsl.common.evidence import business_step
from harness.dsl.common.world import World

_SECOND = timedelta(seconds=1)


def next_period_start(instant: datetime) -> datetime:
    """The first instant of the calendar month (UTC) after the one ``instant`` falls in."""
    utc = instant.astimezone(UTC)
    year, month = (utc.year + 1, 1) if utc.month == 12 else (utc.year, utc.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


class ClockDsl:
    def __init__(self, world: World) -> None:
        self._world = world

    def reach(self, moment: str) -> None:
        clock = self._world.clock
        period_end = next_period_start(clock.now())
        moments = {
            "the last second of the billing period": period_end - _SECOND,
            "the first second of the next billing period": period_end,
        }
        if moment not in moments:
            raise AssertionError(f"unknown moment {moment!r}; known: {', '.join(moments)}")
        with business_step(f"the clock reaches {moment}"):
            clock.move_to(moments[moment])
