"""The test clock, moved in business words."""

from __future__ import annotations

from datetime import timedelta

from apex.clock import next_period_start
from harness.dsl.evidence import business_step
from harness.dsl.world import World

_SECOND = timedelta(seconds=1)


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
