"""Store faults on the Redis the suite started for the run (embedded or docker services,
through their ``RedisControl``): restarted with its data (``SHUTDOWN SAVE``, same address),
restarted empty, or paused for a few seconds (SIGSTOP, or ``docker pause``) and resumed; and
the usage analytics held, as a stalled pipeline would be.

Whether the store holds what the platform needs is read here from the store itself, with the
key names the platform documents (``apex.keys``): the tier catalog, the consumer groups of the
job and usage streams, the published clock. A platform process that answers ready while any of
them is missing answered too early. An emptied store comes back with the platform's rebuild
lock (``keys.STORE_REBUILDING``) held by the suite, as by a slow rebuilding process, until every
platform process has answered a few health checks, so that such an answer always shows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis

from apex import keys
from apex.catalog import TIERS
from harness.drivers.agent_recovery.contract import Readiness
from harness.errors import NotSatisfied
from harness.services import RedisControl
from harness.waiting import eventually

#: How long the platform may take to be ready again after a store fault.
READY_TIMEOUT = 30.0
_POLL = 0.01
#: the rebuild of a store it emptied is held by the suite until every process has answered
#: this many health checks (and at most this long, in milliseconds)
_PROBES_WHILE_HELD = 5
_HELD_REBUILD_MS = 10_000
_HOLDER = "suite"


class ProcessHealth(Protocol):
    """What the run's platform processes tell about themselves."""

    def identities(self) -> dict[str, int]: ...

    def answering_ready(self) -> dict[str, bool]: ...


class HeldAnalytics(Protocol):
    def hold(self) -> None: ...

    def resume(self) -> None: ...


class ProcessStoreFaults:
    def __init__(
        self, control: RedisControl, processes: ProcessHealth, analytics: HeldAnalytics,
        republish_clock: Callable[[], None], redis_url: str, namespace: str,
    ) -> None:
        self._control = control
        self._processes = processes
        self._analytics = analytics
        self._republish_clock = republish_clock
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=1)
        self._namespace = namespace
        self._thaw: threading.Timer | None = None

    def restart_store(self, *, keep_data: bool) -> Readiness:
        # Emptied, the store comes back with the platform's rebuild held by the suite, as by a
        # slow rebuilding process, until every platform process has answered a few health
        # checks: one that answers ready without waiting for the rebuild is seen doing so.
        held = {keys.STORE_REBUILDING: (_HOLDER, _HELD_REBUILD_MS)}
        self._control.restart(keep_data=keep_data, seed=None if keep_data else held)
        started = time.monotonic()
        premature: list[str] = []
        probes: dict[str, int] = {}

        def every_process_ready() -> None:
            answers = self._processes.answering_ready()
            missing = self._missing() if any(answers.values()) else []
            premature.extend(
                f"{name}: {', '.join(missing)} missing" for name, ok in answers.items()
                if ok and missing
            )
            for name in answers:
                probes[name] = probes.get(name, 0) + 1
            if not keep_data and min(probes.values()) >= _PROBES_WHILE_HELD:
                self._release_rebuild()
            not_ready = sorted(name for name, ok in answers.items() if not ok)
            assert not not_ready and not missing, (
                f"not ready: {not_ready}; the store lacks: {missing}"
            )

        try:
            eventually(
                every_process_ready, timeout=READY_TIMEOUT, interval=_POLL,
                what="every platform process ready after the store came back",
            )
        finally:
            self._release_rebuild()
        return Readiness(tuple(premature), time.monotonic() - started)

    def _release_rebuild(self) -> None:
        """Let the platform rebuild the store (if the suite still holds the rebuild)."""
        self._redis.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end",
            1, keys.STORE_REBUILDING, _HOLDER,
        )

    def freeze_store(self, seconds: float) -> None:
        self._control.pause()
        self._thaw = threading.Timer(seconds, self._control.resume)
        self._thaw.daemon = True
        self._thaw.start()

    def store_frozen(self) -> bool:
        return self._thaw is not None and self._thaw.is_alive()

    def hold_analytics(self) -> None:
        self._analytics.hold()

    def resume_analytics(self) -> None:
        self._analytics.resume()

    def usage_records_in_transit(self) -> int:
        try:
            groups: Any = self._redis.xinfo_groups(keys.USAGE_STREAM)
        except redis.ResponseError:
            return 0
        for group in groups:
            if group["name"] in (keys.USAGE_SINK_GROUP, keys.USAGE_SINK_GROUP.encode()):
                last = group["last-delivered-id"]
                last = last.decode() if isinstance(last, bytes) else str(last)
                waiting: Any = self._redis.xrange(keys.USAGE_STREAM, min=f"({last}", max="+")
                return int(group["pending"]) + len(waiting)
        return 0

    def processes(self) -> dict[str, int]:
        return self._processes.identities()

    def all_ready(self) -> None:
        answers = self._processes.answering_ready()
        not_ready = sorted(name for name, ok in answers.items() if not ok)
        assert not not_ready, f"not ready: {not_ready}"

    def restore(self) -> None:
        if self._thaw is not None:
            self._thaw.cancel()
            self._thaw = None
        self._control.ensure_running()
        self._republish_clock()
        self._analytics.resume()
        try:
            eventually(self._rebuilt_and_ready, timeout=READY_TIMEOUT, what="the platform ready")
        except NotSatisfied as exc:
            raise AssertionError(
                f"a store fault's cleanup left the platform broken: {exc}"
            ) from None

    def close(self) -> None:
        self._redis.close()

    def _rebuilt_and_ready(self) -> None:
        missing = self._missing()
        assert not missing, f"the store lacks {missing}"
        self.all_ready()

    def _missing(self) -> list[str]:
        """What the platform needs that the store does not hold (empty: it holds it all)."""
        missing = []
        limits: Any = self._redis.hkeys(keys.TIER_LIMITS)
        if not {t.encode() for t in TIERS} <= set(limits):
            missing.append("the tier catalog")
        if not self._redis.exists(keys.test_clock(self._namespace)):
            missing.append("the published clock")
        streams = [
            (keys.run_jobs(self._namespace), keys.RUN_WORKERS_GROUP),
            (keys.USAGE_STREAM, keys.USAGE_SINK_GROUP),
        ]
        for stream, group in streams:
            if not self._has_group(stream, group):
                missing.append(f"the {group} group")
        return missing

    def _has_group(self, stream: str, group: str) -> bool:
        try:
            groups: Any = self._redis.xinfo_groups(stream)
        except redis.ResponseError:
            return False
        return any(g["name"] in (group, group.encode()) for g in groups)
