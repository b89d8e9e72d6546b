"""The agent-run protocol: the one description of every message between a client and the gateway.

Transport
    A WebSocket at ``ws://<gateway>/v1/runs``. The client authenticates in the opening handshake
    with its tenant's API key, ``Authorization: Bearer <key>``; a missing, unknown or revoked key
    is refused there (HTTP 401), before any message. ``GET /healthz`` answers 200 when the
    gateway can serve.

Messages
    JSON objects in text frames, at most ``max_message_bytes`` (64 KiB by default). Every
    message has a ``type`` and an ``id`` (1-128 of ``A-Z a-z 0-9 _ -``); a gateway message that
    answers a client message names it in ``reply_to``. Money is a decimal string in US dollars
    with six places (``"0.200016"``), never a JSON number. A ``request_id`` is chosen by the
    client, is unique per tenant, and names one run forever: sending it again never starts a
    second run, it attaches to the first (to retry a failed run, use a new request id).

Client to gateway
    ``run.start``   {id, request_id, task}        start the run, or attach to it if it exists
    ``run.resume``  {id, request_id, after?}      attach to an existing run (after a reconnect),
                                                  replaying its events with ``seq`` > ``after``
    ``run.status``  {id, request_id}              ask where a run is

Gateway to client
    ``run.accepted`` {id, reply_to, request_id, duplicate}     admitted and queued (or attached)
    ``run.refused``  {id, reply_to, request_id, reason, message, retryable, offer}
                     not admitted (quota, runs at once, store unavailable); nothing was counted
    ``run.state``    {id, reply_to, request_id, state, seq}    answer to ``run.status`` and
                     first answer to ``run.resume``; ``state`` is queued|running|succeeded|failed
    ``run.progress`` {id, request_id, seq, agent, step, steps, state, model[, cost]}
                     an agent ``started`` or ``finished``; steps arrive in pipeline order
    ``run.result``   {id, request_id, seq, report, calls, cost, margin_percent, charge}
                     the run succeeded and was billed ``charge`` once; ``calls`` lists each model
                     call {agent, model, prompt_tokens, cached_prompt_tokens, completion_tokens,
                     cost}
    ``run.failed``   {id, request_id, seq, reason, message, charge: "0.000000"}
                     the run failed; nothing was billed and its request was not counted
    ``error``        {id, reply_to, code, message}
                     a message the gateway could not act on; the connection stays open.
                     ``code``: malformed_json | invalid_message | unknown_type | unknown_run |
                     binary_not_supported | internal_error

Run events (progress, result, failed) carry ``seq``, the run's event number from 1, and an id
derived from it, so an event replayed after a reconnect has the id it had the first time. A
message over the size limit closes the connection with code 1009 (message too big); nothing
else is affected.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from apex.gateway.errors import ProtocolError
from apex.money import micros_to_dollars
from apex.refusals import Refusal
from apex.runs.model import RunEvent, RunEventKind, RunState

__all__ = ["ProtocolError", "RunState"]

PATH = "/v1/runs"
HEALTH_PATH = "/healthz"
#: WebSocket close code for a message over the size limit (RFC 6455, "message too big").
CLOSE_MESSAGE_TOO_BIG = 1009
MAX_TASK_CHARS = 4_000

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


class MessageType(StrEnum):
    START = "run.start"
    RESUME = "run.resume"
    STATUS = "run.status"
    ACCEPTED = "run.accepted"
    REFUSED = "run.refused"
    STATE = "run.state"
    PROGRESS = "run.progress"
    RESULT = "run.result"
    FAILED = "run.failed"
    ERROR = "error"


CLIENT_TYPES = (MessageType.START, MessageType.RESUME, MessageType.STATUS)
TERMINAL_TYPES = frozenset({MessageType.RESULT, MessageType.FAILED})


class ErrorCode(StrEnum):
    MALFORMED_JSON = "malformed_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_RUN = "unknown_run"
    BINARY_NOT_SUPPORTED = "binary_not_supported"
    INTERNAL = "internal_error"


@dataclass(frozen=True, slots=True)
class StartRun:
    id: str
    request_id: str
    task: str


@dataclass(frozen=True, slots=True)
class ResumeRun:
    id: str
    request_id: str
    after: int


@dataclass(frozen=True, slots=True)
class QueryRun:
    id: str
    request_id: str


ClientMessage = StartRun | ResumeRun | QueryRun


def parse(text: str) -> ClientMessage:
    """A client message from a text frame, or ProtocolError saying what is wrong with it."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(
            ErrorCode.MALFORMED_JSON, f"the message is not valid JSON ({exc})"
        ) from None
    except RecursionError:
        # json.loads raises this, not ValueError, for nesting deeper than the interpreter's
        # recursion limit (about a thousand levels fit in a few kilobytes).
        raise ProtocolError(
            ErrorCode.MALFORMED_JSON, "the message is nested too deeply to be a message"
        ) from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "a message must be a JSON object")
    message_id = data.get("id")
    if not isinstance(message_id, str) or not _ID.fullmatch(message_id):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, "every message needs an id: 1-128 letters, digits, _ or -"
        )
    kind = data.get("type")
    if kind not in CLIENT_TYPES:
        known = ", ".join(t.value for t in CLIENT_TYPES)
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE, f"unknown message type {_shown(kind)}; known: {known}",
            message_id,
        )
    request_id = data.get("request_id")
    if not isinstance(request_id, str) or not _ID.fullmatch(request_id):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE,
            f"{kind} needs a request_id: 1-128 letters, digits, _ or -", message_id,
        )
    if kind == MessageType.START:
        task = data.get("task")
        if not isinstance(task, str) or not 0 < len(task.strip()) <= MAX_TASK_CHARS:
            raise ProtocolError(
                ErrorCode.INVALID_MESSAGE,
                f"run.start needs a task: 1-{MAX_TASK_CHARS:,} characters", message_id,
            )
        return StartRun(message_id, request_id, task)
    if kind == MessageType.RESUME:
        after = data.get("after", 0)
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise ProtocolError(
                ErrorCode.INVALID_MESSAGE, "run.resume's after must be a whole number >= 0",
                message_id,
            )
        return ResumeRun(message_id, request_id, after)
    return QueryRun(message_id, request_id)


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def new_id() -> str:
    return uuid.uuid4().hex


def event_id(request_id: str, seq: int) -> str:
    """The id of a run event: the same every time the event is sent, replays included."""
    return f"{request_id}-e{seq}"


def accepted(reply_to: str, request_id: str, *, duplicate: bool) -> dict[str, Any]:
    return {
        "type": MessageType.ACCEPTED, "id": new_id(), "reply_to": reply_to,
        "request_id": request_id, "duplicate": duplicate,
    }


def refused(reply_to: str, request_id: str, refusal: Refusal) -> dict[str, Any]:
    return {
        "type": MessageType.REFUSED, "id": new_id(), "reply_to": reply_to,
        "request_id": request_id, "reason": refusal.reason.value, "message": refusal.message,
        "retryable": refusal.retryable, "offer": refusal.offer,
    }


def state(reply_to: str, request_id: str, run_state: RunState, seq: int) -> dict[str, Any]:
    return {
        "type": MessageType.STATE, "id": new_id(), "reply_to": reply_to,
        "request_id": request_id, "state": run_state, "seq": seq,
    }


def error(code: ErrorCode, message: str, reply_to: str | None = None) -> dict[str, Any]:
    return {
        "type": MessageType.ERROR, "id": new_id(), "reply_to": reply_to, "code": code,
        "message": message,
    }


_EVENT_TYPES = {
    RunEventKind.PROGRESS: MessageType.PROGRESS,
    RunEventKind.RESULT: MessageType.RESULT,
    RunEventKind.FAILED: MessageType.FAILED,
}
_MICROS = "_micros"


def dollars(micros: int) -> str:
    """Money on the wire: a decimal string in US dollars with six places."""
    return str(micros_to_dollars(micros))


def event_message(event: RunEvent) -> dict[str, Any]:
    """A run's logged event as the wire message a client receives: money in ``*_micros``
    fields becomes the dollar string of the field without the suffix, in nested calls too."""
    return run_event(_EVENT_TYPES[event.kind], event.run_id, event.seq, **_wire(event.body))


def _wire(body: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name, value in body.items():
        if name.endswith(_MICROS):
            shown[name.removesuffix(_MICROS)] = dollars(int(value))
        elif isinstance(value, list):
            shown[name] = [_wire(v) if isinstance(v, dict) else v for v in value]
        else:
            shown[name] = value
    return shown


def run_event(kind: MessageType, request_id: str, seq: int, **fields: Any) -> dict[str, Any]:
    """A progress, result or failed event of a run (see the module docstring for fields)."""
    if kind not in (MessageType.PROGRESS, *TERMINAL_TYPES):
        raise ValueError(f"{kind} is not a run event")
    return {
        "type": kind, "id": event_id(request_id, seq), "request_id": request_id, "seq": seq,
        **fields,
    }


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
