"""The run record and its event log in PostgreSQL, one tenant transaction per call.

Row-level security confines every statement to the tenant it acts for. Each appended event
gets ``last_seq + 1`` from the same statement that stores it (the run's row is locked for the
update), and a notification on :data:`EVENTS_CHANNEL` tells followers to read. An event may
carry an effect key, unique in its run, so that emitting it again stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from apex import keys
from apex.clock import Clock
from apex.runs.model import RunEvent, RunEventKind, RunJob, RunState
from apex.tenancy.session import tenant_transaction

#: PostgreSQL notification channel; the payload is ``<tenant id>/<run id>``.
EVENTS_CHANNEL = "apex_run_events"
#: A request id left deciding this long (its gateway died mid-decision) may be claimed again.
STALE_DECISION_SECONDS = 30

_RUNS = keys.AGENT_RUNS_TABLE
_EVENTS = keys.RUN_EVENTS_TABLE


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming a request id for a new run."""

    #: True if this call holds the decision (the id was new, or free again after a refusal)
    won: bool
    state: RunState
    #: the refusal a refused request id was answered with (state REFUSED only)
    refusal: dict[str, Any] | None = None


class RunLog:
    def __init__(self, pool: ConnectionPool[Any], clock: Clock) -> None:
        self._pool = pool
        self._clock = clock

    # -- gateway: claiming and deciding ------------------------------------------------------

    def claim(self, tenant_id: str, run_id: str, task: str) -> Claim:
        now = self._clock.now()
        with tenant_transaction(self._pool, tenant_id) as conn:
            created = conn.execute(
                f"INSERT INTO {_RUNS} (tenant_id, run_id, state, task, claimed_at, created_at,"
                " updated_at) VALUES (%s, %s, %s, %s, clock_timestamp(), %s, %s)"
                " ON CONFLICT (tenant_id, run_id) DO NOTHING RETURNING run_id",
                (tenant_id, run_id, RunState.DECIDING.value, task, now, now),
            ).fetchone()
            if created is not None:
                return Claim(True, RunState.DECIDING)
            reclaimed = conn.execute(
                f"UPDATE {_RUNS} SET state = %s, task = %s, refusal = NULL,"
                " claimed_at = clock_timestamp(), updated_at = %s"
                " WHERE tenant_id = %s AND run_id = %s AND (state = %s OR (state = %s AND"
                f" claimed_at < clock_timestamp() - interval '{STALE_DECISION_SECONDS} seconds'))"
                " RETURNING run_id",
                (
                    RunState.DECIDING.value, task, now, tenant_id, run_id,
                    RunState.REFUSED.value, RunState.DECIDING.value,
                ),
            ).fetchone()
            if reclaimed is not None:
                return Claim(True, RunState.DECIDING)
        found = self.decision(tenant_id, run_id)
        assert found is not None, "a claimed run cannot vanish"
        return found

    def decision(self, tenant_id: str, run_id: str) -> Claim | None:
        """Where a claimed request id stands (never won by this call), or None if unclaimed."""
        with tenant_transaction(self._pool, tenant_id) as conn:
            row = conn.execute(
                f"SELECT state, refusal FROM {_RUNS} WHERE tenant_id = %s AND run_id = %s",
                (tenant_id, run_id),
            ).fetchone()
        if row is None:
            return None
        return Claim(False, RunState(row[0]), row[1])

    def admitted(self, job: RunJob) -> None:
        """The decision: admitted, queued with the admission's tier, period and units."""
        self._decide(
            job.tenant_id, job.run_id, "state = %s, tier = %s, period = %s, units = %s",
            (RunState.QUEUED.value, job.tier, job.period, job.units),
        )

    def refused(self, tenant_id: str, run_id: str, refusal: dict[str, Any]) -> None:
        """The decision: refused (the request id is free to be decided afresh)."""
        self._decide(
            tenant_id, run_id, "state = %s, refusal = %s",
            (RunState.REFUSED.value, Jsonb(refusal)),
            # queued too: a run admitted whose job could not be queued is withdrawn
            undecided=(RunState.DECIDING, RunState.QUEUED),
        )

    # -- worker: state and events ------------------------------------------------------------

    def set_state(self, tenant_id: str, run_id: str, state: RunState) -> None:
        with tenant_transaction(self._pool, tenant_id) as conn:
            conn.execute(
                f"UPDATE {_RUNS} SET state = %s, updated_at = %s"
                " WHERE tenant_id = %s AND run_id = %s",
                (state.value, self._clock.now(), tenant_id, run_id),
            )

    def append(
        self, tenant_id: str, run_id: str, kind: RunEventKind, body: dict[str, Any],
        *, state: RunState | None = None, effect: str | None = None,
    ) -> RunEvent:
        """Store the run's next event (and its new state, if given) in one statement.

        ``effect`` names what the event records, once per run ("step:3:finished"): if an event
        with that key is stored already (a worker that took the run over emits it again), that
        event is returned and nothing is stored, so the log has no duplicate and no gap."""
        if effect is not None and (found := self._effect(tenant_id, run_id, effect)) is not None:
            return found
        try:
            return self._append(tenant_id, run_id, kind, body, state, effect)
        except UniqueViolation:  # another worker stored the same effect in the meantime
            assert effect is not None, "only effect keys are unique among a run's events"
            stored = self._effect(tenant_id, run_id, effect)
            assert stored is not None, "an effect just stored cannot vanish"
            return stored

    def _append(
        self, tenant_id: str, run_id: str, kind: RunEventKind, body: dict[str, Any],
        state: RunState | None, effect: str | None,
    ) -> RunEvent:
        now = self._clock.now()
        with tenant_transaction(self._pool, tenant_id) as conn:
            row = conn.execute(
                f"WITH bumped AS (UPDATE {_RUNS} SET last_seq = last_seq + 1,"
                " state = coalesce(%s, state), updated_at = %s"
                " WHERE tenant_id = %s AND run_id = %s RETURNING last_seq)"
                f" INSERT INTO {_EVENTS} (tenant_id, run_id, seq, kind, body, at, effect)"
                " SELECT %s, %s, last_seq, %s, %s, %s, %s FROM bumped RETURNING seq",
                (
                    state.value if state else None, now, tenant_id, run_id,
                    tenant_id, run_id, kind.value, Jsonb(body), now, effect,
                ),
            ).fetchone()
            if row is None:
                raise LookupError(f"run {run_id} of {tenant_id} has no record")
            conn.execute("SELECT pg_notify(%s, %s)", (EVENTS_CHANNEL, f"{tenant_id}/{run_id}"))
        return RunEvent(run_id, int(row[0]), kind, body)

    def _effect(self, tenant_id: str, run_id: str, effect: str) -> RunEvent | None:
        with tenant_transaction(self._pool, tenant_id) as conn:
            row = conn.execute(
                f"SELECT seq, kind, body FROM {_EVENTS}"
                " WHERE tenant_id = %s AND run_id = %s AND effect = %s",
                (tenant_id, run_id, effect),
            ).fetchone()
        if row is None:
            return None
        return RunEvent(run_id, int(row[0]), RunEventKind(row[1]), row[2])

    # -- reads ------------------------------------------------------------------------------

    def event_for(self, tenant_id: str, run_id: str, effect: str) -> RunEvent | None:
        """The run's event stored under the effect key ``effect``, or None."""
        return self._effect(tenant_id, run_id, effect)

    def state(self, tenant_id: str, run_id: str) -> tuple[RunState, int] | None:
        """An admitted run's state and last event number; None if no run was admitted."""
        with tenant_transaction(self._pool, tenant_id) as conn:
            row = conn.execute(
                f"SELECT state, last_seq FROM {_RUNS} WHERE tenant_id = %s AND run_id = %s",
                (tenant_id, run_id),
            ).fetchone()
        if row is None or RunState(row[0]) in (RunState.DECIDING, RunState.REFUSED):
            return None
        return RunState(row[0]), int(row[1])

    def events_after(self, tenant_id: str, run_id: str, after: int) -> list[RunEvent]:
        with tenant_transaction(self._pool, tenant_id) as conn:
            rows = conn.execute(
                f"SELECT seq, kind, body FROM {_EVENTS}"
                " WHERE tenant_id = %s AND run_id = %s AND seq > %s ORDER BY seq",
                (tenant_id, run_id, after),
            ).fetchall()
        return [RunEvent(run_id, int(seq), RunEventKind(kind), body) for seq, kind, body in rows]

    def _decide(
        self, tenant_id: str, run_id: str, assignments: str, values: tuple[Any, ...],
        undecided: tuple[RunState, ...] = (RunState.DECIDING,),
    ) -> None:
        with tenant_transaction(self._pool, tenant_id) as conn:
            conn.execute(
                f"UPDATE {_RUNS} SET {assignments}, updated_at = %s"
                " WHERE tenant_id = %s AND run_id = %s AND state = ANY(%s)",
                (*values, self._clock.now(), tenant_id, run_id, [s.value for s in undecided]),
            )
