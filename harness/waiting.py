"""The one way the suite waits: poll a check until it holds or a deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from harness.errors import NotSatisfied

T = TypeVar("T")


def eventually(
    check: Callable[[], T],
    *,
    timeout: float = 5.0,
    interval: float = 0.02,
    what: str = "the expectation",
) -> T:
    """Call ``check`` until it returns without raising AssertionError; return its value.

    On timeout, raise NotSatisfied saying what was awaited, for how long, and the last failure
    seen, so that a red scenario explains itself.
    """
    started = time.monotonic()
    deadline = started + timeout
    attempts = 0
    while True:
        attempts += 1
        try:
            return check()
        except AssertionError as last:
            now = time.monotonic()
            if now >= deadline:
                raise NotSatisfied(
                    f"{what} did not hold within {timeout:.1f}s ({attempts} checks); "
                    f"last seen: {last}"
                ) from last
            # Polling interval of the poller itself, bounded by the deadline.
            time.sleep(min(interval, deadline - now))
