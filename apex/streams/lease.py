"""A consumer's claim on an entry, kept alive while its handler works: the job lease.

The lease runs on real time, not on the platform's clock: it exists to tell a live consumer from
a dead one, and a process that died stops renewing whatever any clock says. While the handler
works, :class:`ClaimKeeper` renews the claim (:meth:`ConsumerGroup.heartbeat`) every third of
``claim_idle`` from a thread of its own, so a slow handler is never robbed; when the process
dies the renewals stop, and once ``claim_idle`` has passed another consumer's next read claims
the entry.

A claim can still be lost while its consumer lives (the process was paused longer than the
lease, the store was unreachable for that long): :attr:`ClaimKeeper.held` turns false when a
renewal finds another consumer holding the entry, and the handler must then stop producing
effects and leave the entry alone (not acknowledge it: it is someone else's now).
"""

from __future__ import annotations

import logging
import threading

from apex.streams.errors import StreamError
from apex.streams.group import ConsumerGroup

log = logging.getLogger(__name__)


class ClaimKeeper:
    """Renews ``consumer``'s claim on ``entry_id`` until the ``with`` block ends."""

    def __init__(self, consumer: ConsumerGroup, entry_id: str) -> None:
        self._consumer = consumer
        self.entry_id = entry_id
        self._interval = consumer.claim_idle.total_seconds() / 3
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(
            target=self._renew, name=f"claim-{entry_id}", daemon=True
        )

    @property
    def held(self) -> bool:
        """False once a renewal found the entry claimed by another consumer (or gone)."""
        return not self._lost.is_set()

    def confirm(self) -> bool:
        """Renew the claim now, from the caller's thread, and say whether it is still held:
        what a handler asks before each effect. The keeper's thread alone would answer late
        for a process that was paused past the lease: on waking, the handler and the keeper
        run at once, and the handler could act before the keeper learns the claim is gone.
        If the store does not answer, the last renewal's word stands."""
        if self._lost.is_set():
            return False
        try:
            if self._consumer.heartbeat(self.entry_id):
                return True
        except StreamError:
            return self.held
        log.warning("claim on %s of %s was lost to another consumer", self.entry_id,
                    self._consumer.stream)
        self._lost.set()
        return False

    def __enter__(self) -> ClaimKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _renew(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if not self._consumer.heartbeat(self.entry_id):
                    log.warning("claim on %s of %s was lost to another consumer",
                                self.entry_id, self._consumer.stream)
                    self._lost.set()
                    return
            except StreamError:
                log.warning("claim on %s not renewed (store unreachable); retrying",
                            self.entry_id)
