"""The dead-letter-queue contract: what an operator does with the messages the platform set
aside, and how the queues stand. Implementation: ``operator.py`` (the platform's operator
commands, ``python -m apex.dlq``, run on the platform's own settings and stores); and the usage
analytics made to refuse a tenant's records (``analytics.py``), the fault that sends usage
records to the dead-letter queue.

Queues and reasons are named in the feature's words here ("run jobs", "every attempt failed");
the driver translates them to and from the platform's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Queue(StrEnum):
    RUN_JOBS = "run jobs"
    USAGE_EVENTS = "usage events"


class SetAsideReason(StrEnum):
    EVERY_ATTEMPT_FAILED = "every attempt failed"
    NEVER_PROCESSABLE = "it can never be processed"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message set aside, as the operator's list shows it."""

    id: str
    queue: Queue
    tenant_id: str
    reason: SetAsideReason
    attempts: int
    first_error: str
    last_error: str
    #: when it (last) entered the dead-letter queue, on the platform's clock
    entered_at: datetime
    #: earlier times the same message was set aside (a redriven message that failed again)
    earlier: int
    #: still waiting for an operator (False: redriven, kept for the record)
    waiting: bool


@dataclass(frozen=True, slots=True)
class Redrive:
    id: str
    #: False: an earlier redrive had sent it through already, nothing was done
    sent: bool


@dataclass(frozen=True, slots=True)
class MissingUsage:
    """A billed charge whose usage record the analytics does not hold."""

    amount_micros: int
    #: the dead letter holding its usage record, if it was set aside
    dead_letter: str | None


@dataclass(frozen=True, slots=True)
class Reconciled:
    """The operator's reconciliation of one tenant's billing ledger and usage analytics."""

    balanced: bool
    ledger_micros: int
    analytics_micros: int
    missing: tuple[MissingUsage, ...]


class DeadLetterDesk(Protocol):
    def attempts_per_queue(self) -> dict[Queue, int]:
        """How many deliveries each queue gives a message before setting it aside."""
        ...

    def retention_days(self) -> float: ...

    def listed(self, queue: Queue | None = None, tenant_id: str | None = None,
             waiting_only: bool = True) -> list[DeadLetter]:
        """What the operator's list shows, oldest first."""
        ...

    def redrive(self, *ids: str) -> list[Redrive]: ...

    def redrive_all(self, queue: Queue | None = None) -> list[Redrive]: ...

    def purge(self) -> int:
        """Delete the dead letters past retention; how many."""
        ...

    def pending(self, queue: Queue) -> int:
        """Messages of the queue delivered to a consumer and not yet acknowledged."""
        ...

    def reconcile(self, tenant_id: str) -> Reconciled:
        """The reconciliation report of one tenant's ledger and analytics."""
        ...


class AnalyticsRefusals(Protocol):
    """The run's usage analytics refusing a tenant's records, as a schema change there would
    (a constraint its records break), and taking them again."""

    def refuse(self, tenant_id: str) -> None: ...

    def accept(self, tenant_id: str) -> None: ...
