"""Agent runs: the run job, its state, and its durable, atomically numbered event log.

The run record and its events live in PostgreSQL (``agent_runs``, ``run_events``, row-level
security per tenant): an event's number is assigned by the database in the statement that
stores it, so any worker, a restarted one included, continues the sequence without a gap or a
duplicate, and the log survives the job store (Redis) losing its data. Jobs travel from the
gateways to the workers on a Redis stream (:mod:`apex.runs.queue`); intake and dispatch are
separate objects, so that dispatch can later change order (weighted fair queuing) without
touching intake. Each completed agent step is checkpointed (``run_steps``, :mod:`apex.runs.steps`)
and each event a step emits carries an effect key unique in its run, so a worker that takes over
a run whose worker died resumes it without calling the model again for a completed step and
without emitting any event twice.
"""

from apex.runs.log import Claim, RunLog
from apex.runs.model import (
    FailureReason,
    RunEvent,
    RunEventKind,
    RunJob,
    RunState,
    StepState,
)
from apex.runs.notices import RunEventNotices
from apex.runs.queue import RunDispatch, RunIntake
from apex.runs.steps import RunSteps, StepCheckpoint

__all__ = [
    "Claim",
    "FailureReason",
    "RunDispatch",
    "RunEvent",
    "RunEventKind",
    "RunEventNotices",
    "RunIntake",
    "RunJob",
    "RunLog",
    "RunState",
    "RunSteps",
    "StepCheckpoint",
    "StepState",
]
