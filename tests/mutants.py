"""Deliberate defects in the platform, to prove the features catch them.

A mutant is applied by monkeypatching at interpreter start, in every Python process of a run:
``tests/mutant_site/sitecustomize.py`` calls :func:`apply` when ``SUITE_MUTANT`` names one (see
test_mutations.py). That reaches the L4 platform processes (gateways, workers), which the suite
starts as separate interpreters, as well as the behave process. The platform's code is never
changed on disk.

A mutant checks the shape of the code it patches and fails loudly when it has changed, so that a
refactoring cannot silently turn a mutant into a no-op (or into a different defect).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, cast

from apex import enforcement, keys
from apex.billing import BillingEvent, BillingKind
from apex.clock import billing_period, epoch_millis
from apex.enforcement import Admission, Decision, TierEnforcer
from apex.gateway.protocol import ResumeRun
from apex.gateway.session import GatewaySession
from apex.orchestration.runs import AsyncRunStore, RunJob
from apex.orchestration.supervisor import Progress, RunOutcome
from apex.orchestration.worker import OrchestrationWorker, _RunEvents
from apex.requests import RefusalReason, RequestResult, RequestService


def quota_off_by_one() -> None:
    """The quota check lets one request too many through."""
    original = enforcement._script

    def script(name: str) -> str:
        text = original(name)
        if name == "admit.lua":
            patched = text.replace("used + units > limit", "used + units > limit + 1")
            assert patched != text, "admit.lua changed: update this mutant"
            return patched
        return text

    enforcement._script = script


def check_then_increment() -> None:
    """Admission read and written in separate round trips instead of one atomic script."""

    def admit(self: TierEnforcer, tenant_id: str, request_id: str, units: int = 1) -> Admission:
        r = self._redis
        now = self._clock.now()
        period = billing_period(now)
        tier_raw: Any = r.get(keys.tenant_tier(tenant_id))
        tier = tier_raw.decode()
        limits_raw: Any = r.hget(keys.TIER_LIMITS, tier)
        limit, max_running = (int(v) for v in limits_raw.decode().split(":"))
        r.zremrangebyscore(keys.run_leases(tenant_id), "-inf", epoch_millis(now))
        running = r.zcard(keys.run_leases(tenant_id))
        used = int(r.get(keys.quota_used(tenant_id, period)) or 0)
        decision = Decision.ADMITTED
        if limit >= 0 and used + units > limit:
            decision = Decision.QUOTA_EXHAUSTED
        elif running >= max_running:
            decision = Decision.CONCURRENCY_LIMIT
        else:
            used = r.incrby(keys.quota_used(tenant_id, period), units)
            expiry = epoch_millis(now) + int(self.lease.total_seconds() * 1000)
            r.zadd(keys.run_leases(tenant_id), {request_id: expiry})
            running += 1
        return Admission(
            decision, tenant_id, request_id, tier, period, units, used, limit, running,
            max_running,
        )

    TierEnforcer.admit = admit  # type: ignore[method-assign]


def bill_refused_requests() -> None:
    """A request refused for quota or concurrency is billed anyway."""
    original = RequestService.submit

    def submit(self: RequestService, tenant_id: str, request_id: str, units: int = 1) -> Any:
        result: RequestResult = original(self, tenant_id, request_id, units)
        if not result.admitted and result.reason in (
            RefusalReason.QUOTA_EXHAUSTED, RefusalReason.CONCURRENCY_LIMIT,
        ):
            now = self._clock.now()
            self._ledger.record(
                BillingEvent(
                    tenant_id, BillingKind.REQUEST, request_id, billing_period(now),
                    result.tier or "free", units, 0, now,
                )
            )
        return result

    RequestService.submit = submit  # type: ignore[method-assign]


def _require_parameters(function: Callable[..., Any], names: list[str]) -> None:
    """The patched function still takes exactly these parameters."""
    found = list(inspect.signature(function).parameters)
    assert found == names, (
        f"{function.__qualname__} takes {found}, the mutant expects {names}: update the mutant"
    )


def _require_fields(cls: type, names: set[str]) -> None:
    """The dataclass still has these fields."""
    missing = names - {f.name for f in fields(cls)}
    assert not missing, f"{cls.__qualname__} has no {sorted(missing)}: update the mutant"


def _require_source(function: Callable[..., Any], *snippets: str) -> None:
    """The patched code still does what the mutant relies on (attributes it reads, calls it
    wraps), so that a refactoring fails here rather than in a platform process's log."""
    source = inspect.getsource(function)
    for snippet in snippets:
        assert snippet in source, (
            f"{function.__qualname__} no longer contains {snippet!r}: update the mutant"
        )


#: Extra field of a run's record hash where the ``reconnect_runs_again`` mutant keeps the job.
_STASHED_JOB = "mutant_job"


def reconnect_runs_again() -> None:
    """Double charge on reconnect: a client's ``run.resume`` queues its run's job again under a
    new run id (``<request id>-again``), without admission, so the work runs and is billed a
    second time while the client follows the original run.

    The gateway keeps no job after queueing it, and the client may reconnect to any replica, so
    queueing also stashes the encoded job in the run's record hash in Redis, where every gateway
    process can read it back."""
    _require_parameters(AsyncRunStore.enqueue, ["self", "job"])
    _require_source(AsyncRunStore.__init__, "self._redis = client")
    _require_parameters(GatewaySession._dispatch, ["self", "message"])
    _require_source(GatewaySession.__init__, "self.tenant_id = tenant_id", "self._desk = desk")
    _require_source(GatewaySession._dispatch, "isinstance(message, ResumeRun)")
    _require_fields(RunJob, {"tenant_id", "run_id"})
    _require_fields(ResumeRun, {"request_id"})
    original_enqueue = AsyncRunStore.enqueue
    original_dispatch = GatewaySession._dispatch

    async def enqueue(self: AsyncRunStore, job: RunJob) -> None:
        record = keys.agent_run(job.tenant_id, job.run_id)
        await self._redis.hset(record, _STASHED_JOB, job.encode()["job"])
        await original_enqueue(self, job)

    async def dispatch(self: GatewaySession, message: Any) -> None:
        # Queued before the gateway answers, not after: a client that has its answer (and the
        # replayed result) could otherwise check its bill before the second job even exists,
        # and no check can wait for work nobody has queued yet.
        store = self._desk.store
        if (
            isinstance(message, ResumeRun)
            and await store.state(self.tenant_id, message.request_id) is not None
        ):
            record = keys.agent_run(self.tenant_id, message.request_id)
            stashed = await store._redis.hget(record, _STASHED_JOB)
            if not isinstance(stashed, bytes):
                raise RuntimeError(f"run {message.request_id} has no stashed job: mutant broken")
            job = RunJob.decode({b"job": stashed})
            await store.enqueue(replace(job, run_id=f"{job.run_id}-again"))
        await original_dispatch(self, message)

    AsyncRunStore.enqueue = enqueue  # type: ignore[method-assign]
    GatewaySession._dispatch = dispatch  # type: ignore[method-assign]


#: Attribute of a run's ``_RunEvents`` where ``bill_failed_runs`` adds up its finished calls' cost.
_FINISHED_COST = "_mutant_finished_cost"


@dataclass(frozen=True)
class _PartialOutcome:
    """What ``OrchestrationWorker._bill`` reads of a run's outcome: its model cost."""

    cost_micros: int


def bill_failed_runs() -> None:
    """Charging failed runs: a run whose model went down mid-way is billed the cost (plus
    margin) of the model calls that did finish, instead of nothing. Everything else stays as
    the platform does it: the quota unit and slot are refunded, the client is told the run
    failed (and, falsely now, that it was not charged).

    The worker learns each finished call's cost from the supervisor's progress reports
    (``_RunEvents.progress``), so that is where the mutant adds them up."""
    _require_parameters(_RunEvents.progress, ["self", "progress"])
    _require_parameters(OrchestrationWorker._fail, ["self", "job", "events", "exc"])
    _require_parameters(OrchestrationWorker._bill, ["self", "job", "outcome"])
    _require_source(OrchestrationWorker.execute, "events.progress", "self._fail(job, events, exc)")
    _require_source(OrchestrationWorker._bill, "outcome.cost_micros")
    _require_fields(Progress, {"state", "cost_micros"})
    original_progress = _RunEvents.progress
    original_fail = OrchestrationWorker._fail

    def counting_progress(self: _RunEvents, progress: Progress) -> None:
        if progress.state == "finished" and progress.cost_micros is not None:
            setattr(self, _FINISHED_COST, getattr(self, _FINISHED_COST, 0) + progress.cost_micros)
        original_progress(self, progress)

    def fail(self: OrchestrationWorker, job: RunJob, events: _RunEvents, exc: Exception) -> None:
        finished: int = getattr(events, _FINISHED_COST, 0)
        if finished:
            self._bill(job, cast(RunOutcome, _PartialOutcome(finished)))
        original_fail(self, job, events, exc)

    _RunEvents.progress = counting_progress  # type: ignore[method-assign]
    OrchestrationWorker._fail = fail  # type: ignore[method-assign]


MUTANTS: dict[str, Callable[[], None]] = {
    "quota_off_by_one": quota_off_by_one,
    "check_then_increment": check_then_increment,
    "bill_refused_requests": bill_refused_requests,
    "reconnect_runs_again": reconnect_runs_again,
    "bill_failed_runs": bill_failed_runs,
}


def apply(name: str) -> None:
    """Break the platform in this process the way mutant ``name`` does."""
    assert name in MUTANTS, f"no mutant {name!r}; known: {sorted(MUTANTS)}"
    MUTANTS[name]()
