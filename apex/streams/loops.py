"""Consumer loops on threads, supervised: a failed iteration is logged and retried after a
pause, a loop thread that died anyway is started again, and health says whether every loop is
really serving (a loop whose last iterations all failed is not)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

log = logging.getLogger(__name__)

#: consecutive failed iterations after which a loop counts as not serving
_FAILING_AFTER = 2
_WATCH_INTERVAL = 0.2


@dataclass(frozen=True, slots=True)
class LoopHealth:
    loops: int
    alive: int
    #: loops whose last iterations failed, with the last error's type
    failing: dict[str, str]
    restarts: int

    @property
    def serving(self) -> bool:
        return self.alive == self.loops and not self.failing


class _Loop:
    def __init__(self, name: str) -> None:
        self.name = name
        self.thread: threading.Thread | None = None
        self.failures = 0
        self.last_error = ""


class SupervisedLoops:
    """``count`` loops each calling ``iteration(loop_name)`` until stopped. An iteration does
    one unit of work (read a batch, handle it) and raises if it could not."""

    def __init__(
        self, name: str, count: int, iteration: Callable[[str], None], *,
        backoff: timedelta = timedelta(milliseconds=500),
    ) -> None:
        if count < 1:
            raise ValueError(f"at least one loop runs, not {count}")
        self._iteration = iteration
        self._backoff = backoff.total_seconds()
        self._loops = [_Loop(f"{name}-{i}") for i in range(count)]
        self._lock = threading.Lock()
        self._restarts = 0

    def run(self, stop: threading.Event) -> None:
        """Run every loop until ``stop`` is set, then wait for each to finish its iteration."""
        for loop in self._loops:
            self._start(loop, stop)
        while not stop.wait(_WATCH_INTERVAL):
            for loop in self._loops:
                if loop.thread is not None and not loop.thread.is_alive():
                    log.error("loop %s died; starting it again", loop.name)
                    with self._lock:
                        self._restarts += 1
                    self._start(loop, stop)
        for loop in self._loops:
            if loop.thread is not None:
                loop.thread.join()

    def health(self) -> LoopHealth:
        with self._lock:
            alive = sum(1 for loop in self._loops if loop.thread and loop.thread.is_alive())
            failing = {
                loop.name: loop.last_error
                for loop in self._loops
                if loop.failures >= _FAILING_AFTER
            }
            return LoopHealth(len(self._loops), alive, failing, self._restarts)

    def _start(self, loop: _Loop, stop: threading.Event) -> None:
        loop.thread = threading.Thread(
            target=self._forever, args=(loop, stop), name=loop.name, daemon=True
        )
        loop.thread.start()

    def _forever(self, loop: _Loop, stop: threading.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                self._iteration(loop.name)
            except Exception as exc:
                with self._lock:
                    loop.failures += 1
                    loop.last_error = type(exc).__name__
                log.warning("loop %s: iteration failed (%s); retrying", loop.name, exc)
                # Back off only what the failed iteration did not already spend waiting.
                stop.wait(max(self._backoff - (time.monotonic() - started), 0.0))
                continue
            with self._lock:
                loop.failures = 0
                loop.last_error = ""
