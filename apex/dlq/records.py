"""The records of the dead-letter queue: a message as it is dead-lettered, a dead letter as it
is stored, and how a stream entry's fields become JSON and back."""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from apex import validation
from apex.dlq.policy import Reason
from apex.errors import InvalidInput
from apex.keys import DLQ_MESSAGE_ID_FIELD as MESSAGE_ID_FIELD
from apex.keys import UNATTRIBUTED
from apex.streams import Delivery

log = logging.getLogger(__name__)

_BINARY = "base64:"


class State(StrEnum):
    #: in the dead-letter queue, waiting for an operator
    DEAD = "dead"
    #: a redrive is putting it back on its stream (one that stopped half-way is finished by
    #: the next redrive, never repeated)
    REDRIVING = "redriving"
    #: back on its stream; kept for the record until retention ends
    REDRIVEN = "redriven"


@dataclass(frozen=True, slots=True)
class Message:
    """One stream message, named for the dead-letter queue."""

    queue: str
    #: '' when the consumer could not tell whose message it is (it is kept all the same)
    tenant_id: str
    #: the entry id of the message's first enqueue (kept across redrives)
    message_id: str
    #: the stream entry being handled now
    entry_id: str
    fields: Mapping[bytes, bytes] = field(repr=False)

    @classmethod
    def of(cls, queue: str, delivery: Delivery, tenant_id: str | None) -> Message:
        """The message a delivery carries; ``tenant_id`` None if the consumer could not read
        it (the payload did not decode). A tenant id that is not one is read as none: the
        message is kept unattributed rather than refused (refusing would leave it pending for
        good)."""
        tenant = UNATTRIBUTED
        if tenant_id is not None:
            try:
                tenant = validation.tenant_id(tenant_id)
            except InvalidInput:
                log.warning("%s entry %s names no valid tenant; kept unattributed", queue,
                            delivery.entry_id)
        marker = delivery.fields.get(MESSAGE_ID_FIELD.encode())
        return cls(
            queue, tenant, marker.decode() if marker else delivery.entry_id, delivery.entry_id,
            delivery.fields,
        )


@dataclass(frozen=True, slots=True)
class DeliveryError:
    """The error one delivery ended with (None: the consumer stopped without reporting one)."""

    delivery: int
    error: str | None
    at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "delivery": self.delivery,
            "error": self.error if self.error is not None else stopped(self.delivery),
            "at": self.at,
        }


def stopped(delivery: int) -> str:
    return (
        f"delivery {delivery}: no error reported (the consumer stopped during the delivery:"
        " a crash, or its claim ran out)"
    )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    queue: str
    tenant_id: str
    message_id: str
    entry_id: str
    payload: dict[str, Any] = field(repr=False)
    reason: Reason
    attempts: int
    first_error: str
    last_error: str
    errors: list[dict[str, Any]]
    entered_at: datetime
    state: State
    redrives: int
    redriven_at: datetime | None
    redriven_entry: str | None
    #: earlier dead-letterings of the same message, oldest first
    history: list[dict[str, Any]]

    def fields(self) -> dict[bytes, bytes]:
        return decode_fields(self.payload)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "queue": self.queue, "tenant": self.tenant_id or None,
            "message_id": self.message_id, "entry_id": self.entry_id, "state": self.state.value,
            "reason": self.reason.value, "attempts": self.attempts,
            "first_error": self.first_error, "last_error": self.last_error,
            "errors": self.errors, "entered_at": self.entered_at.isoformat(),
            "redrives": self.redrives,
            "redriven_at": self.redriven_at.isoformat() if self.redriven_at else None,
            "redriven_entry": self.redriven_entry, "history": self.history,
            "payload": self.payload,
        }


def encode_fields(fields: Mapping[bytes, bytes]) -> dict[str, Any]:
    """A stream entry's fields as a JSON object: text stays text; a name or value that is not
    text PostgreSQL can store (not UTF-8, or holding NUL) is written ``base64:...``, and so is
    text that itself starts with ``base64:``, so decoding is exact."""
    return {_text(name): _text(value) for name, value in fields.items()}


def decode_fields(payload: Mapping[str, Any]) -> dict[bytes, bytes]:
    return {_bytes(name): _bytes(str(value)) for name, value in payload.items()}


def _text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text or text.startswith(_BINARY):
        return _BINARY + base64.b64encode(raw).decode("ascii")
    return text


def _bytes(text: str) -> bytes:
    if text.startswith(_BINARY):
        return base64.b64decode(text.removeprefix(_BINARY))
    return text.encode("utf-8")
