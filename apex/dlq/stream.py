"""What the dead-letter queue does on a queue's Redis stream: hold a failed entry back for its
backoff, note each failed delivery's error, take a dead-lettered entry off the stream, and put
a redriven message back on it exactly once.

Taking an entry off: ``XDEL`` alone leaves the entry in the group's pending-entries list (PEL),
which then grows without bound (redis/redis#13314): Redis 6.2 keeps a deleted entry there for
good (``XPENDING`` lists it, ``XCLAIM`` returns nothing for it), Redis 7 drops it only when a
consumer claims it. So :meth:`StreamOps.remove` acknowledges first (``XACK``: out of the PEL,
on both versions) and then deletes, in one ``MULTI``; the consumer framework acknowledges
entries deleted by anyone else when it meets them pending (``apex.streams.group``).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import redis

from apex import keys
from apex.dlq.records import DeliveryError
from apex.streams import StreamError

_STORE_DOWN = (redis.ConnectionError, redis.TimeoutError)
#: failure notes outlive any sane retry schedule; they are deleted when the message succeeds
#: or is dead-lettered
NOTES_TTL = timedelta(days=7)
#: a redrive's de-duplication marker outlives any redrive that stopped half-way (the next
#: redrive finishes it); if Redis loses it, it lost the stream entry with it, and enqueueing
#: again is right
MARKER_TTL = timedelta(days=30)

#: Note a failed delivery's error, and make the entry claimable again after the backoff: XCLAIM
#: ... IDLE sets the entry's idle time so that it passes the group's claim time ``backoff``
#: from now, and JUSTID counts no delivery. Only while the consumer still holds the entry.
#: KEYS: 1 stream, 2 notes. ARGV: 1 group, 2 consumer, 3 entry, 4 idle ms, 5 delivery,
#: 6 note (JSON), 7 notes ttl ms.
_RETRY_LATER = """
redis.call('HSET', KEYS[2], ARGV[5], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending == 0 or pending[1][2] ~= ARGV[2] then
  return 0
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[4], 'JUSTID')
return 1
"""

#: XADD once per marker: the marker remembers the entry id the first call added.
#: KEYS: 1 stream, 2 marker. ARGV: 1 marker ttl ms, 2.. field, value, ...
_ENQUEUE_ONCE = """
local done = redis.call('GET', KEYS[2])
if done then
  return done
end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
return id
"""


class StreamOps:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._retry_later = client.register_script(_RETRY_LATER)
        self._enqueue_once = client.register_script(_ENQUEUE_ONCE)

    def retry_later(
        self, stream: str, group: str, consumer: str, entry_id: str, *, message_id: str,
        failed: DeliveryError, claim_idle: timedelta, backoff: timedelta,
    ) -> bool:
        """Note ``failed`` and let the entry be claimed again ``backoff`` from now (at most
        ``claim_idle``: an entry cannot be held back longer than its group's claim time).
        False if the consumer no longer holds the entry (another consumer claimed it)."""
        idle_ms = max(_ms(claim_idle) - _ms(backoff), 0)
        note = json.dumps({"error": failed.error, "at": failed.at})
        try:
            held = self._retry_later(
                keys=[stream, keys.dlq_failure_notes(stream, message_id)],
                args=[group, consumer, entry_id, idle_ms, failed.delivery, note,
                      _ms(NOTES_TTL)],
            )
        except _STORE_DOWN as exc:
            raise StreamError(f"stream {stream} unreachable; the entry stays pending") from exc
        except redis.ResponseError as exc:
            if "NOGROUP" in str(exc):
                return False
            raise
        return bool(held)

    def notes(self, stream: str, message_id: str) -> dict[int, DeliveryError]:
        """The errors noted for a message's failed deliveries, by delivery number."""
        try:
            raw: Any = self._redis.hgetall(keys.dlq_failure_notes(stream, message_id))
        except _STORE_DOWN as exc:
            raise StreamError(f"stream {stream} unreachable") from exc
        found: dict[int, DeliveryError] = {}
        for delivery, note in raw.items():
            parsed = json.loads(note)
            found[int(delivery)] = DeliveryError(int(delivery), parsed["error"], parsed["at"])
        return found

    def forget_notes(self, stream: str, message_id: str) -> None:
        try:
            self._redis.delete(keys.dlq_failure_notes(stream, message_id))
        except _STORE_DOWN as exc:
            raise StreamError(f"stream {stream} unreachable") from exc

    def remove(self, stream: str, group: str, entry_id: str, *, delete: bool) -> None:
        """Take an entry off the group's pending list (XACK) and, with ``delete``, off the
        stream (XDEL), atomically."""
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.xack(stream, group, entry_id)
            if delete:
                pipe.xdel(stream, entry_id)
            pipe.execute()
        except _STORE_DOWN as exc:
            raise StreamError(f"stream {stream} unreachable; the entry stays pending") from exc

    def enqueue_once(self, stream: str, marker: str, fields: dict[bytes, bytes]) -> str:
        """Add ``fields`` to ``stream`` unless ``marker`` says it was done; the entry id
        either way."""
        flat: list[bytes] = []
        for name, value in fields.items():
            flat.extend((name, value))
        try:
            added: Any = self._enqueue_once(
                keys=[stream, marker], args=[_ms(MARKER_TTL), *flat]
            )
        except _STORE_DOWN as exc:
            raise StreamError(f"stream {stream} unreachable; nothing was enqueued") from exc
        return added.decode() if isinstance(added, bytes) else str(added)

    def pending(self, stream: str, group: str) -> int:
        """Entries of the group's pending list (0 if there is no such stream or group)."""
        try:
            summary: Any = self._redis.xpending(stream, group)
        except redis.ResponseError:
            return 0
        except _STORE_DOWN as exc:
            raise StreamError(f"stream {stream} unreachable") from exc
        return int(summary["pending"])


def _ms(span: timedelta) -> int:
    return int(span.total_seconds() * 1000)
