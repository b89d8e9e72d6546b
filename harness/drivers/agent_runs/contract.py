"""The agent-run contract: a tenant's client connects with its key, asks for a run, hears how
it goes, and is billed for it. Implementations: ``network.py`` (WebSockets to platform
processes) and ``in_process.py`` (the same gateway session and worker in this process); both
speak the protocol through ``wire.py``, which turns messages into the outcomes below, so the DSL
never sees a protocol message. The scripted model is controlled through :class:`ModelControl`
(``scripted_model.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from harness.drivers.agent_runs.errors import ConnectionClosed as ConnectionClosed
from harness.drivers.agent_runs.errors import HandshakeRefused as HandshakeRefused
from harness.drivers.tiers.contract import RefusalReason as RefusalReason
from harness.drivers.tiers.contract import Totals


@dataclass(frozen=True, slots=True)
class UsageCopies:
    """A tenant's usage records as the platform keeps them on their way to the analytics."""

    #: confirmed by the usage analytics, kept a while longer
    confirmed: int
    #: not yet confirmed: handed on again until they are
    waiting: int


class HeardKind(StrEnum):
    """What a client hears on a connection."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    STATE = "state"
    PROGRESS = "progress"
    RESULT = "result"
    FAILED = "failed"
    PROTOCOL_ERROR = "protocol error"


#: The kinds that are events of a run (numbered, replayed after a reconnect).
RUN_EVENTS = frozenset({HeardKind.PROGRESS, HeardKind.RESULT, HeardKind.FAILED})
#: The kinds that end a request: its run's outcome, or the refusal to run it.
ENDINGS = frozenset({HeardKind.RESULT, HeardKind.FAILED, HeardKind.REFUSED})


class RunState(StrEnum):
    QUEUED = "queued"
    IN_PROGRESS = "in progress"
    FINISHED = "finished"
    FAILED = "failed"


class FailureReason(StrEnum):
    MODEL_UNAVAILABLE = "model unavailable"
    INTERNAL_ERROR = "internal error"
    OTHER = "other"


class ProtocolProblem(StrEnum):
    UNKNOWN_KIND = "the message type is unknown"
    NOT_JSON = "the message is not valid JSON"
    INVALID = "the message is invalid"
    UNKNOWN_RUN = "no such run"
    OTHER = "another problem"


class Malformation(StrEnum):
    """Messages a client can get wrong, as the feature names them."""

    UNKNOWN_KIND = "a message of a kind nobody defined"
    NOT_JSON = "text that is not JSON"
    NO_REQUEST_ID = "a run request without a request id"
    NESTED_DEEPLY = "a message nested a thousand levels deep"


class CloseReason(StrEnum):
    NORMAL = "closed normally"
    MESSAGE_TOO_BIG = "message too big"
    DROPPED = "dropped"
    OTHER = "other"


@dataclass(frozen=True)
class Heard:
    """One message a client heard, in domain terms; fields not of its kind are None."""

    kind: HeardKind
    #: the message's id: a run event has the same id every time it is sent (replays included)
    message_id: str
    request_id: str | None = None
    #: a run event's number, from 1
    seq: int | None = None
    agent: str | None = None
    #: "started" or "finished" for progress
    step_state: str | None = None
    model: str | None = None
    #: a finished agent's call cost, or a result's model cost
    cost_micros: int | None = None
    #: a result's margin on the model cost
    margin_percent: int | None = None
    #: what the run was billed (a result), or 0 (a failure)
    charge_micros: int | None = None
    report: str | None = None
    failure: FailureReason | None = None
    run_state: RunState | None = None
    problem: ProtocolProblem | None = None
    #: why the platform refused to run the request, or None
    refusal: RefusalReason | None = None
    message: str = ""
    #: the message as received, for evidence only
    raw: dict[str, object] = field(default_factory=dict, repr=False, compare=False)


class RunConnection(Protocol):
    """One client connection of a tenant, in domain verbs."""

    def ask_for_run(self, request_id: str, task: str) -> None: ...

    def resume(self, request_id: str, after_seq: int) -> None:
        """Attach to the run again, hearing every event numbered after ``after_seq``."""
        ...

    def ask_state(self, request_id: str) -> None: ...

    def send_malformed(self, malformation: Malformation) -> None: ...

    def send_oversized(self, size_bytes: int) -> None:
        """A message of ``size_bytes`` bytes, otherwise well formed."""
        ...

    def next_heard(self, timeout: float) -> Heard:
        """The next message; TimeoutError if none within ``timeout``; ConnectionClosed once the
        connection is closed (what arrived before the close is heard first)."""
        ...

    def drop(self) -> None:
        """The network goes away under the connection: no closing handshake."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ModelPrice:
    """Micro-dollars per million tokens."""

    input: int
    cached_input: int
    output: int


class AgentRunsDriver(Protocol):
    #: how many gateway instances the driver can connect to
    replicas: int
    #: the largest message the platform accepts, in bytes
    max_message_bytes: int

    # -- the product's published numbers ---------------------------------------------------

    def model_prices(self) -> dict[str, ModelPrice]:
        """Per model size ("small", "medium", "large")."""
        ...

    def margins(self) -> dict[str, int]:
        """Per tier: the percentage added to a run's model cost."""
        ...

    def pipeline(self) -> list[str]:
        """The agents of a run, in order ("triage", ...)."""
        ...

    # -- clients -----------------------------------------------------------------------------

    def issue_api_key(self, tenant_id: str) -> str: ...

    def revoke_api_key(self, tenant_id: str, api_key: str) -> None:
        """The tenant revokes one of its keys, as its administrator would."""
        ...

    def connect(self, api_key: str, replica: int = 0) -> RunConnection:
        """Open a connection to gateway ``replica``; HandshakeRefused if the platform refuses."""
        ...

    # -- what the stores show ---------------------------------------------------------------

    def ledger_totals(self, tenant_id: str) -> Totals: ...

    def analytics_totals(self, tenant_id: str) -> Totals: ...

    def analytics_caught_up(self) -> bool:
        """True once every usage event published so far is in the analytics store."""
        ...

    def runs_settled(self) -> bool:
        """True once every run queued so far has been executed to its end."""
        ...

    def quota_used(self, tenant_id: str) -> int: ...

    def slots_held(self, tenant_id: str) -> int: ...

    def slot_leases_end(self, tenant_id: str) -> list[datetime]:
        """When the lease of each slot the tenant holds ends, as the platform records it (on
        its clock; ended leases not yet swept included), earliest first."""
        ...

    def usage_copies(self, tenant_id: str) -> UsageCopies:
        """The copies of the tenant's usage records the platform keeps until the usage
        analytics confirm them (and a while after)."""
        ...


# -- the scripted model ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """One scripted answer: the token usage the model reports for the call."""

    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int = 0
    #: name of a gate the call waits at until released
    hold: str | None = None
    #: the answer's text; None: a plain text the scripted model makes up
    content: str | None = None


@dataclass(frozen=True, slots=True)
class Outage:
    """The model is down: every call from here on fails, retries included."""


class CallOutcome(StrEnum):
    ANSWERED = "answered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ModelCall:
    """One call the model served: for whom, the model size asked for, how it ended."""

    caller: str
    size: str
    outcome: CallOutcome
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ModelControl(Protocol):
    """The scripted language model, programmed per caller (a tenant id)."""

    def script(self, caller: str, steps: list[Answer | Outage]) -> None:
        """Calls from ``caller`` take these steps in order; the last repeats."""
        ...

    def release(self, gate: str) -> None: ...

    def held(self, caller: str) -> int:
        """How many of ``caller``'s calls the model has received and is taking its time over."""
        ...

    def calls(self, caller: str) -> list[ModelCall]: ...
