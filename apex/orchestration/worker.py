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
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from apex.billing import BillingKind
from apex.charges import Charge
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
from apex.streams import ClaimKeeper, ConsumerGroup, LoopHealth, SupervisedLoops

log = logging.getLogger(__name__)

_POLL = timedelta(milliseconds=500)
_FINISHED = frozenset({RunState.SUCCEEDED, RunState.FAILED})

#: What the customer is told failed, by the kind of error that stopped the run.
_WHAT_FAILED: dict[FailureReason, str] = {
    FailureReason.MODEL_UNAVAILABLE: "the language model is unavailable",
    FailureReason.BILLING_UNAVAILABLE: "the billing ledger is unavailable",
    FailureReason.STORE_UNAVAILABLE: "a platform store is unavailable",
    FailureReason.INTERNAL_ERROR: "an internal error stopped the run",
}


def failure_reason(exc: Exception) -> FailureReason:
    if isinstance(exc, LlmUnavailable):
        return FailureReason.MODEL_UNAVAILABLE
    if isinstance(exc, LedgerUnavailable):
        return FailureReason.BILLING_UNAVAILABLE
    if isinstance(exc, ServiceUnavailable):
        return FailureReason.STORE_UNAVAILABLE
    return FailureReason.INTERNAL_ERROR


class JobLeaseLost(ApexError):
    """Another worker took the run over: this one must produce no further effect."""


class _RunEvents:
    """Appends a run's events to its log (the log numbers them), each under its effect key, and
    only while this worker still holds the job."""

    def __init__(self, runs: RunLog, job: RunJob, lease: ClaimKeeper | None = None) -> None:
        self._runs = runs
        self._job = job
        self._lease = lease

    def still_held(self) -> None:
        if self._lease is not None and not self._lease.held:
            raise JobLeaseLost(f"run {self._job.run_id} was taken over by another worker")

    def emit(
        self, kind: RunEventKind, body: dict[str, Any], state: RunState | None = None,
        effect: str | None = None,
    ) -> None:
        self.still_held()
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
    """Renews a run's concurrency slot every third of its lease while the run works. The slot's
    lease is on the platform clock (it expires when the clock passes it); the renewals are made
    on real time, by this thread."""

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
        interval = self._platform.enforcer.lease.total_seconds() / 3
        while not self._stop.wait(interval):
            try:
                self._platform.enforcer.renew(self._job.tenant_id, self._job.run_id)
            except ApexError:
                log.warning("lease of run %s not renewed; retrying", self._job.run_id)


class OrchestrationWorker:
    def __init__(
        self, platform: Platform, dispatch: RunDispatch, supervisor: Supervisor, *, name: str,
        threads: int,
    ) -> None:
        self._platform = platform
        self._dispatch = dispatch
        self._supervisor = supervisor
        self._consumers: dict[str, ConsumerGroup] = {}
        self._loops = SupervisedLoops(name, threads, self._iteration)

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
            with ClaimKeeper(consumer, delivery.entry_id) as lease:
                done = self.execute(self._dispatch.job_of(delivery), lease)
            if done:
                consumer.ack(delivery.entry_id)

    def execute(self, job: RunJob, lease: ClaimKeeper | None = None) -> bool:
        """Execute the run to its end, or resume it if a worker that died left it running.
        False if ``lease`` was lost to another worker on the way (the job is then theirs)."""
        runs = self._platform.runs
        found = runs.state(job.tenant_id, job.run_id)
        if found is not None and found[0] in _FINISHED:
            log.info("run %s already finished; delivered again, not run again", job.run_id)
            if found[0] is RunState.SUCCEEDED:  # its worker may have died before freeing it
                self._platform.enforcer.release(job.tenant_id, job.run_id)
            return True
        if found is not None and found[0] is RunState.RUNNING:
            log.warning("run %s of %s was left running; taking it over", job.run_id,
                        job.tenant_id)
        events = _RunEvents(runs, job, lease)
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
