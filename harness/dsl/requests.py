"""Requests and runs against the tier enforcer, in business words."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial

from apex.errors import InvalidInput
from apex.requests import RefusalReason, RequestResult
from harness.drivers.in_process import InProcessDriver
from harness.dsl.evidence import business_step
from harness.dsl.world import World

_REASONS = {
    "the monthly quota is used": RefusalReason.QUOTA_EXHAUSTED,
    "the tier's runs at once are all in use": RefusalReason.CONCURRENCY_LIMIT,
    "temporarily unavailable": RefusalReason.SERVICE_UNAVAILABLE,
}


def reason_named(words: str) -> RefusalReason:
    try:
        return _REASONS[words]
    except KeyError:
        raise AssertionError(f"no refusal reason is called {words!r}") from None


class RequestsDsl:
    def __init__(self, world: World) -> None:
        self._world = world

    # -- Given ------------------------------------------------------------------------------

    def runs_in_progress(self, name: str, count: int) -> None:
        """Start ``count`` runs for ``name`` and keep them running (slots held)."""
        with business_step(f"{name} has {count} runs in progress", self._seen):
            results = self._submit_many(name, count, parallel=False)
            admitted = [r for r in results if r.admitted]
            assert len(admitted) == count, f"only {len(admitted)} of {count} runs started"

    def one_run_finished(self, name: str) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        with business_step(f"one of {name}'s runs finishes"):
            run_id = self._world.runs[tenant_id].pop(0)
            self._world.driver_for(tenant_id).finish_run(tenant_id, run_id)

    def worker_crashed(self, name: str) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        with business_step(f"the worker of one of {name}'s runs crashes"):
            self._world.crashed.add(self._world.runs[tenant_id][0])

    def time_passes(self, seconds: int) -> None:
        """Time passes; every run whose worker is alive renews its lease as it goes."""
        with business_step(f"{seconds} seconds pass"):
            step = timedelta(seconds=min(seconds, 10) or 1)
            remaining = timedelta(seconds=seconds)
            while remaining > timedelta(0):
                moved = min(step, remaining)
                self._world.clock.advance(moved)
                remaining -= moved
                self._heartbeat()

    def quota_store_unreachable(self) -> None:
        with business_step("the quota store becomes unreachable"):
            driver, link = self._world.platform.replica_behind_link()
            self._world.add_cleanup(link.close)
            self._world.add_cleanup(driver.close)
            self._world.route = driver
            self._world.links.append(link)
            link.cut()

    def quota_used_once_store_back(self, name: str, expected: int) -> None:
        with business_step("the quota store is reachable again"):
            for link in self._world.links:
                link.restore()
        self.quota_used_is(name, expected)

    def platform_instances(self, count: int) -> None:
        with business_step(f"the platform runs as {count} instances sharing the stores"):
            assert count >= 1, "at least one platform instance runs"
            self._world.replica_count = count

    # -- When -------------------------------------------------------------------------------

    def make_requests(self, name: str, count: int) -> None:
        with business_step(f"{name} makes {count} requests", self._seen):
            self._world.results = self._submit_many(name, count, parallel=False, finish=True)

    def start_runs_at_once(self, name: str, count: int) -> None:
        with business_step(f"{name} starts {count} runs at the same time", self._seen):
            self._world.results = self._submit_many(name, count, parallel=True)

    def start_runs(self, name: str, count: int) -> None:
        with business_step(f"{name} starts {count} runs", self._seen):
            self._world.results = self._submit_many(name, count, parallel=False)

    def same_request_repeated(self, name: str, times: int) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        request_id = self._world.aliases.request_id()
        driver = self._world.driver_for(tenant_id)
        with business_step(f"{name} sends the same request {times} times", self._seen):
            self._world.results = [driver.submit(tenant_id, request_id) for _ in range(times)]
            driver.finish_run(tenant_id, request_id)

    def requests_from_tenants(self, counts: dict[str, int]) -> None:
        shown = ", ".join(f"{name} {count}" for name, count in counts.items())
        with business_step(f"the tenants make requests: {shown}", self._seen):
            self._world.results = []
            for name, count in counts.items():
                self._world.results += self._submit_many(name, count, parallel=False, finish=True)

    def simultaneous_across_replicas(self, name: str, count: int) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        replicas = self._world.replica_count
        title = f"{count} requests from {name} arrive at once over {replicas} instances"
        with business_step(title, self._seen):
            drivers = [self._world.platform.replica() for _ in range(replicas)]
            for driver in drivers:
                self._world.add_cleanup(driver.close)
            jobs = [
                (drivers[i % replicas], self._world.aliases.request_id()) for i in range(count)
            ]
            self._world.results = _at_once([partial(d.submit, tenant_id, r) for d, r in jobs])

    def raw_request(self, tenant_id: str, units: int = 1) -> None:
        """A request exactly as a client sent it: the tenant id is not an alias."""
        with business_step(f"a request arrives for tenant id {tenant_id!r}, batch {units}"):
            self._send_expecting_error(tenant_id, units)

    def batch_request(self, name: str, units: int) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        with business_step(f"a request arrives from {name} as a batch of {units}"):
            self._send_expecting_error(tenant_id, units)

    # -- Then -------------------------------------------------------------------------------

    def admitted_count(self, expected: int) -> None:
        admitted = sum(1 for r in self._world.results if r.admitted)
        with business_step(f"{expected} requests are admitted", self._seen):
            assert admitted == expected, (
                f"expected {expected} admitted, {admitted} were ({self._summary()})"
            )

    def refused_count(self, expected: int, reason: RefusalReason) -> None:
        refused = [r for r in self._world.results if not r.admitted]
        with business_step(f"{expected} requests are refused: {reason.value}", self._seen):
            assert len(refused) == expected, (
                f"expected {expected} refused, {len(refused)} were ({self._summary()})"
            )
            wrong = [r for r in refused if r.reason is not reason]
            assert not wrong, f"refused for another reason than {reason.value}: {wrong}"

    def all_admitted(self, expected: int) -> None:
        with business_step(f"all {expected} requests are admitted", self._seen):
            assert len(self._world.results) == expected, self._summary()
        self.admitted_count(expected)

    def all_refused(self, expected: int, reason: RefusalReason) -> None:
        with business_step(f"all {expected} requests are refused", self._seen):
            assert len(self._world.results) == expected, self._summary()
        self.refused_count(expected, reason)
        if reason is RefusalReason.SERVICE_UNAVAILABLE:
            with business_step("each refusal says to retry later", self._seen):
                for result in self._world.results:
                    assert result.retryable, f"refusal not marked retryable: {result}"
                    assert "retry" in result.message, f"message gives no advice: {result}"

    def nth_admitted(self, position: int) -> None:
        result = self._nth(position)
        with business_step(f"request {position} is admitted", self._seen):
            assert result.admitted, f"request {position} was refused: {result.message}"

    def nth_refused_with_offer(self, position: int, offer: str) -> None:
        result = self._nth(position)
        with business_step(f"request {position} is refused, offering {offer}", self._seen):
            assert not result.admitted, f"request {position} was admitted: {result}"
            assert result.reason is RefusalReason.QUOTA_EXHAUSTED, f"wrong reason: {result}"
            assert result.offer == offer, f"offered {result.offer!r}, expected {offer!r}"
            assert offer in result.message, f"the message does not name {offer}: {result.message}"

    def rejected_as_invalid(self, problem: str) -> None:
        error = self._world.take_error()
        title = f"the request is rejected as invalid ({problem})"
        with business_step(title, lambda: repr(error)):
            assert isinstance(error, InvalidInput), f"expected invalid input, got {error!r}"
            assert problem in str(error), f"the error does not name the {problem}: {error}"

    def quota_used_is(self, name: str, expected: int) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        used = self._world.platform.primary.quota_used(tenant_id)
        with business_step(f"{name} has used {expected:,} requests this period", lambda: used):
            assert used == expected, (
                f"{name} ({tenant_id}) has used {used:,}, expected {expected:,}"
            )

    # -- internals --------------------------------------------------------------------------

    def _submit_many(
        self, name: str, count: int, *, parallel: bool, finish: bool = False
    ) -> list[RequestResult]:
        tenant_id = self._world.aliases.known_tenant(name)
        driver = self._world.driver_for(tenant_id)
        ids = [self._world.aliases.request_id() for _ in range(count)]
        calls = [partial(driver.submit, tenant_id, r) for r in ids]
        results = _at_once(calls) if parallel else [call() for call in calls]
        for result in results:
            if result.admitted:
                if finish:
                    driver.finish_run(tenant_id, result.request_id)
                else:
                    self._world.runs.setdefault(tenant_id, []).append(result.request_id)
        return results

    def _send_expecting_error(self, tenant_id: str, units: int) -> None:
        self._world.error = None
        self._world.results = []
        try:
            self._world.results = [
                self._world.platform.primary.submit(
                    tenant_id, self._world.aliases.request_id(), units
                )
            ]
        except InvalidInput as exc:
            self._world.error = exc

    def _heartbeat(self) -> None:
        for tenant_id, runs in self._world.runs.items():
            driver: InProcessDriver = self._world.driver_for(tenant_id)
            for run_id in runs:
                if run_id not in self._world.crashed:
                    driver.keep_alive(tenant_id, run_id)

    def _nth(self, position: int) -> RequestResult:
        assert len(self._world.results) >= position, (
            f"only {len(self._world.results)} requests were made, no request {position}"
        )
        return self._world.results[position - 1]

    def _summary(self) -> str:
        counts = Counter(
            "admitted" if r.admitted else f"refused ({r.reason})" for r in self._world.results
        )
        return ", ".join(f"{n} {what}" for what, n in counts.items()) or "no requests"

    def _seen(self) -> object:
        return {"tenants": self._world.aliases.names(), "results": self._world.results}


def _at_once(calls: Sequence[Callable[[], RequestResult]]) -> list[RequestResult]:
    """Run the calls on as many threads, released together, results in call order."""
    barrier = threading.Barrier(len(calls))

    def released(call: Callable[[], RequestResult]) -> RequestResult:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(released, calls))
