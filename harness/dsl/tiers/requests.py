"""Requests against the tier's quota and slots, in business words.

An admitted request holds one of the tier's slots ("runs at once") until it is released; the
scenario keeps the slots it holds renewed as time passes, unless the server holding one is said
to have crashed (it is then abandoned, and expires on its own).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import cast, get_args

from harness.drivers.tiers.contract import (
    Admission,
    InvalidRequest,
    NotSubscribed,
    RefusalReason,
    Store,
    TierInstance,
)
from harness.dsl.common.evidence import business_step
from harness.dsl.common.world import World
from harness.dsl.tiers.state import TiersState
from harness.dsl.tiers.subscriptions import SubscriptionsDsl

#: "nothing was billed", or "nothing was admitted or billed": either says it
_SAYS_NOTHING_BILLED = re.compile(r"nothing was (admitted or )?billed")


def reason_named(words: str) -> RefusalReason:
    try:
        return RefusalReason(words)
    except ValueError:
        known = ", ".join(repr(r.value) for r in RefusalReason)
        raise AssertionError(f"no refusal reason is called {words!r}; known: {known}") from None


class RequestsDsl:
    def __init__(self, world: World) -> None:
        self._world = world
        self._state = world.state(TiersState)

    # -- Given ------------------------------------------------------------------------------

    def tenant_holding_slots(self, name: str, tier: str, count: int) -> None:
        """A tenant on a tier with ``count`` requests in progress, each holding a slot."""
        SubscriptionsDsl(self._world).tenant_on_tier(name, tier)
        self.hold_slots(name, count)

    def hold_slots(self, name: str, count: int) -> None:
        """``count`` admitted requests of ``name`` stay in progress, holding their slots."""
        with business_step(f"{name} has {counted(count, 'run')} in progress", self._seen):
            results = self._submit_many(name, count, parallel=False)
            admitted = [r for r in results if r.admitted]
            assert len(admitted) == count, f"only {len(admitted)} of {count} runs started"

    def release_one_slot(self, name: str) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        with business_step(f"one of {name}'s runs finishes"):
            request_id = self._held(tenant_id).pop(0)
            self._instance().release_slot(tenant_id, request_id)

    def abandon_one_slot(self, name: str) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        with business_step(f"the worker of one of {name}'s runs crashes"):
            self._state.abandoned.add(self._held(tenant_id)[0])

    def late_renewal(self) -> None:
        """The worker said to have crashed comes back and renews its run's slot."""
        tenant_id, request_id = self._abandoned()
        with business_step("the crashed worker comes back and renews its run's slot"):
            self._state.late_renewal = self._instance().renew_slot(tenant_id, request_id)

    def late_renewal_refused(self) -> None:
        renewed = self._state.late_renewal
        with business_step("the renewal is refused, the slot being gone", lambda: renewed):
            assert renewed is not None, "no late renewal was tried"
            assert renewed is False, "the late worker's renewal was accepted"

    def time_passes(self, seconds: Decimal) -> None:
        """Time passes; every slot whose holder is alive is renewed as it goes."""
        with business_step(f"{seconds} seconds pass"):
            step = timedelta(seconds=10)
            remaining = timedelta(seconds=float(seconds))
            while remaining > timedelta(0):
                moved = min(step, remaining)
                self._world.clock.advance(moved)
                remaining -= moved
                self._renew_live_slots()

    def store_unreachable(self, store: str) -> None:
        known = get_args(Store)
        assert store in known, f"no store called {store!r}; known: {', '.join(known)}"
        with business_step(f"the {store} becomes unreachable"):
            instance, link = self._world.tiers.instance_with_cuttable_store(
                cast(Store, store)
            )
            self._world.add_cleanup(link.close)
            self._world.add_cleanup(instance.close)
            self._state.route = instance
            self._state.links.append(link)
            link.cut()

    def quota_used_once_store_back(self, name: str, expected: int) -> None:
        with business_step("the store is reachable again"):
            for link in self._state.links:
                link.restore()
        self.quota_used_is(name, expected)

    def platform_instances(self, count: int) -> None:
        with business_step(f"the platform runs as {count} instances sharing the stores"):
            assert count >= 1, "at least one platform instance runs"
            self._state.instance_count = count

    # -- When -------------------------------------------------------------------------------

    def make_requests(self, name: str, count: int) -> None:
        with business_step(f"{name} makes {counted(count, 'request')}", self._seen):
            self._state.results = self._submit_many(name, count, parallel=False, release=True)

    def take_slots_at_once(self, name: str, count: int) -> None:
        """``count`` requests at the same instant, each keeping the slot it is given."""
        with business_step(f"{name} starts {counted(count, 'run')} at the same time", self._seen):
            self._state.results = self._submit_many(name, count, parallel=True)

    def take_slots(self, name: str, count: int) -> None:
        """``count`` requests one after the other, each keeping the slot it is given."""
        with business_step(f"{name} starts {counted(count, 'run')}", self._seen):
            self._state.results = self._submit_many(name, count, parallel=False)

    def request_done(self, name: str) -> None:
        """A request of ``name`` admitted, billed and finished, before anything else happens."""
        tenant_id = self._world.aliases.known_tenant(name)
        request_id = self._world.aliases.request_id()
        with business_step(f"{name}'s request has been admitted and billed", self._seen):
            result = self._instance().submit(tenant_id, request_id)
            assert result.admitted, f"the request was not admitted: {_outcome(result)}"
            self._instance().release_slot(tenant_id, request_id)
            self._state.earlier_request = request_id

    def earlier_request_again(self, name: str) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        request_id = self._state.earlier_request
        assert request_id is not None, f"{name} has sent no request earlier in this scenario"
        with business_step(f"{name} sends the same request again", self._seen):
            self._state.results = [self._instance().submit(tenant_id, request_id)]

    def same_request_repeated(self, name: str, times: int) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        request_id = self._world.aliases.request_id()
        instance = self._instance()
        with business_step(f"{name} sends the same request {times} times", self._seen):
            self._state.results = [instance.submit(tenant_id, request_id) for _ in range(times)]
            instance.release_slot(tenant_id, request_id)

    def requests_from_tenants(self, counts: dict[str, int]) -> None:
        shown = ", ".join(f"{name} {count}" for name, count in counts.items())
        with business_step(f"the tenants make requests: {shown}", self._seen):
            self._state.results = []
            for name, count in counts.items():
                self._state.results += self._submit_many(
                    name, count, parallel=False, release=True
                )

    def simultaneous_across_instances(self, name: str, count: int) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        instances = self._state.instance_count
        title = f"{count} requests from {name} arrive at once over {instances} instances"
        with business_step(title, self._seen):
            started = [self._world.tiers.another_instance() for _ in range(instances)]
            for instance in started:
                self._world.add_cleanup(instance.close)
            jobs = [
                (started[i % instances], self._world.aliases.request_id()) for i in range(count)
            ]
            self._state.results = _at_once([partial(i.submit, tenant_id, r) for i, r in jobs])

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
        admitted = [r for r in self._state.results if r.admitted]
        with business_step(f"{_requests_are(expected)} admitted", self._seen):
            assert len(admitted) == expected, (
                f"expected {expected} requests admitted, {len(admitted)} were: {self._outcomes()}"
            )
            # an admission is plain: no refusal reason, no advice to retry, no offer
            confused = [r for r in admitted if r.reason or r.retryable or r.offer]
            assert not confused, f"admitted with a refusal's terms: {confused}"

    def refused_count(self, expected: int, reason: RefusalReason) -> None:
        refused = [r for r in self._state.results if not r.admitted]
        with business_step(f"{_requests_are(expected)} refused: {reason.value}", self._seen):
            assert len(refused) == expected, (
                f"expected {expected} requests refused, {len(refused)} were: {self._outcomes()}"
            )
            wrong = [r for r in refused if r.reason is not reason]
            assert not wrong, (
                f"expected every refusal for this reason: {reason.value}; "
                + "; ".join(_outcome(r) for r in wrong)
            )

    def all_admitted(self, expected: int) -> None:
        with business_step(f"{_all(expected)} admitted", self._seen):
            self._made(expected)
            self.admitted_count(expected)

    def all_refused(self, expected: int, reason: RefusalReason) -> None:
        with business_step(f"{_all(expected)} refused", self._seen):
            self._made(expected)
            self.refused_count(expected, reason)
            if reason is RefusalReason.UNAVAILABLE:
                with business_step("each refusal says to retry later", self._seen):
                    for result in self._state.results:
                        assert result.retryable, (
                            f"request {result.request_id} was refused without saying it may "
                            f"be retried: {result.message!r}"
                        )
                        assert "retry" in result.message, (
                            f"request {result.request_id} was refused without advice to retry "
                            f"later: {result.message!r}"
                        )

    def nth_admitted(self, position: int) -> None:
        result = self._nth(position)
        with business_step(f"request {position} is admitted", self._seen):
            assert result.admitted, f"expected request {position} admitted; {_outcome(result)}"

    def nth_refused_with_offer(self, position: int, offer: str) -> None:
        result = self._nth(position)
        with business_step(f"request {position} is refused, offering {offer}", self._seen):
            expected = f"expected request {position} refused because the monthly quota is used"
            assert not result.admitted, f"{expected}; {_outcome(result)}"
            assert result.reason is RefusalReason.QUOTA_USED, f"{expected}; {_outcome(result)}"
            assert result.offer == offer, (
                f"expected request {position} ({result.request_id}) to offer the {offer} tier; "
                f"it offered {result.offer or 'no tier'}"
            )
            assert offer in result.message, (
                f"expected the refusal of request {position} ({result.request_id}) to name the "
                f"{offer} tier; it said {result.message!r}"
            )

    def refusal_not_worth_retrying(self) -> None:
        """The one refused request's refusal tells the client that sending it again will not
        help (until the quota renews or the tenant upgrades)."""
        refused = [r for r in self._state.results if not r.admitted]
        with business_step("the refusal says not to send it again", self._seen):
            assert len(refused) == 1, f"expected one refused request; {self._outcomes()}"
            result = refused[0]
            assert not result.retryable, (
                f"expected the refusal of {result.request_id} to say sending it again will not "
                "help this billing period; it says to try again"
            )

    def refusals_say_retry(self) -> None:
        """Every refused request is marked as worth sending again (a slot frees itself)."""
        refused = [r for r in self._state.results if not r.admitted]
        with business_step("each refusal says to try again once a run has finished", self._seen):
            assert refused, "no request was refused"
            not_retryable = [r.request_id for r in refused if not r.retryable]
            assert not not_retryable, (
                f"expected every refusal marked to try again later; not marked: {not_retryable}"
            )

    def rejected_as_invalid(self, problem: str) -> None:
        error = self._state.error.take()
        title = f"the request is rejected as invalid ({problem})"
        with business_step(title, lambda: repr(error)):
            assert isinstance(error, InvalidRequest), (
                f"expected the request rejected as invalid ({problem}); "
                + ("it was not rejected" if error is None else f"it failed otherwise: {error}")
            )
            assert problem in str(error), (
                f"expected the rejection to name the {problem}; it said {str(error)!r}"
            )

    def in_progress(self, name: str, expected: int) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        held = self._world.tiers.slots_held(tenant_id)
        with business_step(f"{name} has {counted(expected, 'run')} in progress", lambda: held):
            assert held == expected, (
                f"{name} ({tenant_id}) holds {counted(held, 'slot')}, expected {expected}"
            )

    def request_for_unsubscribed(self) -> None:
        tenant_id = self._world.aliases.tenant("Nobody")
        self._state.unsubscribed = tenant_id
        with business_step("a request arrives for a tenant id that has no subscription"):
            self._state.error.put(None)
            try:
                self._world.tiers.submit(tenant_id, self._world.aliases.request_id())
            except NotSubscribed as exc:
                self._state.error.put(exc)

    def rejected_as_unsubscribed(self) -> None:
        error = self._state.error.take()
        tenant_id = self._state.unsubscribed
        used = self._world.tiers.quota_used(tenant_id) if tenant_id else None
        title = "it is rejected because the tenant has no subscription, and nothing is counted"
        with business_step(title, lambda: f"{error!r}; counted {used}"):
            assert isinstance(error, NotSubscribed), (
                "expected the request rejected for want of a subscription; "
                + ("it was not rejected" if error is None else f"it failed otherwise: {error}")
            )
            assert used == 0, f"{used} requests were counted for the unsubscribed tenant id"

    def refusals_say_nothing_billed(self) -> None:
        with business_step("each refusal says nothing was billed", self._seen):
            silent = [r for r in self._state.results if not _SAYS_NOTHING_BILLED.search(r.message)]
            assert not silent, f"refusals that do not say nothing was billed: {silent}"

    def nothing_in_progress(self, name: str) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        held = self._world.tiers.slots_held(tenant_id)
        with business_step(f"{name} has no requests in progress", lambda: held):
            assert held == 0, f"{name} ({tenant_id}) still holds {counted(held, 'slot')}"

    def quota_used_is(self, name: str, expected: int) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        used = self._world.tiers.quota_used(tenant_id)
        title = f"{name} has used {counted(expected, 'request')} this period"
        with business_step(title, lambda: used):
            assert used == expected, (
                f"{name} ({tenant_id}) has used {used:,}, expected {expected:,}"
            )

    # -- internals --------------------------------------------------------------------------

    def _instance(self) -> TierInstance:
        """The instance requests go to: the one a Given chose, or the primary."""
        return self._state.route or self._world.tiers

    def _held(self, tenant_id: str) -> list[str]:
        held = self._state.slots_held.get(tenant_id)
        assert held, f"{tenant_id} holds no slot in this scenario"
        return held

    def _submit_many(
        self, name: str, count: int, *, parallel: bool, release: bool = False
    ) -> list[Admission]:
        tenant_id = self._world.aliases.known_tenant(name)
        instance = self._instance()
        ids = [self._world.aliases.request_id() for _ in range(count)]
        calls = [partial(instance.submit, tenant_id, r) for r in ids]
        results = _at_once(calls) if parallel else [call() for call in calls]
        for result in results:
            if result.admitted:
                if release:
                    instance.release_slot(tenant_id, result.request_id)
                else:
                    self._state.slots_held.setdefault(tenant_id, []).append(result.request_id)
        return results

    def _send_expecting_error(self, tenant_id: str, units: int) -> None:
        self._state.error.put(None)
        self._state.results = []
        try:
            self._state.results = [
                self._world.tiers.submit(tenant_id, self._world.aliases.request_id(), units)
            ]
        except InvalidRequest as exc:
            self._state.error.put(exc)

    def _renew_live_slots(self) -> None:
        instance = self._instance()
        for tenant_id, held in self._state.slots_held.items():
            for request_id in held:
                if request_id not in self._state.abandoned:
                    assert instance.renew_slot(tenant_id, request_id), (
                        f"the live run {request_id} of {tenant_id} was told its slot is gone"
                    )

    def _abandoned(self) -> tuple[str, str]:
        for tenant_id, held in self._state.slots_held.items():
            for request_id in held:
                if request_id in self._state.abandoned:
                    return tenant_id, request_id
        raise AssertionError("no run's worker has crashed in this scenario")

    def _nth(self, position: int) -> Admission:
        assert len(self._state.results) >= position, (
            f"only {len(self._state.results)} requests were made, no request {position}"
        )
        return self._state.results[position - 1]

    def _made(self, expected: int) -> None:
        made = len(self._state.results)
        assert made == expected, f"expected {expected} requests made, {made} were"

    def _outcomes(self) -> str:
        """Each request's outcome in the feature's words, with its id."""
        return "; ".join(
            f"request {n}: {_outcome(r)}" for n, r in enumerate(self._state.results, 1)
        ) or "no requests were made"

    def _seen(self) -> object:
        return {"tenants": self._world.aliases.names(), "results": self._state.results}


def counted(count: int, noun: str) -> str:
    """"1 request", "2 requests", "1,000 requests"."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def _requests_are(count: int) -> str:
    return f"{counted(count, 'request')} {'is' if count == 1 else 'are'}"


def _all(count: int) -> str:
    """The subject of "all 5 requests are ...", or "the request is ..." for one."""
    return "the request is" if count == 1 else f"all {count:,} requests are"


def _outcome(result: Admission) -> str:
    """One answer in the feature's words, with the request's id."""
    if result.admitted:
        return f"{result.request_id} was admitted"
    reason = result.reason.value if result.reason else "no reason given"
    return f"{result.request_id} was refused ({reason})"


def _at_once(calls: Sequence[Callable[[], Admission]]) -> list[Admission]:
    """Run the calls on as many threads, released together, results in call order."""
    barrier = threading.Barrier(len(calls))

    def released(call: Callable[[], Admission]) -> Admission:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(released, calls))
