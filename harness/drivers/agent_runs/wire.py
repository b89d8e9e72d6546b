"""The agent-run protocol as a client speaks it, written from its published description (the
docstring of ``apex/gateway/protocol.py``), not from the platform's code: what a client sends
for each domain verb, and what each message it hears means. Both agent-run drivers speak through
:class:`ProtocolConnection` over their own :class:`Transport`."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any, Protocol

from harness.drivers.agent_runs.contract import (
    FailureReason,
    Heard,
    HeardKind,
    Malformation,
    ProtocolProblem,
    RefusalReason,
    RunState,
)
from harness.money import dollars_to_micros

PATH = "/v1/runs"
#: WebSocket close codes (RFC 6455)
CLOSE_NORMAL = 1000
CLOSE_DROPPED = 1006
CLOSE_MESSAGE_TOO_BIG = 1009

_KINDS = {
    "run.accepted": HeardKind.ACCEPTED,
    "run.refused": HeardKind.REFUSED,
    "run.state": HeardKind.STATE,
    "run.progress": HeardKind.PROGRESS,
    "run.result": HeardKind.RESULT,
    "run.failed": HeardKind.FAILED,
    "error": HeardKind.PROTOCOL_ERROR,
}
_STATES = {
    "queued": RunState.QUEUED, "running": RunState.IN_PROGRESS,
    "succeeded": RunState.FINISHED, "failed": RunState.FAILED,
}
_FAILURES = {
    "model_unavailable": FailureReason.MODEL_UNAVAILABLE,
    "internal_error": FailureReason.INTERNAL_ERROR,
}
_PROBLEMS = {
    "unknown_type": ProtocolProblem.UNKNOWN_KIND,
    "malformed_json": ProtocolProblem.NOT_JSON,
    "invalid_message": ProtocolProblem.INVALID,
    "unknown_run": ProtocolProblem.UNKNOWN_RUN,
}
_MALFORMED = {
    Malformation.UNKNOWN_KIND: '{"type": "run.cancel_everything", "id": "m1"}',
    Malformation.NOT_JSON: "{this is not JSON",
    Malformation.NO_REQUEST_ID: '{"type": "run.start", "id": "m1", "task": "Cut our AI spend."}',
    # about 6 KB: deeper than a JSON parser's default recursion allows
    Malformation.NESTED_DEEPLY: '{"a":' * 1_000 + "1" + "}" * 1_000,
}
#: The protocol's refusal reasons, in the contract's words.
_REFUSALS = {
    "quota_exhausted": RefusalReason.QUOTA_USED,
    "concurrency_limit": RefusalReason.SLOTS_FULL,
    "service_unavailable": RefusalReason.UNAVAILABLE,
}


class Transport(Protocol):
    """Text frames to and decoded messages from the gateway."""

    def send_text(self, text: str) -> None: ...

    def receive(self, timeout: float) -> dict[str, Any]:
        """TimeoutError if nothing arrives in time; ConnectionClosed once closed."""
        ...

    def drop(self) -> None: ...

    def close(self) -> None: ...


class ProtocolConnection:
    """A :class:`~harness.drivers.agent_runs.contract.RunConnection` over a transport."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def ask_for_run(self, request_id: str, task: str) -> None:
        self._send({"type": "run.start", "request_id": request_id, "task": task})

    def resume(self, request_id: str, after_seq: int) -> None:
        self._send({"type": "run.resume", "request_id": request_id, "after": after_seq})

    def ask_state(self, request_id: str) -> None:
        self._send({"type": "run.status", "request_id": request_id})

    def send_malformed(self, malformation: Malformation) -> None:
        self._transport.send_text(_MALFORMED[malformation])

    def send_oversized(self, size_bytes: int) -> None:
        head = '{"type": "run.status", "id": "big", "request_id": "r1", "pad": "'
        tail = '"}'
        self._transport.send_text(head + "x" * max(size_bytes - len(head) - len(tail), 0) + tail)

    def next_heard(self, timeout: float) -> Heard:
        return heard(self._transport.receive(timeout))

    def drop(self) -> None:
        self._transport.drop()

    def close(self) -> None:
        self._transport.close()

    def _send(self, message: dict[str, Any]) -> None:
        self._transport.send_text(json.dumps({**message, "id": uuid.uuid4().hex}))


def heard(message: dict[str, Any]) -> Heard:
    """A gateway message in domain terms."""
    kind = _KINDS.get(str(message.get("type")))
    if kind is None:
        raise AssertionError(f"the gateway sent a message of no known type: {message}")
    state = message.get("state")
    return Heard(
        kind=kind, message_id=str(message.get("id", "")), request_id=message.get("request_id"),
        seq=message.get("seq"), agent=message.get("agent"),
        step_state=state if kind is HeardKind.PROGRESS else None,
        model=message.get("model"), cost_micros=_micros(message.get("cost")),
        margin_percent=message.get("margin_percent"),
        charge_micros=_micros(message.get("charge")), report=message.get("report"),
        failure=(
            _FAILURES.get(str(message.get("reason")), FailureReason.OTHER)
            if kind is HeardKind.FAILED else None
        ),
        run_state=_STATES.get(str(state)) if kind is HeardKind.STATE else None,
        problem=(
            _PROBLEMS.get(str(message.get("code")), ProtocolProblem.OTHER)
            if kind is HeardKind.PROTOCOL_ERROR else None
        ),
        refusal=(
            _REFUSALS.get(str(message.get("reason")), RefusalReason.OTHER)
            if kind is HeardKind.REFUSED else None
        ),
        message=str(message.get("message") or ""), raw=message,
    )


def _micros(dollars: object) -> int | None:
    return None if dollars is None else dollars_to_micros(Decimal(str(dollars)))
