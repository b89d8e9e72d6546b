"""The test clock contract: the time the platform reads, moved by scenarios."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol


class TestClock(Protocol):
    def now(self) -> datetime: ...

    def advance(self, delta: timedelta) -> datetime: ...

    def move_to(self, instant: datetime) -> datetime: ...
