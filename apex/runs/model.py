"""The records of an agent run: its job, its states, its events and why it may fail."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class RunState(StrEnum):
    #: the request id is claimed and its admission is being decided
    DECIDING = "deciding"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: not admitted; the request id is free to be decided afresh
    REFUSED = "refused"



class RunEventKind(StrEnum):
    PROGRESS = "progress"
    RESULT = "result"
    FAILED = "failed"


TERMINAL_KINDS = frozenset({RunEventKind.RESULT, RunEventKind.FAILED})


class StepState(StrEnum):
    """Where an agent's step is, in a progress event."""

    STARTED = "started"
    FINISHED = "finished"


class FailureReason(StrEnum):
    """What stopped a run; each says what failed."""

    MODEL_UNAVAILABLE = "model_unavailable"
    BILLING_UNAVAILABLE = "billing_unavailable"
    STORE_UNAVAILABLE = "store_unavailable"
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class RunJob:
    """An admitted run, as a worker receives it."""

    tenant_id: str
    run_id: str
    tier: str
    period: str
    units: int
    task: str

    def encode(self) -> dict[str, str]:
        return {"job": json.dumps(asdict(self), separators=(",", ":"))}

    @classmethod
    def decode(cls, fields: dict[bytes, bytes]) -> RunJob:
        return cls(**json.loads(fields[b"job"]))


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One event of a run's log. Money fields are integer micro-dollars (``*_micros``)."""

    run_id: str
    seq: int
    kind: RunEventKind
    body: dict[str, Any]

    @property
    def terminal(self) -> bool:
        return self.kind in TERMINAL_KINDS
