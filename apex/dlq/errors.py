"""Errors of the dead-letter queue."""

from __future__ import annotations

from apex.errors import ApexError, InvalidInput


class DeadLetterError(ApexError):
    """Base of the dead-letter queue's errors."""


class UnknownQueue(DeadLetterError, InvalidInput):
    """The queue name names no queue with a dead-letter queue."""


class UnknownEntry(DeadLetterError, InvalidInput):
    """No dead letter has that id."""


class Unprocessable(DeadLetterError):
    """Raised by a consumer for a message that can never be processed however often it is
    delivered (its payload does not decode): it is dead-lettered at once, not retried."""
