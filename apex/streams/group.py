"""One consumer of a Redis stream's consumer group.

Delivery is at least once: an entry is acknowledged only after its handler finished, and an
entry left pending longer than ``claim_idle`` (its consumer died, or its store call failed) is
claimed by the next consumer that reads. Every delivery carries how many times the entry has
been delivered, this one included, so a consumer can give up on an entry after N deliveries.

``claim_idle`` is a lease on real time: a consumer that works on an entry longer than that keeps
it by calling :meth:`ConsumerGroup.heartbeat` more often than ``claim_idle``; a consumer that
died stops heartbeating, and its entry is claimed once ``claim_idle`` has passed.

The store may lose the group (Redis restarted empty): a read that meets ``NOGROUP`` creates the
group again and reads on, instead of failing forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import redis

from apex.streams.errors import StreamError

log = logging.getLogger(__name__)

T = TypeVar("T")
_STORE_DOWN = (redis.ConnectionError, redis.TimeoutError)

#: Renew a consumer's claim on a pending entry, only if the consumer still holds it: XCLAIM with
#: JUSTID resets the entry's idle time without counting a delivery; checking the owner first,
#: in the same script, means a consumer whose lease ran out never takes back an entry another
#: consumer has claimed since. KEYS: 1 stream. ARGV: 1 group, 2 consumer, 3 entry id.
_HEARTBEAT = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending == 0 or pending[1][2] ~= ARGV[2] then
  return 0
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
"""


@dataclass(frozen=True, slots=True)
class Delivery:
    entry_id: str
    fields: Mapping[bytes, bytes]
    #: deliveries of this entry so far, this one included (1 on first delivery)
    deliveries: int


@dataclass(frozen=True, slots=True)
class GroupHealth:
    #: entries delivered to some consumer and not yet acknowledged
    pending: int
    consumers: int


class ConsumerGroup:
    def __init__(
        self, client: redis.Redis, stream: str, group: str, consumer: str, *,
        claim_idle: timedelta = timedelta(seconds=30),
    ) -> None:
        self._redis = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self._claim_idle_ms = max(int(claim_idle.total_seconds() * 1000), 1)
        self._heartbeat = client.register_script(_HEARTBEAT)

    @property
    def claim_idle(self) -> timedelta:
        """How long an entry's claim lasts without a heartbeat (real time)."""
        return timedelta(milliseconds=self._claim_idle_ms)

    def ensure(self) -> None:
        """Create the group (and the stream) if missing, reading from the stream's start."""
        try:
            self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        except _STORE_DOWN as exc:
            raise StreamError(f"stream {self.stream} unreachable") from exc

    def read(self, count: int, block: timedelta | None = None) -> list[Delivery]:
        """Entries to handle: first those other consumers left pending past ``claim_idle``,
        else new ones, waiting up to ``block`` for them."""
        claimed = self._with_group(lambda: self._claim_stale(count))
        if claimed:
            return claimed
        return self._with_group(lambda: self._read_new(count, block))

    def ack(self, *entry_ids: str) -> None:
        if not entry_ids:
            return
        try:
            self._redis.xack(self.stream, self.group, *entry_ids)
        except _STORE_DOWN as exc:
            raise StreamError(f"stream {self.stream} unreachable; entries stay pending") from exc

    def heartbeat(self, entry_id: str) -> bool:
        """Renew this consumer's claim on ``entry_id`` (its idle time starts again, no delivery
        is counted). False if the consumer no longer holds it: its claim expired and another
        consumer took the entry, or the entry was acknowledged. StreamError if the store does
        not answer (the claim may then expire)."""
        try:
            held = self._heartbeat(keys=[self.stream], args=[self.group, self.consumer, entry_id])
        except _STORE_DOWN as exc:
            raise StreamError(f"stream {self.stream} unreachable; claim not renewed") from exc
        except redis.ResponseError as exc:
            if "NOGROUP" in str(exc):
                return False
            raise
        return bool(held)

    def health(self) -> GroupHealth:
        """The group as the store sees it; StreamError if the store does not answer."""
        try:
            groups: Any = self._redis.xinfo_groups(self.stream)
        except _STORE_DOWN as exc:
            raise StreamError(f"stream {self.stream} unreachable") from exc
        except redis.ResponseError:
            return GroupHealth(pending=0, consumers=0)  # no stream yet: nothing waiting
        for group in groups:
            if _text(group["name"]) == self.group:
                return GroupHealth(int(group["pending"]), int(group["consumers"]))
        return GroupHealth(pending=0, consumers=0)

    # -- internals ----------------------------------------------------------------------------

    def _with_group(self, action: Callable[[], T]) -> T:
        try:
            try:
                return action()
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("group %s of %s was lost; creating it again", self.group, self.stream)
                self.ensure()
                return action()
        except _STORE_DOWN as exc:
            raise StreamError(f"stream {self.stream} unreachable") from exc

    def _read_new(self, count: int, block: timedelta | None) -> list[Delivery]:
        response: Any = self._redis.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=count,
            block=int(block.total_seconds() * 1000) if block else None,
        )
        found: list[Delivery] = []
        for _stream, entries in response or []:
            found.extend(
                Delivery(_text(entry_id), fields, 1)
                for entry_id, fields in entries
                if fields is not None
            )
        return found

    def _claim_stale(self, count: int) -> list[Delivery]:
        """XPENDING (with its delivery counts) then XCLAIM, rather than XAUTOCLAIM: it works
        the same on Redis 6.2 and 7, and tells how often each entry was delivered."""
        stale: Any = self._redis.xpending_range(
            self.stream, self.group, min="-", max="+", count=count, idle=self._claim_idle_ms
        )
        if not stale:
            return []
        counts = {_text(p["message_id"]): int(p["times_delivered"]) for p in stale}
        claimed: Any = self._redis.xclaim(
            self.stream, self.group, self.consumer, self._claim_idle_ms, list(counts)
        )
        found = [
            Delivery(_text(entry_id), fields, counts[_text(entry_id)] + 1)
            for entry_id, fields in claimed
            if entry_id is not None and fields is not None
        ]
        self._drop_deleted(set(counts) - {d.entry_id for d in found})
        return found

    def _drop_deleted(self, missing: set[str]) -> None:
        """A pending entry that is no longer in the stream can never be delivered: Redis 6.2
        keeps it in the pending list (7 drops it on claim). Acknowledge it so the list does not
        grow without bound. One another consumer claimed first is still there: left alone."""
        for entry_id in missing:
            if not self._redis.xrange(self.stream, min=entry_id, max=entry_id):
                log.warning("entry %s of %s was deleted while pending; dropped", entry_id,
                            self.stream)
                self._redis.xack(self.stream, self.group, entry_id)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
