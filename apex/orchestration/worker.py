"""The orchestration worker: takes admitted runs from the job stream and executes them.

For each run: renew its concurrency lease while it works, run the supervisor, and then either
bill it once (ledger row of kind ``agent_run`` keyed by the run id, then one usage event with a
deterministic id) and free its slot, or, if a model call failed, bill nothing and refund the
admission (quota unit and slot back). Events reach the client through the run's event stream.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from apex.billing import BillingEvent, BillingKind
from apex.clock import epoch_millis
from apex.enforcement import Admission, Decision
from apex.errors import ApexError
from apex.gateway import protocol
from apex.gateway.protocol import MessageType, RunState
from apex.money import micros_to_dollars
from apex.orchestration.pricing import charge_micros, margin_percent
from apex.orchestration.runs import RunJob, RunStore
from apex.orchestration.supervisor import Progress, RunOutcome, Supervisor
from apex.platform import Platform
from apex.usage import UsageEvent

log = logging.getLogger(__name__)

_POLL = timedelta(milliseconds=500)


def dollars(micros: int) -> str:
    """Money on the wire: a decimal string with six places."""
    return str(micros_to_dollars(micros))


class _RunEvents:
    """Numbers a run's events from 1 and appends them to its stream."""

    def __init__(self, store: RunStore, job: RunJob) -> None:
        self._store = store
        self._job = job
        self._seq = 0

    def emit(self, kind: MessageType, **fields: object) -> None:
        self._seq += 1
        self._store.append_event(
            self._job, protocol.run_event(kind, self._job.run_id, self._seq, **fields)
        )

    def progress(self, progress: Progress) -> None:
        fields: dict[str, object] = {
            "agent": progress.agent, "step": progress.step, "steps": progress.steps,
            "state": progress.state, "model": progress.model.value,
        }
        if progress.cost_micros is not None:
            fields["cost"] = dollars(progress.cost_micros)
        self.emit(MessageType.PROGRESS, **fields)


class LeaseKeeper:
    """Renews a run's concurrency lease every third of the lease while the run works."""

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
        self, platform: Platform, store: RunStore, supervisor: Supervisor, *, name: str,
        threads: int,
    ) -> None:
        self._platform = platform
        self._store = store
        self._supervisor = supervisor
        self._name = name
        self._threads = threads
        store.ensure_group()

    def run(self, stop: threading.Event) -> None:
        """Execute runs on ``threads`` threads until ``stop`` is set; in-flight runs finish."""
        workers = [
            threading.Thread(target=self._loop, args=(stop, f"{self._name}-{i}"), name=f"run-{i}")
            for i in range(self._threads)
        ]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()

    def _loop(self, stop: threading.Event, consumer: str) -> None:
        while not stop.is_set():
            try:
                taken = self._store.next_job(consumer, _POLL)
            except Exception:
                log.exception("job stream unreadable; retrying")
                stop.wait(_POLL.total_seconds())
                continue
            if taken is not None:
                entry_id, job = taken
                self.execute(job)
                self._store.ack(entry_id)

    def execute(self, job: RunJob) -> None:
        events = _RunEvents(self._store, job)
        self._store.set_state(job, RunState.RUNNING)
        try:
            with LeaseKeeper(self._platform, job):
                outcome = self._supervisor.run(job.tenant_id, job.tier, job.task, events.progress)
                charge = self._bill(job, outcome)
        except Exception as exc:
            self._fail(job, events, exc)
            return
        events.emit(
            MessageType.RESULT,
            report=outcome.report,
            calls=[
                {
                    "agent": c.agent, "model": c.model.value,
                    "prompt_tokens": c.usage.prompt_tokens,
                    "cached_prompt_tokens": c.usage.cached_prompt_tokens,
                    "completion_tokens": c.usage.completion_tokens, "cost": dollars(c.cost_micros),
                }
                for c in outcome.calls
            ],
            cost=dollars(outcome.cost_micros), margin_percent=margin_percent(job.tier),
            charge=dollars(charge),
        )
        self._store.set_state(job, RunState.SUCCEEDED)
        self._platform.enforcer.release(job.tenant_id, job.run_id)

    def _bill(self, job: RunJob, outcome: RunOutcome) -> int:
        """Record the run's charge once (the ledger is idempotent on the run id) and publish its
        usage event; a retry after a crash republishes the same event id, counted once."""
        charge = charge_micros(outcome.cost_micros, job.tier)
        now = self._platform.clock.now()
        self._platform.ledger.record(
            BillingEvent(
                job.tenant_id, BillingKind.AGENT_RUN, job.run_id, job.period, job.tier,
                job.units, charge, now,
            )
        )
        try:
            self._platform.usage.publish(
                UsageEvent(
                    f"agent-run:{job.tenant_id}:{job.run_id}", job.tenant_id,
                    BillingKind.AGENT_RUN.value, job.run_id, job.period, job.tier, job.units,
                    charge, epoch_millis(now),
                )
            )
        except Exception:
            # The run is billed; failing it now would refund work the ledger charged for.
            log.exception("usage event of billed run %s not published", job.run_id)
        return charge

    def _fail(self, job: RunJob, events: _RunEvents, exc: Exception) -> None:
        if isinstance(exc, ApexError):
            log.warning("run %s of %s failed: %s", job.run_id, job.tenant_id, exc)
            reason, why = "model_unavailable", str(exc)
        else:
            log.exception("run %s of %s failed unexpectedly", job.run_id, job.tenant_id)
            reason, why = "internal_error", "an internal error stopped the run"
        try:
            self._platform.enforcer.refund(_admission_of(job))
        except ApexError:
            log.exception("admission of run %s could not be refunded", job.run_id)
        events.emit(
            MessageType.FAILED, reason=reason, charge=dollars(0),
            message=(
                f"The run could not be completed: {why}. You have not been charged and the "
                "request does not count against your quota; send it again with a new request id."
            ),
        )
        self._store.set_state(job, RunState.FAILED)


def _admission_of(job: RunJob) -> Admission:
    """The admission a job came from, as much of it as a refund needs."""
    return Admission(
        Decision.ADMITTED, job.tenant_id, job.run_id, job.tier, job.period, job.units,
        0, 0, 0, 0,
    )
