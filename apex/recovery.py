"""Rebuilding what the platform keeps in Redis after the store lost its data.

PostgreSQL is the record (tenants and their tiers, the ledger, runs and their admissions, the
usage outbox); Redis holds working copies (the tier catalog, each tenant's tier, quota counters
and slots, the job and usage streams and their groups, the published test clock). Redis
restarted with its data changes nothing; Redis restarted empty is detected by the absence of
the *store generation* (``keys.STORE_GENERATION``), and rebuilt:

* platform-wide, once, by whichever process gets there first (:class:`StoreRecovery`, run at
  start and by every process's upkeep loop): the published clock (the last instant this process
  read, written only if nobody published one since), the consumer groups, a job for every run
  admitted and not finished (``agent_runs`` in PostgreSQL: the run is resumed from its
  checkpoints and billed once), then the tier catalog and a new generation in one transaction.
  Until then health reports not ready, and no request is admitted (an admission without the
  catalog is refused as retryable);
* per tenant, before its first admission (:class:`DurableAdmissions`, called by the tier
  enforcer when it finds no tier for a tenant): its tier from ``tenants``, and its quota counter
  for the period from the ledger plus the units of its runs admitted and not yet billed, each of
  those runs holding its slot and its admission (so a failure still refunds it). So no tenant
  gets more than it paid for, and a tenant is never refused as unknown because Redis forgot it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from psycopg_pool import ConnectionPool

from apex import keys
from apex.clock import Clock, RedisClock
from apex.enforcement import DurableTenant, TierEnforcer
from apex.errors import ClockNotPublished, ServiceUnavailable
from apex.runs import RunJob
from apex.streams import ConsumerGroup, LoopHealth, SupervisedLoops
from apex.tenancy.session import tenant_transaction

log = logging.getLogger(__name__)

_STORE_DOWN = (redis.ConnectionError, redis.TimeoutError)
#: a rebuild that takes longer than this (its process died) is started again by another
_REBUILD_LOCK_MS = 10_000
_JOBS_MAX_LEN = 100_000


class DurableAdmissions:
    """A tenant's enforcement state as PostgreSQL records it (acting for that tenant)."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self._pool = pool

    def tenant(self, tenant_id: str, period: str) -> DurableTenant | None:
        with tenant_transaction(self._pool, tenant_id) as conn:
            row = conn.execute(
                f"SELECT tier FROM {keys.TENANTS_TABLE} WHERE tenant_id = %s", (tenant_id,)
            ).fetchone()
            if row is None:
                return None
            billed = conn.execute(
                f"SELECT coalesce(sum(units), 0) FROM {keys.BILLING_EVENTS_TABLE}"
                " WHERE tenant_id = %s AND period = %s",
                (tenant_id, period),
            ).fetchone()
            in_flight = conn.execute(
                f"SELECT r.run_id, r.units FROM {keys.AGENT_RUNS_TABLE} AS r"
                " WHERE r.tenant_id = %s AND r.period = %s AND r.units IS NOT NULL"
                " AND r.state IN ('queued', 'running')"
                f" AND NOT EXISTS (SELECT 1 FROM {keys.BILLING_EVENTS_TABLE} AS b"
                "   WHERE b.tenant_id = r.tenant_id AND b.kind = 'agent_run'"
                "   AND b.reference_id = r.run_id)",
                (tenant_id, period),
            ).fetchall()
        runs = {str(run_id): int(units) for run_id, units in in_flight}
        used = int(billed[0] if billed else 0) + sum(runs.values())
        return DurableTenant(str(row[0]), period, used, runs)


@dataclass(frozen=True, slots=True)
class RebuildReport:
    rebuilt: bool
    runs_requeued: int = 0


class StoreRecovery:
    """The platform-wide part of the rebuild; safe to call from every process, often."""

    def __init__(
        self, client: redis.Redis, pool: ConnectionPool[Any], enforcer: TierEnforcer,
        clock: Clock, namespace: str,
    ) -> None:
        self._redis = client
        self._pool = pool
        self._enforcer = enforcer
        self._clock = clock
        self._namespace = namespace

    def ready(self) -> bool:
        """What health reports: the store holds what the platform needs."""
        return self._has_generation()

    def ensure(self) -> RebuildReport:
        """Rebuild the store if it has no generation and no other process is rebuilding it."""
        if self._has_generation():
            if isinstance(self._clock, RedisClock):
                with contextlib.suppress(ClockNotPublished):
                    self._clock.now()  # remembered, to publish again if the store loses it
            return RebuildReport(rebuilt=False)
        token = uuid.uuid4().hex
        if not self._redis.set(keys.STORE_REBUILDING, token, nx=True, px=_REBUILD_LOCK_MS):
            return RebuildReport(rebuilt=False)
        try:
            if self._has_generation():  # another process finished between the two checks
                return RebuildReport(rebuilt=False)
            log.info("the store has no generation (new, or it lost its data): rebuilding")
            if isinstance(self._clock, RedisClock):
                self._clock.restore()
            for stream, group in self._groups():
                ConsumerGroup(self._redis, stream, group, "rebuild").ensure()
            requeued = self._requeue_runs_in_flight()
            self._enforcer.publish_catalog(generation=token)
            log.info("store rebuilt (generation %s, %d run(s) queued again)", token, requeued)
            return RebuildReport(rebuilt=True, runs_requeued=requeued)
        finally:
            self._redis.eval(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end",
                1, keys.STORE_REBUILDING, token,
            )

    def _has_generation(self) -> bool:
        try:
            return bool(self._redis.exists(keys.STORE_GENERATION))
        except _STORE_DOWN as exc:
            raise ServiceUnavailable("the store is unreachable") from exc

    def _groups(self) -> list[tuple[str, str]]:
        return [
            (keys.run_jobs(self._namespace), keys.RUN_WORKERS_GROUP),
            (keys.USAGE_STREAM, keys.USAGE_SINK_GROUP),
        ]

    def _requeue_runs_in_flight(self) -> int:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT tenant_id, run_id, tier, period, units, task FROM apex_runs_in_flight()"
            ).fetchall()
        stream = keys.run_jobs(self._namespace)
        for tenant_id in sorted({str(row[0]) for row in rows}):
            # its quota counter, slots and admissions first, so the runs count and can refund
            self._enforcer.restore_tenant(tenant_id)
        for tenant_id, run_id, tier, period, units, task in rows:
            job = RunJob(tenant_id, run_id, tier, period, int(units), task)
            self._redis.xadd(stream, job.encode(), maxlen=_JOBS_MAX_LEN, approximate=True)  # type: ignore[arg-type]
        return len(rows)


class Upkeep:
    """A process's background upkeep, on a supervised loop of its own: rebuild the store when
    it lost its data, and (where given) relay the usage outbox."""

    def __init__(
        self, name: str, recovery: StoreRecovery, relay: Callable[[], int] | None = None, *,
        poll: timedelta = timedelta(milliseconds=100),
    ) -> None:
        self._recovery = recovery
        self._relay = relay
        self._poll = poll.total_seconds()
        self._stop = threading.Event()
        self._loops = SupervisedLoops(f"{name}-upkeep", 1, self._iteration)
        self._thread = threading.Thread(
            target=self._loops.run, args=(self._stop,), name=f"{name}-upkeep", daemon=True
        )

    def start(self) -> Upkeep:
        self._thread.start()
        return self

    def health(self) -> LoopHealth:
        return self._loops.health()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _iteration(self, _loop: str) -> None:
        self._recovery.ensure()
        moved = self._relay() if self._relay is not None else 0
        if not moved:
            self._stop.wait(self._poll)
