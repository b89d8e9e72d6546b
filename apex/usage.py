"""Usage events: put on a Redis stream by the outbox's relay (``apex.outbox``), never written
to ClickHouse by the platform, so a slow analytics store never slows a paying request."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import redis

from apex import keys

_STREAM_MAX_LEN = 1_000_000


#: Namespace of usage event ids: one billable fact always gets the same event id, so a
#: re-published event collapses into one row in ClickHouse.
_EVENT_NAMESPACE = uuid.UUID("5f0c1c8e-3a52-4c55-9a4f-6f1f0d2b7a11")


def event_id(tenant_id: str, kind: str, reference_id: str) -> str:
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{tenant_id}/{kind}/{reference_id}"))


@dataclass(frozen=True, slots=True)
class UsageEvent:
    event_id: str
    tenant_id: str
    kind: str
    reference_id: str
    period: str
    tier: str
    units: int
    amount_micros: int
    occurred_at_ms: int

    def encode(self) -> dict[Any, Any]:
        return {"event": json.dumps(asdict(self), separators=(",", ":"))}

    @classmethod
    def decode(cls, fields: dict[bytes, bytes]) -> UsageEvent:
        return cls(**json.loads(fields[b"event"]))


class UsagePublisher:
    """Appends usage events to the usage stream. It does not retry: its one caller, the
    outbox's relay, is the retry (a pass that fails leaves its rows due for the next one)."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def publish_many(self, events: list[UsageEvent]) -> list[str]:
        """Append ``events`` in one round trip; their stream entry ids, in order."""
        pipe = self._redis.pipeline(transaction=False)
        for event in events:
            pipe.xadd(keys.USAGE_STREAM, event.encode(), maxlen=_STREAM_MAX_LEN, approximate=True)
        return [e.decode() if isinstance(e, bytes) else str(e) for e in pipe.execute()]
