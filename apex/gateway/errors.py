"""Errors of the gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING

from apex.errors import ApexError

if TYPE_CHECKING:
    from apex.gateway.protocol import ErrorCode


class ProtocolError(ApexError):
    """A client message the gateway cannot act on; answered with an ``error`` message."""

    def __init__(self, code: ErrorCode, message: str, reply_to: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reply_to = reply_to
