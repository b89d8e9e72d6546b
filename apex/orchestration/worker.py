"""The orchestration worker: takes admitted runs from the job stream and executes them.

For each run: renew its concurrency lease while it works, run the supervisor, and then either
bill it once (one charge of kind ``agent_run`` keyed by the run id) and free its slot, or, if
anything failed before the charge, bill nothing and refund the admission (quota unit and slot
back). Every step is an event in the run's log (``apex.runs``), which the gateways relay.

The loops are supervised (``apex.streams``): a store outage fails iterations, never the loop,
and health reports whether every loop is really serving.

Durable runs: while a worker executes a run it renews its claim on the job, the job lease, on
real time (``apex.streams.ClaimKeeper``); a worker that dies stops renewing, and once the lease
(``job_lease_seconds``) has passed another worker claims the job and takes the run over. The
take-over resumes from the run's step checkpoints (``apex.runs.RunSteps``): completed steps are
not run again, and every effect is keyed by (run, step) so none happens twice: each event is
stored once under its effect key, the charge is idempotent on the run id and computed from the
checkpoints (so it is the amount of an uninterrupted run), and the usage event's id derives
from the same key. A worker that finds its lease lost (another worker took the run) stops
producing effects and leaves the job to its new holder. The concurrency slot's lease and the
billing period run on the platform clock (``apex.clock``), not on real time.

Dead letters (``apex.dlq``): a run that ends, with its report or with a failure the customer is
told about (the model or the ledger unavailable), is a processed job, acknowledged. An
unexpected error (a step raised: a bug, an answer no step can process) is retried by
redelivery after a backoff, up to the job queue's N deliveries (a worker that died during one
used it up); after the last one the run is failed to the customer with that reason, its
admission refunded, nothing billed, and the job set aside in the dead-letter queue with its
errors. Redriving it is a new attempt at the request: admitted again under the tenant's limits
(once per redrive), then run and billed once; its events continue the run's log.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
import redis

from apex import keys
from apex.billing import BillingKind
from apex.charges import Charge
from apex.dlq import QueueName, Unprocessable
from apex.dlq.router import describe
from apex.enforcement import Admission, Decision
from apex.errors import ApexError, LedgerUnavailable, ServiceUnavailable
from apex.llm.errors import LlmUnavailable
from apex.orchestration.pricing import charge_micros, margin_percent
from apex.orchestration.supervisor import Progress, RunOutcome, Supervisor
from apex.platform import Platform
from apex.runs import (
    FailureReason,
    RunDispatch,
    RunEventKind,
    RunJob,
    RunLog,
    RunState,
    RunSteps,
    StepCheckpoint,
)
from apex.streams import (
    ClaimKeeper,
    ConsumerGroup,
    Delivery,
    LoopHealth,
    StreamError,
    SupervisedLoops,
)

log = logging.getLogger(__name__)

_POLL = timedelta(milliseconds=500)
#: how often, on real time, a run's lease keeper looks at the platform clock
_LEASE_LOOK = timedelta(milliseconds=100)
_FINISHED = frozenset({RunState.SUCCEEDED, RunState.FAILED})

#: What the customer is told failed, by the kind of error that stopped the run.
_WHAT_FAILED: dict[FailureReason, str] = {
    FailureReason.MODEL_UNAVAILABLE: "the language model is unavailable",
    FailureReason.BILLING_UNAVAILABLE: "the billing ledger is unavailable",
    FailureReason.STORE_UNAVAILABLE: "a platform store is unavailable",
    FailureReason.INTERNAL_ERROR: "an internal error stopped the run",
}


#: Stores not answering: what the loops' supervision and the job lease deal with, never the
#: dead-letter queue's business.
_STORE_OUTAGES = (psycopg.OperationalError, redis.ConnectionError, redis.TimeoutError, StreamError)


def failure_reason(exc: Exception) -> FailureReason:
    if isinstance(exc, LlmUnavailable):
        return FailureReason.MODEL_UNAVAILABLE
    if isinstance(exc, LedgerUnavailable):
        return FailureReason.BILLING_UNAVAILABLE
    if isinstance(exc, ServiceUnavailable):
        return FailureReason.STORE_UNAVAILABLE
    return FailureReason.INTERNAL_ERROR


def unexpected(exc: Exception) -> bool:
    """An error the platform has no answer for the customer about (a step raised: a bug, an
    answer no step can process): retried by redelivery, then set aside in the dead-letter
    queue. The failures the customer is told about at once and store outages are not."""
    return failure_reason(exc) is FailureReason.INTERNAL_ERROR and not isinstance(
        exc, _STORE_OUTAGES
    )


class JobLeaseLost(ApexError):
    """Another worker took the run over: this one must produce no further effect."""


class _RunEvents:
    """Appends a run's events to its log (the log numbers them), each under its effect key, and
    only while this worker still holds the job."""

    def __init__(
        self, runs: RunLog, job: RunJob, lease: ClaimKeeper | None = None,
        redrive: str | None = None,
    ) -> None:
        self._runs = runs
        self._job = job
        self._lease = lease
        #: the stream entry of the redrive being executed, None for the run's first enqueue
        self._redrive = redrive

    def still_held(self) -> None:
        """Asked of the store before each effect (``ClaimKeeper.confirm``): a worker woken
        after a pause longer than the lease learns here that its run was taken over."""
        if self._lease is not None and not self._lease.confirm():
            raise JobLeaseLost(f"run {self._job.run_id} was taken over by another worker")

    def emit(
        self, kind: RunEventKind, body: dict[str, Any], state: RunState | None = None,
        effect: str | None = None,
    ) -> None:
        self.still_held()
        if effect is None and kind is RunEventKind.FAILED:
            effect = failed_effect(self._redrive)
        self._runs.append(
            self._job.tenant_id, self._job.run_id, kind, body, state=state,
            effect=effect or kind.value,
        )

    def progress(self, progress: Progress) -> None:
        body: dict[str, Any] = {
            "agent": progress.agent, "step": progress.step, "steps": progress.steps,
            "state": progress.state.value, "model": progress.model.value,
        }
        if progress.cost_micros is not None:
            body["cost_micros"] = progress.cost_micros
        self.emit(
            RunEventKind.PROGRESS, body, effect=f"step:{progress.step}:{progress.state.value}"
        )


class _RunCheckpoints:
    """One run's step checkpoints (the supervisor's ``Checkpoints``)."""

    def __init__(self, steps: RunSteps, job: RunJob) -> None:
        self._steps = steps
        self._job = job

    def completed(self) -> dict[int, StepCheckpoint]:
        return self._steps.completed(self._job.tenant_id, self._job.run_id)

    def record(self, done: StepCheckpoint) -> StepCheckpoint:
        return self._steps.record(self._job.tenant_id, self._job.run_id, done)


class LeaseKeeper:
    """Renews a run's concurrency slot each time a third of its lease has passed, while the run
    works. The slot's lease is on the platform clock (it expires when the clock passes it), and
    so is the renewal's cadence: the keeper looks at the clock often, on real time, and renews
    once the clock has moved a third of the lease since the last renewal. On the system clock
    that is every third of the lease; on a test clock moved forward at once, it is as soon as
    the keeper next looks."""

    def __init__(self, platform: Platform, job: RunJob) -> None:
        self._platform = platform
        self._job = job
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="lease", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _renew(self) -> None:
        clock, enforcer = self._platform.clock, self._platform.enforcer
        every = enforcer.lease / 3
        look = min(every.total_seconds(), _LEASE_LOOK.total_seconds())
        # Renewed at once: the job may have waited, or be a take-over of a dead worker's run.
        renewed: datetime | None = None
        while True:
            try:
                now = clock.now()
                if renewed is None or now - renewed >= every:
                    enforcer.renew(self._job.tenant_id, self._job.run_id)
                    renewed = now
            except Exception as exc:  # a keeper that dies would lose the run its slot
                log.warning("lease of run %s not renewed (%s); retrying", self._job.run_id, exc)
            if self._stop.wait(look):
                return


@dataclass(frozen=True, slots=True)
class WorkerActivity:
    """What a worker is doing, for its health report."""

    #: runs it is executing now
    executing: int
    #: runs it stopped working on since it started, because another worker had taken them over
    #: (it was paused, or cut off from the store, longer than the job lease)
    given_up: int


class OrchestrationWorker:
    def __init__(
        self, platform: Platform, dispatch: RunDispatch, supervisor: Supervisor, *, name: str,
        threads: int,
    ) -> None:
        self._platform = platform
        self._dispatch = dispatch
        self._supervisor = supervisor
        self._consumers: dict[str, ConsumerGroup] = {}
        self._dead_letters = platform.dead_letter_router(QueueName.RUN_JOBS)
        self._loops = SupervisedLoops(name, threads, self._iteration)
        self._activity_lock = threading.Lock()
        self._executing = 0
        self._given_up = 0

    def activity(self) -> WorkerActivity:
        with self._activity_lock:
            return WorkerActivity(self._executing, self._given_up)

    def run(self, stop: threading.Event) -> None:
        """Execute runs on the worker's loops until ``stop`` is set; in-flight runs finish."""
        self._loops.run(stop)

    def health(self) -> LoopHealth:
        return self._loops.health()

    def _iteration(self, loop: str) -> None:
        consumer = self._consumers.get(loop)
        if consumer is None:
            consumer = self._consumers[loop] = self._dispatch.consumer(loop)
        for delivery in consumer.read(1, _POLL):
            self._deliver(consumer, delivery)

    def _deliver(self, consumer: ConsumerGroup, delivery: Delivery) -> None:
        """One delivery of a job, under the dead-letter queue's rules (``apex.dlq.router``)."""
        router = self._dead_letters
        try:
            job = self._dispatch.job_of(delivery)
        except Exception as exc:  # no worker can ever read it: set aside at once
            router.failed(consumer, delivery, Unprocessable(describe(exc)), None)
            return
        fields = delivery.fields
        redrive = delivery.entry_id if keys.DLQ_MESSAGE_ID_FIELD.encode() in fields else None
        policy = router.queue.policy
        if policy.exhausted(delivery.deliveries):  # its last worker died: tell the customer
            self._set_aside(job, redrive, min(delivery.deliveries - 1, policy.max_deliveries))
        if not router.admit(consumer, delivery, job.tenant_id):
            return
        try:
            with ClaimKeeper(consumer, delivery.entry_id) as lease, self._counted():
                done = self.execute(job, lease, redrive)
                if not done:
                    with self._activity_lock:
                        self._given_up += 1
        except Exception as exc:
            if not unexpected(exc):
                raise
            # The lease has stopped (its heartbeats would undo the backoff). The customer is
            # told before the job is set aside: a crash in between sets it aside next time.
            log.error("run %s of %s, delivery %d, failed unexpectedly", job.run_id,
                      job.tenant_id, delivery.deliveries, exc_info=exc)
            if policy.decide(delivery.deliveries, exc).dead_letter:
                self._set_aside(job, redrive, delivery.deliveries)
            router.failed(consumer, delivery, exc, job.tenant_id)
            return
        if done:
            consumer.ack(delivery.entry_id)
            router.succeeded(delivery)

    @contextlib.contextmanager
    def _counted(self) -> Iterator[None]:
        with self._activity_lock:
            self._executing += 1
        try:
            yield
        finally:
            with self._activity_lock:
                self._executing -= 1

    def execute(
        self, job: RunJob, lease: ClaimKeeper | None = None, redrive: str | None = None
    ) -> bool:
        """Execute the run to its end, or resume it if a worker that died left it running.
        False if ``lease`` was lost to another worker on the way (the job is then theirs).
        Raises an unexpected error (:func:`unexpected`) instead of failing the run: it is
        retried. ``redrive``: the stream entry of an operator's redrive of a run set aside."""
        runs = self._platform.runs
        found = runs.state(job.tenant_id, job.run_id)
        if redrive is not None and found is not None and found[0] is RunState.FAILED:
            readmitted = self._readmit(job, redrive)
            if readmitted is None:
                return True
            job, found = readmitted, None
        if found is not None and found[0] in _FINISHED:
            log.info("run %s already finished; delivered again, not run again", job.run_id)
            if found[0] is RunState.SUCCEEDED:  # its worker may have died before freeing it
                self._platform.enforcer.release(job.tenant_id, job.run_id)
            return True
        if found is not None and found[0] is RunState.RUNNING:
            log.warning("run %s of %s was left running; taking it over", job.run_id,
                        job.tenant_id)
        events = _RunEvents(runs, job, lease, redrive)
        checkpoints = _RunCheckpoints(self._platform.steps, job)
        runs.set_state(job.tenant_id, job.run_id, RunState.RUNNING)
        try:
            with LeaseKeeper(self._platform, job):
                outcome = self._supervisor.run(
                    job.tenant_id, job.tier, job.task, events.progress, checkpoints
                )
                events.still_held()
                charge = self._bill(job, outcome)
        except JobLeaseLost as lost:
            log.warning("%s; leaving it to that worker", lost)
            return False
        except Exception as exc:
            if lease is not None and not lease.held:
                return False
            if unexpected(exc):
                raise
            self._fail(job, events, exc)
            return True
        # Outside the failure path: a billed run is never refunded. If this fails, the job
        # stays pending and is taken over; the charge is idempotent, the result stored once.
        try:
            events.emit(RunEventKind.RESULT, _result(job, outcome, charge), RunState.SUCCEEDED)
        except JobLeaseLost as lost:
            log.warning("%s; leaving it to that worker", lost)
            return False
        self._platform.enforcer.release(job.tenant_id, job.run_id)
        return True

    def _bill(self, job: RunJob, outcome: RunOutcome) -> int:
        """Charge the run once (idempotent on the run id): its cost plus the tier's margin."""
        charge = charge_micros(outcome.cost_micros, job.tier)
        self._platform.charges.record(
            Charge(
                job.tenant_id, BillingKind.AGENT_RUN, job.run_id, job.period, job.tier,
                job.units, charge,
            )
        )
        return charge

    def _fail(self, job: RunJob, events: _RunEvents, exc: Exception) -> None:
        reason = failure_reason(exc)
        if reason is FailureReason.INTERNAL_ERROR:
            log.error("run %s of %s failed unexpectedly", job.run_id, job.tenant_id,
                      exc_info=exc)
        else:
            log.warning("run %s of %s failed: %s", job.run_id, job.tenant_id, exc)
        try:
            self._platform.enforcer.refund(_admission_of(job))
        except ApexError:
            log.exception("admission of run %s could not be refunded", job.run_id)
        events.emit(
            RunEventKind.FAILED,
            {
                "reason": reason.value, "charge_micros": 0,
                "message": (
                    f"The run could not be completed: {_WHAT_FAILED[reason]}. You have not been"
                    " charged and the request does not count against your quota; send it again"
                    " with a new request id."
                ),
            },
            RunState.FAILED,
        )


    def _readmit(self, job: RunJob, redrive: str) -> RunJob | None:
        """A run set aside and redriven: its customer was told it failed and was refunded, so
        it runs again only as a new admission of its request under the tenant's limits, once
        per redrive. None if this redrive already ended, or the limits refuse it now (it then
        stays failed, and nothing is counted)."""
        if self._platform.runs.event_for(job.tenant_id, job.run_id, failed_effect(redrive)):
            return None
        admission = self._platform.enforcer.admit(job.tenant_id, job.run_id, job.units)
        if admission.decision not in (Decision.ADMITTED, Decision.DUPLICATE):
            log.warning("redriven run %s of %s not admitted (%s); it stays failed", job.run_id,
                        job.tenant_id, admission.decision.value)
            return None
        log.info("redriven run %s of %s admitted again", job.run_id, job.tenant_id)
        return replace(job, tier=admission.tier or job.tier, period=admission.period or job.period)

    def _set_aside(self, job: RunJob, redrive: str | None, attempts: int) -> None:
        """Fail a run whose job goes to the dead-letter queue: the customer is told why, the
        admission is refunded, nothing is billed. Safe to repeat; a run that succeeded is left
        alone."""
        found = self._platform.runs.state(job.tenant_id, job.run_id)
        if found is None or found[0] is RunState.SUCCEEDED:
            return
        try:
            self._platform.enforcer.refund(_admission_of(job))
        except ApexError:
            log.exception("admission of run %s could not be refunded", job.run_id)
        _RunEvents(self._platform.runs, job, redrive=redrive).emit(
            RunEventKind.FAILED,
            {
                "reason": FailureReason.INTERNAL_ERROR.value, "charge_micros": 0,
                "attempts": attempts,
                "message": (
                    "The run could not be completed: an internal error stopped it on each of"
                    f" its {attempts} attempts, and it has been set aside for our operators."
                    " You have not been charged and the request does not count against your"
                    " quota."
                ),
            },
            RunState.FAILED,
        )


def failed_effect(redrive: str | None) -> str:
    """The effect key of a run's failure: one for its first enqueue, one per redrive."""
    failed = RunEventKind.FAILED.value
    return failed if redrive is None else f"{failed}:redrive:{redrive}"


def _result(job: RunJob, outcome: RunOutcome, charge: int) -> dict[str, Any]:
    return {
        "report": outcome.report,
        "calls": [
            {
                "agent": c.agent, "model": c.model.value,
                "prompt_tokens": c.usage.prompt_tokens,
                "cached_prompt_tokens": c.usage.cached_prompt_tokens,
                "completion_tokens": c.usage.completion_tokens, "cost_micros": c.cost_micros,
            }
            for c in outcome.calls
        ],
        "cost_micros": outcome.cost_micros, "margin_percent": margin_percent(job.tier),
        "charge_micros": charge,
    }


def _admission_of(job: RunJob) -> Admission:
    """The admission a job came from, as much of it as a refund needs."""
    return Admission(
        Decision.ADMITTED, job.tenant_id, job.run_id, job.tier, job.period, job.units,
        0, 0, 0, 0,
    )
