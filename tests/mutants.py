"""Deliberate defects in the platform, to prove the tier feature catches them.

Each mutant is applied by monkeypatching inside a behave subprocess (see test_mutations.py);
the platform's code is never changed on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apex import enforcement, keys
from apex.billing import BillingEvent, BillingKind
from apex.clock import billing_period, epoch_millis
from apex.enforcement import Admission, Decision, TierEnforcer
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
        tier = r.get(keys.tenant_tier(tenant_id)).decode()
        limit, max_running = (int(v) for v in r.hget(keys.TIER_LIMITS, tier).decode().split(":"))
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


MUTANTS: dict[str, Callable[[], None]] = {
    "quota_off_by_one": quota_off_by_one,
    "check_then_increment": check_then_increment,
    "bill_refused_requests": bill_refused_requests,
}


def run_behave_with(mutant: str, args: list[str]) -> int:
    MUTANTS[mutant]()
    from behave.__main__ import main

    return int(main(args))


if __name__ == "__main__":
    import sys

    sys.exit(run_behave_with(sys.argv[1], sys.argv[2:]))
