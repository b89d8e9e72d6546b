"""When a failed delivery is retried and when its message is dead-lettered.

:class:`DeliveryPolicy` is pure: from a delivery's number (the stream's delivery count, this
delivery included, as ``apex.streams.Delivery.deliveries`` reports it) and the error, it decides.
N counts deliveries of the message, not tries inside one delivery (a consumer may retry a store
call within a delivery: that is still one delivery), and a consumer that died during a delivery
used it up: the stream counted it when it handed the message over, and the next consumer sees
the next number. So a message is delivered exactly ``max_deliveries`` times, then dead-lettered:
eagerly, when the last delivery fails, or, if the consumer died during the last delivery, at the
next read, without handling it again (:meth:`DeliveryPolicy.exhausted`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from apex.dlq.errors import Unprocessable


class Reason(StrEnum):
    """Why a message entered the dead-letter queue."""

    #: every allowed delivery failed
    MAX_DELIVERIES = "max_deliveries"
    #: the consumer said it can never be processed (``Unprocessable``)
    UNPROCESSABLE = "unprocessable"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with a failed delivery: retry after ``backoff`` (``reason`` is None), or
    dead-letter now for ``reason``."""

    reason: Reason | None
    backoff: timedelta = timedelta(0)

    @property
    def dead_letter(self) -> bool:
        return self.reason is not None


class DeliveryPolicy(BaseModel):
    """Deliveries allowed per message, and the wait before each redelivery: exponential,
    ``initial_backoff`` after the first failure, times ``multiplier`` after each further one,
    never more than ``max_backoff``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_deliveries: int = Field(3, ge=1, le=1000)
    initial_backoff: timedelta = Field(timedelta(milliseconds=500), ge=timedelta(0))
    multiplier: float = Field(2.0, ge=1.0, le=10.0)
    max_backoff: timedelta = Field(timedelta(seconds=30), ge=timedelta(0))

    @model_validator(mode="after")
    def _cap_covers_start(self) -> DeliveryPolicy:
        if self.max_backoff < self.initial_backoff:
            raise ValueError(
                f"max_backoff ({self.max_backoff}) is shorter than initial_backoff"
                f" ({self.initial_backoff})"
            )
        return self

    def backoff(self, deliveries: int) -> timedelta:
        """The wait after delivery number ``deliveries`` failed, before the next one."""
        if deliveries < 1:
            raise ValueError(f"deliveries are counted from 1, not {deliveries}")
        wait = self.initial_backoff.total_seconds() * self.multiplier ** (deliveries - 1)
        return min(timedelta(seconds=wait), self.max_backoff)

    def decide(self, deliveries: int, error: BaseException) -> Verdict:
        """Delivery number ``deliveries`` of a message failed with ``error``: retry or
        dead-letter."""
        if deliveries < 1:
            raise ValueError(f"deliveries are counted from 1, not {deliveries}")
        if isinstance(error, Unprocessable):
            return Verdict(Reason.UNPROCESSABLE)
        if deliveries >= self.max_deliveries:
            return Verdict(Reason.MAX_DELIVERIES)
        return Verdict(None, self.backoff(deliveries))

    def exhausted(self, deliveries: int) -> bool:
        """Whether delivery number ``deliveries`` is past the limit: every allowed delivery
        happened already (the last one's consumer died), so it is dead-lettered unhandled."""
        return deliveries > self.max_deliveries
