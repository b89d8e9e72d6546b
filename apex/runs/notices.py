"""Wake-ups for whoever follows a run's events: one PostgreSQL ``LISTEN`` per process, fanned
out to the asyncio tasks following each run.

A notice only says "read again"; the log is the truth. Followers also read again after a second
without one, so a notice lost while the listening connection reconnects costs a second, never
an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import defaultdict
from collections.abc import Iterator

import psycopg

from apex.runs.log import EVENTS_CHANNEL

log = logging.getLogger(__name__)

_RECONNECT_PAUSE = 1.0


class RunEventNotices:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._lock = threading.Lock()
        self._watchers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = (
            defaultdict(set)
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="run-notices", daemon=True)

    def start(self) -> RunEventNotices:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @contextlib.contextmanager
    def watching(self, tenant_id: str, run_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever the run's log may have grown (call from a running loop)."""
        key = f"{tenant_id}/{run_id}"
        watcher = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._watchers[key].add(watcher)
        try:
            yield watcher[1]
        finally:
            with self._lock:
                self._watchers[key].discard(watcher)
                if not self._watchers[key]:
                    del self._watchers[key]

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=0.5):
                            self._wake(notice.payload)
            except psycopg.Error as exc:
                log.warning("run event notices interrupted (%s); reconnecting", type(exc).__name__)
                self._stop.wait(_RECONNECT_PAUSE)

    def _wake(self, key: str) -> None:
        with self._lock:
            watchers = list(self._watchers.get(key, ()))
        for loop, event in watchers:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(event.set)
