"""The dead-letter queue as its operator reaches it: the platform's operator commands
(``apex.dlq.cli``, what ``python -m apex.dlq`` runs), given the platform's own settings, stores
and clock, with their printed output read back. Only this module knows the commands' arguments
and output."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime
from typing import Any

import redis
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from apex.analytics import ClickHouseGateway
from apex.clock import Clock
from apex.dlq import DeadLetters, QueueName, Reason, Reconciliation
from apex.dlq.cli import DIFFERENCES, DONE, Tools, main
from apex.errors import InvalidInput
from apex.settings import PlatformSettings
from harness.drivers.dead_letters.contract import (
    DeadLetter,
    MissingUsage,
    Queue,
    Reconciled,
    Redrive,
    SetAsideReason,
)

_QUEUES = {Queue.RUN_JOBS: QueueName.RUN_JOBS, Queue.USAGE_EVENTS: QueueName.USAGE}
_REASONS = {
    Reason.MAX_DELIVERIES: SetAsideReason.EVERY_ATTEMPT_FAILED,
    Reason.UNPROCESSABLE: SetAsideReason.NEVER_PROCESSABLE,
}
_REDRIVEN = re.compile(r"^(\S+)  (already )?redriven to ")


class OperatorCommands:
    """``analytics``: the run's usage analytics, which the reconciliation reads. The command
    builds its own ClickHouse client from a URL; an embedded, in-process chDB is reachable from
    this process only, so the suite hands the command the run's own (as a test would)."""

    def __init__(
        self, settings: PlatformSettings, clock: Clock,
        analytics: ClickHouseGateway | None = None,
    ) -> None:
        self._settings = settings
        self._redis = redis.Redis.from_url(settings.redis_url.get_secret_value())
        self._pool: ConnectionPool[Any] = ConnectionPool(
            settings.postgres_dsn.get_secret_value(), min_size=1, max_size=2, open=True,
            kwargs={"autocommit": True}, name="suite-dlq-operator",
        )
        self._queues = settings.dlq.queues(settings.namespace)
        dead_letters = DeadLetters(self._pool, self._redis, clock, self._queues)

        def reconciliation() -> Reconciliation:
            if analytics is None:
                raise InvalidInput("no usage analytics was given to reconcile against")
            return Reconciliation(self._pool, analytics, dead_letters)

        self._tools = Tools(dead_letters, settings.dlq.retention, reconciliation)

    @classmethod
    def of_platform(
        cls, redis_url: str, postgres_dsn: str, namespace: str, clock: Clock,
        analytics: ClickHouseGateway | None = None,
    ) -> OperatorCommands:
        """For the platform run in the suite's process, on its default dead-letter settings."""
        settings = PlatformSettings(
            redis_url=SecretStr(redis_url), postgres_dsn=SecretStr(postgres_dsn),
            namespace=namespace,
        )
        return cls(settings, clock, analytics)

    def attempts_per_queue(self) -> dict[Queue, int]:
        return {q: self._queues[name].policy.max_deliveries for q, name in _QUEUES.items()}

    def retention_days(self) -> float:
        return self._settings.dlq.retention_days

    def listed(self, queue: Queue | None = None, tenant_id: str | None = None,
             waiting_only: bool = True) -> list[DeadLetter]:
        argv = ["list", "--json"]
        if queue is not None:
            argv += ["--queue", _QUEUES[queue].value]
        if tenant_id is not None:
            argv += ["--tenant", tenant_id]
        if not waiting_only:
            argv.append("--all-states")
        return [_letter(entry) for entry in json.loads(self._run(argv))]

    def redrive(self, *ids: str) -> list[Redrive]:
        return _redrives(self._run(["redrive", *ids]))

    def redrive_all(self, queue: Queue | None = None) -> list[Redrive]:
        argv = ["redrive", "--all"]
        if queue is not None:
            argv += ["--queue", _QUEUES[queue].value]
        return _redrives(self._run(argv))

    def purge(self) -> int:
        printed = self._run(["purge"])
        found = re.match(r"^(\d+) dead letters", printed)
        assert found, f"the purge printed {printed!r}"
        return int(found.group(1))

    def pending(self, queue: Queue) -> int:
        spec = self._queues[_QUEUES[queue]]
        return self._tools.dead_letters.stream.pending(spec.stream, spec.group)

    def reconcile(self, tenant_id: str) -> Reconciled:
        printed = self._run(["reconcile", "--tenant", tenant_id, "--json"], DIFFERENCES)
        (tenant,) = json.loads(printed)["tenants"]
        return Reconciled(
            bool(tenant["balanced"]), int(tenant["ledger"]["amount_micros"]),
            int(tenant["analytics"]["amount_micros"]),
            tuple(
                MissingUsage(int(m["amount_micros"]), m["dead_letter"])
                for m in tenant["missing_from_analytics"]
            ),
        )

    def close(self) -> None:
        self._pool.close()
        self._redis.close()

    def _run(self, argv: list[str], *also_fine: int) -> str:
        out, err = io.StringIO(), io.StringIO()
        status = main(argv, tools=self._tools, out=out, err=err)
        assert status in (DONE, *also_fine), (
            f"python -m apex.dlq {' '.join(argv)} exited {status}: {err.getvalue().strip()}"
        )
        return out.getvalue()


def _letter(entry: dict[str, Any]) -> DeadLetter:
    queue = next(q for q, name in _QUEUES.items() if name.value == entry["queue"])
    return DeadLetter(
        entry["id"], queue, entry["tenant"] or "", _REASONS[Reason(entry["reason"])],
        int(entry["attempts"]), entry["first_error"], entry["last_error"],
        datetime.fromisoformat(entry["entered_at"]), len(entry["history"]),
        entry["state"] == "dead",
    )


def _redrives(printed: str) -> list[Redrive]:
    found = [_REDRIVEN.match(line) for line in printed.splitlines()]
    return [Redrive(m.group(1), m.group(2) is None) for m in found if m]

