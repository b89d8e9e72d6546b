"""The agent-run driver contract: what the DSL needs to reach the platform's agent runs, whatever
the channel. ``harness.drivers.network`` speaks the protocol over real WebSockets to platform
processes (L4); ``harness.drivers.in_process_runs`` feeds the same gateway session in this
process (L3). Messages are the protocol's JSON objects (``apex.gateway.protocol``) either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from apex.analytics import AnalyticsTotals
from apex.billing import LedgerTotals
from harness.drivers.scripted_llm import ScriptedModel
from harness.errors import HarnessError


class HandshakeRefused(HarnessError):
    """The platform refused to open a connection."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"connection refused as {reason}: {detail}")
        #: "unauthorised", "not found", or the status the platform gave
        self.reason = reason


class ChannelClosed(HarnessError):
    """The platform closed the connection (or it was dropped)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"connection closed (code {code}: {reason or 'no reason given'})")
        self.code = code
        self.reason = reason


class RunChannel(Protocol):
    """One client connection of a tenant."""

    def send(self, message: dict[str, Any]) -> None: ...

    def send_text(self, text: str) -> None:
        """A frame exactly as given (for malformed and oversized messages)."""
        ...

    def receive(self, timeout: float) -> dict[str, Any]:
        """The next message; TimeoutError if none within ``timeout``; ChannelClosed if closed."""
        ...

    def drop(self) -> None:
        """The network goes away under the connection: no closing handshake."""
        ...

    def close(self) -> None: ...


class AgentRunDriver(Protocol):
    #: how many gateway instances the driver can connect to
    replicas: int
    #: the largest message the platform accepts
    max_message_bytes: int

    def issue_api_key(self, tenant_id: str) -> str: ...

    def connect(self, api_key: str, replica: int = 0) -> RunChannel:
        """Open a connection to gateway ``replica``; HandshakeRefused if the platform refuses."""
        ...

    def ledger_totals(self, tenant_id: str) -> LedgerTotals: ...

    def analytics_totals(self, tenant_id: str) -> AnalyticsTotals: ...

    def analytics_caught_up(self) -> bool:
        """True once every usage event published so far is in the analytics store."""
        ...

    def runs_settled(self) -> bool:
        """True once every run queued so far has been executed to its end."""
        ...

    def quota_used(self, tenant_id: str) -> int: ...

    def runs_in_progress(self, tenant_id: str) -> int: ...


@dataclass(frozen=True)
class AgentRunSystem:
    """What a scenario about agent runs works with: the platform, and the model behind it when
    it is the scripted one (None against a real endpoint)."""

    driver: AgentRunDriver
    model: ScriptedModel | None
