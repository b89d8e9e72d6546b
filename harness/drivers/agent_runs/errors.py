"""How a connection to the platform can fail, whatever the channel (part of the contract)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.drivers.agent_runs.contract import CloseReason


class HandshakeRefused(HarnessError):
    """The platform refused to open a connection."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"connection refused as {reason}: {detail}")
        #: "unauthorised", "not found", or the status the platform gave
        self.reason = reason


class ConnectionClosed(HarnessError):
    """The platform closed the connection (or it was dropped)."""

    def __init__(self, why: CloseReason, detail: str) -> None:
        super().__init__(f"connection closed ({why.value}: {detail or 'no detail given'})")
        self.why = why
        self.detail = detail
