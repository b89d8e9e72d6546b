"""Tier enforcement: monthly request quota and concurrent-run slots, decided atomically in Redis.

Every decision is one EVALSHA of ``lua/admit.lua``: check and increment happen inside Redis, so
any number of platform replicas sharing one Redis can never admit more than the quota. Slots are
leases with an expiry; a worker renews its lease while it runs, and a crashed worker's slot frees
itself when the lease runs out. A refused request changes nothing.

Redis holds working copies; PostgreSQL the record. A tenant the store does not hold (it lost its
data) is restored from its records before its next admission is decided (``restore.lua``, the
records read by ``apex.recovery.DurableAdmissions``): its tier, and its quota counter from the
ledger plus its runs admitted and not yet billed, which keep their slots and admissions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from importlib import resources
from typing import Any

import redis
from redis.commands.core import AsyncScript, Script

from apex import keys
from apex.catalog import TIERS
from apex.clock import Clock, billing_period, epoch_millis
from apex.errors import ServiceUnavailable, UnknownTenant

_REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)


class Decision(StrEnum):
    ADMITTED = "admitted"
    DUPLICATE = "duplicate"
    QUOTA_EXHAUSTED = "quota"
    CONCURRENCY_LIMIT = "concurrency"


@dataclass(frozen=True, slots=True)
class Admission:
    decision: Decision
    tenant_id: str
    request_id: str
    tier: str
    period: str
    units: int
    quota_used: int
    quota_limit: int
    running: int
    max_running: int

    @property
    def admitted(self) -> bool:
        return self.decision is Decision.ADMITTED


@dataclass(frozen=True, slots=True)
class DurableTenant:
    """A tenant's enforcement state as its durable records give it (``apex.recovery``)."""

    tier: str
    period: str
    #: units of the period's quota used: billed, plus those of runs admitted and not yet billed
    used: int
    #: run id -> units, of the runs admitted and not yet billed
    in_flight: dict[str, int] = field(default_factory=dict)


#: reads a tenant's durable state for a billing period (None: no such tenant)
DurableReader = Callable[[str, str], DurableTenant | None]


def _script(name: str) -> str:
    return (resources.files("apex") / "lua" / name).read_text(encoding="utf-8")


class TierEnforcer:
    """Admission control for one tenant's requests; safe to share between threads."""

    def __init__(
        self,
        client: redis.Redis,
        clock: Clock,
        *,
        lease: timedelta = timedelta(seconds=30),
        admission_memory: timedelta = timedelta(days=35),
        durable: DurableReader | None = None,
    ) -> None:
        self._redis = client
        self._durable = durable
        self._clock = clock
        self._lease = lease
        self._admission_memory = admission_memory
        self._admit: Script | AsyncScript = client.register_script(_script("admit.lua"))
        self._refund: Script | AsyncScript = client.register_script(_script("refund.lua"))
        self._renew: Script | AsyncScript = client.register_script(_script("renew.lua"))
        self._restore: Script | AsyncScript = client.register_script(_script("restore.lua"))

    @property
    def lease(self) -> timedelta:
        return self._lease

    def publish_catalog(self, generation: str | None = None) -> None:
        """Copy the tier limits the Lua script needs into Redis (idempotent); with
        ``generation``, mark the store rebuilt in the same transaction (``apex.recovery``)."""
        limits = {t.name: f"{t.requests_per_month}:{t.concurrent_runs}" for t in TIERS.values()}
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(keys.TIER_LIMITS, mapping=limits)  # type: ignore[arg-type]
        if generation is not None:
            pipe.set(keys.STORE_GENERATION, generation, nx=True)
        self._call(pipe.execute)

    def set_tier(self, tenant_id: str, tier: str, *, only_if_present: bool = False) -> None:
        """The tenant's tier for enforcement. ``only_if_present``: a tenant the store does not
        hold (it lost its data) is left to be restored, with its counters, at its next
        admission, rather than given a tier and no counters."""
        self._call(self._redis.set, keys.tenant_tier(tenant_id), tier, xx=only_if_present)

    def admit(self, tenant_id: str, request_id: str, units: int = 1) -> Admission:
        admission = self._admit_once(tenant_id, request_id, units)
        if admission is None and self._restored(tenant_id):
            admission = self._admit_once(tenant_id, request_id, units)
        if admission is None:
            raise UnknownTenant(f"no tenant {tenant_id!r} is subscribed")
        return admission

    def restore_tenant(self, tenant_id: str) -> bool:
        """Restore the tenant's tier, quota counter, slots and admissions from its durable
        records, unless the store holds its tier; False if it has no records (unknown)."""
        return self._restored(tenant_id)

    def _restored(self, tenant_id: str) -> bool:
        """Restore a tenant the store does not hold from its durable records; False if it has
        none (it is unknown)."""
        if self._durable is None:
            return False
        now = self._clock.now()
        try:
            found = self._durable(tenant_id, billing_period(now))
        except Exception as exc:
            raise ServiceUnavailable(
                "the tenant's records are unreachable; nothing was admitted or billed,"
                " retry shortly"
            ) from exc
        if found is None:
            return False
        runs = sorted(found.in_flight)
        self._call(
            self._restore,
            keys=[
                keys.tenant_tier(tenant_id), keys.quota_used(tenant_id, found.period),
                keys.run_leases(tenant_id), *(keys.admission(tenant_id, r) for r in runs),
            ],
            args=[
                found.tier, found.used, int(timedelta(days=62).total_seconds()),
                epoch_millis(now + self._lease), int(self._admission_memory.total_seconds()),
                *runs,
            ],
        )
        return True

    def _admit_once(self, tenant_id: str, request_id: str, units: int) -> Admission | None:
        """The decision, or None if the store holds no tier for the tenant."""
        now = self._clock.now()
        period = billing_period(now)
        quota_ttl = int(timedelta(days=62).total_seconds())
        raw: Any = self._call(
            self._admit,
            keys=[
                keys.tenant_tier(tenant_id),
                keys.quota_used(tenant_id, period),
                keys.run_leases(tenant_id),
                keys.admission(tenant_id, request_id),
                keys.TIER_LIMITS,
            ],
            args=[
                epoch_millis(now),
                int(self._lease.total_seconds() * 1000),
                request_id,
                units,
                int(self._admission_memory.total_seconds()),
                quota_ttl,
            ],
        )
        status, tier, used, limit, running, max_running = (
            raw[0].decode(), raw[1].decode(), *(int(v) for v in raw[2:])
        )
        if status == "unknown_tenant":
            return None
        if status == "unknown_tier":
            raise ServiceUnavailable(
                f"tier {tier!r} has no published limits (the store is being rebuilt);"
                " nothing was admitted or billed, retry shortly"
            )
        return Admission(
            Decision(status), tenant_id, request_id, tier, period, units,
            used, limit, running, max_running,
        )

    def renew(self, tenant_id: str, run_id: str) -> bool:
        """Extend a running run's lease; False if the lease had already expired or ended."""
        now = self._clock.now()
        renewed = self._call(
            self._renew, keys=[keys.run_leases(tenant_id)],
            args=[epoch_millis(now), epoch_millis(now + self._lease), run_id],
        )
        return bool(renewed)

    def release(self, tenant_id: str, run_id: str) -> None:
        """A finished run frees its slot (its quota stays consumed)."""
        self._call(self._redis.zrem, keys.run_leases(tenant_id), run_id)

    def refund(self, admission: Admission) -> bool:
        """Give back the units and slot of an admission whose work was not delivered."""
        done = self._call(
            self._refund,
            keys=[
                keys.quota_used(admission.tenant_id, admission.period),
                keys.run_leases(admission.tenant_id),
                keys.admission(admission.tenant_id, admission.request_id),
            ],
            args=[admission.request_id, admission.units],
        )
        return bool(done)

    def quota_used(self, tenant_id: str, at: datetime | None = None) -> int:
        period = billing_period(at or self._clock.now())
        value = self._call(self._redis.get, keys.quota_used(tenant_id, period))
        return int(value or 0)

    def running(self, tenant_id: str) -> int:
        """Runs whose lease expires after now (a lease ending this millisecond has ended)."""
        now = epoch_millis(self._clock.now())
        return int(self._call(self._redis.zcount, keys.run_leases(tenant_id), f"({now}", "+inf"))

    @staticmethod
    def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _REDIS_DOWN as exc:
            raise ServiceUnavailable(
                "the quota store is unreachable; nothing was admitted or billed, retry shortly"
            ) from exc

