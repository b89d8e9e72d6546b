"""Step checkpoints: the durable result of each completed agent step of a run (PostgreSQL,
``run_steps``), so that a worker taking over a run whose worker died resumes after the last
completed step instead of asking the model again.

A checkpoint is written once, when its step completes, and never rewritten: if two workers
complete the same step (one of them a worker that lost its job lease without knowing it), the
first checkpoint stored wins and both go on with it, so the run's report and cost are the same
whoever finishes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg_pool import ConnectionPool

from apex import keys
from apex.tenancy.session import tenant_transaction

_STEPS = keys.RUN_STEPS_TABLE
_COLUMNS = (
    "step, agent, model, content, prompt_tokens, cached_prompt_tokens, completion_tokens,"
    " cost_micros"
)


@dataclass(frozen=True, slots=True)
class StepCheckpoint:
    """A completed step: the model's answer, the usage it reported and what it cost."""

    step: int
    agent: str
    #: the model size asked ("small", "medium", "large")
    model: str
    content: str
    prompt_tokens: int
    cached_prompt_tokens: int
    completion_tokens: int
    cost_micros: int


class RunSteps:
    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self._pool = pool

    def completed(self, tenant_id: str, run_id: str) -> dict[int, StepCheckpoint]:
        """The run's completed steps by number (empty for a run that completed none)."""
        with tenant_transaction(self._pool, tenant_id) as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM {_STEPS} WHERE tenant_id = %s AND run_id = %s"
                " ORDER BY step",
                (tenant_id, run_id),
            ).fetchall()
        return {int(row[0]): _checkpoint(row) for row in rows}

    def record(self, tenant_id: str, run_id: str, done: StepCheckpoint) -> StepCheckpoint:
        """Store the step's checkpoint, unless one is stored already; the stored one."""
        with tenant_transaction(self._pool, tenant_id) as conn:
            conn.execute(
                f"INSERT INTO {_STEPS} (tenant_id, run_id, {_COLUMNS})"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (tenant_id, run_id, step) DO NOTHING",
                (
                    tenant_id, run_id, done.step, done.agent, done.model, done.content,
                    done.prompt_tokens, done.cached_prompt_tokens, done.completion_tokens,
                    done.cost_micros,
                ),
            )
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM {_STEPS}"
                " WHERE tenant_id = %s AND run_id = %s AND step = %s",
                (tenant_id, run_id, done.step),
            ).fetchone()
        assert row is not None, "a checkpoint just stored cannot vanish"
        return _checkpoint(row)


def _checkpoint(row: Any) -> StepCheckpoint:
    return StepCheckpoint(
        int(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]), int(row[5]),
        int(row[6]), int(row[7]),
    )
