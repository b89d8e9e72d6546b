"""The dead-letter queue's durable store (PostgreSQL) and its operator actions: store a dead
letter once, list, redrive exactly once, purge by retention.

Every read and write acts for one tenant per transaction, as the rest of the platform does
(row-level security keeps tenants apart); operator actions that span tenants first ask the
census functions which tenants have dead letters, then act for each in turn
(``0008_dead_letters.sql``). A message nobody could attribute is stored under tenant ''
and read by a transaction acting for no tenant.

Redrive is exactly once, crash or not. One ``UPDATE ... WHERE state = 'dead'`` moves the entry
to ``redriving`` and counts the redrive (so of two operators redriving at once, one claims it);
the enqueue is de-duplicated in Redis by a marker named after (entry, redrive number), set in
the same script as the ``XADD``; then the entry becomes ``redriven``. A redrive that stopped
after its ``UPDATE`` (before or after its ``XADD``) leaves the entry ``redriving``, and the next
redrive of it finishes the same redrive: enqueueing again finds the marker and adds nothing.
"""

from __future__ import annotations

import builtins  # DeadLetters.list shadows list in the class body
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import psycopg
import redis
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from apex import keys, validation
from apex.clock import Clock
from apex.dlq.errors import UnknownEntry
from apex.dlq.policy import Reason
from apex.dlq.queues import QueueSpec, queue_named
from apex.dlq.records import (
    DeadLetter,
    DeliveryError,
    Message,
    State,
    decode_fields,
    encode_fields,
)
from apex.dlq.stream import StreamOps
from apex.errors import ServiceUnavailable
from apex.tenancy.session import act_for

log = logging.getLogger(__name__)

T = keys.DEAD_LETTERS_TABLE
_COLUMNS = (
    "id::text AS id, queue, tenant_id, message_id, entry_id, payload, reason, attempts,"
    " first_error, last_error, errors, entered_at, state, redrives, redriven_at,"
    " redriven_entry, history"
)
_CLAIMED = (
    "id::text AS id, tenant_id, queue, message_id, payload, redrives, state, redriven_entry"
)
#: a dead letter's errors are for people: long tracebacks are cut
_MAX_ERROR = 2000

_STORE = f"""
INSERT INTO {T} AS d (queue, tenant_id, message_id, entry_id, payload, reason, attempts,
                      first_error, last_error, errors, entered_at)
VALUES (%(queue)s, %(tenant)s, %(message)s, %(entry)s, %(payload)s, %(reason)s, %(attempts)s,
        %(first)s, %(last)s, %(errors)s, %(now)s)
ON CONFLICT (queue, tenant_id, message_id) DO UPDATE SET
    history = d.history || jsonb_build_array(jsonb_build_object(
        'entry_id', d.entry_id, 'entered_at', d.entered_at, 'reason', d.reason,
        'attempts', d.attempts, 'first_error', d.first_error, 'last_error', d.last_error,
        'errors', d.errors, 'redriven_at', d.redriven_at, 'redriven_entry', d.redriven_entry)),
    entry_id = EXCLUDED.entry_id, payload = EXCLUDED.payload, reason = EXCLUDED.reason,
    attempts = EXCLUDED.attempts, first_error = EXCLUDED.first_error,
    last_error = EXCLUDED.last_error, errors = EXCLUDED.errors,
    entered_at = EXCLUDED.entered_at, state = 'dead', redriven_at = NULL, redriven_entry = NULL
-- a redriven message failing again comes back; the same entry stored again changes nothing
WHERE d.state <> 'dead' AND d.entry_id <> EXCLUDED.entry_id
RETURNING d.id::text, (xmax = 0) AS inserted
"""


@dataclass(frozen=True, slots=True)
class Stored:
    """Where a dead-lettered message is; ``new`` is False when this entry was stored before
    (a consumer stored it, then stopped before acknowledging it)."""

    id: str
    new: bool


class RedriveOutcome(StrEnum):
    REDRIVEN = "redriven"
    #: an earlier redrive put it back on its stream; nothing done
    ALREADY_REDRIVEN = "already_redriven"


@dataclass(frozen=True, slots=True)
class Redriven:
    id: str
    queue: str
    outcome: RedriveOutcome
    #: the stream entry the message is back on
    stream_entry: str | None


@dataclass(frozen=True, slots=True)
class TenantCount:
    tenant_id: str
    dead: int
    redriving: int
    redriven: int


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: str
    tenant_id: str
    queue: str
    message_id: str
    payload: dict[str, Any]
    redrive: int


class DeadLetters:
    def __init__(
        self, pool: ConnectionPool[Any], client: redis.Redis, clock: Clock,
        queues: Mapping[str, QueueSpec],
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._queues = dict(queues)
        self.stream = StreamOps(client)

    @property
    def queues(self) -> dict[str, QueueSpec]:
        return dict(self._queues)

    # -- storing ------------------------------------------------------------------------------

    def dead_letter(
        self, message: Message, reason: Reason, *, attempts: int,
        errors: Sequence[DeliveryError],
    ) -> Stored:
        """Store ``message`` in its queue's dead-letter queue, durably, once: storing the same
        stream entry again changes nothing; a redriven message (a new entry of the same
        message) returns with its earlier dead-lettering in its history. ``errors`` are the
        deliveries' errors, one per delivery from 1 to ``attempts`` (a delivery missing from
        them ended without one: its consumer stopped)."""
        queue_named(self._queues, message.queue)
        if attempts < 1:
            raise ValueError(f"a dead letter was delivered at least once, not {attempts} times")
        by_delivery = {e.delivery: e for e in errors}
        every = [by_delivery.get(n, DeliveryError(n, None)) for n in range(1, attempts + 1)]
        shown = [_cut(e.as_json()) for e in every]
        params = {
            "queue": message.queue, "tenant": message.tenant_id, "message": message.message_id,
            "entry": message.entry_id, "payload": Jsonb(encode_fields(message.fields)),
            "reason": reason.value, "attempts": attempts, "first": shown[0]["error"],
            "last": shown[-1]["error"], "errors": Jsonb(shown), "now": self._clock.now(),
        }
        with self._acting(message.tenant_id) as cursor:
            row = cursor.execute(_STORE, params).fetchone()
            if row is not None:
                return Stored(str(row["id"]), bool(row["inserted"]))
            found = cursor.execute(
                f"SELECT id::text AS id FROM {T}"
                " WHERE queue = %s AND tenant_id = %s AND message_id = %s",
                (message.queue, message.tenant_id, message.message_id),
            ).fetchone()
        assert found is not None, "a conflicting dead letter vanished within its transaction"
        return Stored(str(found["id"]), False)

    # -- reading ------------------------------------------------------------------------------

    def tenants(self, queue: str | None = None) -> list[TenantCount]:
        """Tenants with dead letters (in ``queue``, or any), '' for unattributed messages: the
        census, which names tenants and counts only."""
        if queue is not None:
            queue_named(self._queues, queue)
        with self._store(), self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT tenant_id, dead, redriving, redriven"
                f" FROM {keys.DEAD_LETTER_TENANTS_FUNCTION}(%s)",
                (queue,),
            ).fetchall()
        return [TenantCount(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]

    def list(
        self, queue: str | None = None, tenant: str | None = None,
        states: Sequence[State] = (State.DEAD, State.REDRIVING),
    ) -> list[DeadLetter]:
        """Dead letters in ``states`` (by default those still waiting), of one queue or all,
        of one tenant or every tenant, oldest entry first."""
        if queue is not None:
            queue_named(self._queues, queue)
        tenants = (
            [validation.tenant_id(tenant)] if tenant is not None
            else [t.tenant_id for t in self.tenants(queue)]
        )
        found: list[DeadLetter] = []
        for tenant_id in tenants:
            with self._acting(tenant_id) as cursor:
                rows = cursor.execute(
                    f"SELECT {_COLUMNS} FROM {T}"
                    " WHERE (%(queue)s::text IS NULL OR queue = %(queue)s)"
                    " AND state = ANY(%(states)s) ORDER BY entered_at, id",
                    {"queue": queue, "states": [s.value for s in states]},
                ).fetchall()
            found.extend(_dead_letter(row) for row in rows)
        return sorted(found, key=lambda d: (d.entered_at, d.id))

    def get(self, entry: str) -> DeadLetter:
        tenant_id = self._tenant_of(entry)
        with self._acting(tenant_id) as cursor:
            row = cursor.execute(
                f"SELECT {_COLUMNS} FROM {T} WHERE id = %s", (entry,)
            ).fetchone()
        if row is None:
            raise UnknownEntry(f"no dead letter has the id {entry}")
        return _dead_letter(row)

    # -- redriving ----------------------------------------------------------------------------

    def redrive(self, *entries: str, queue: str | None = None) -> builtins.list[Redriven]:
        """Put each entry's message back on its queue's stream, exactly once: an entry already
        redriven is left alone, one whose redrive stopped half-way is finished. With ``queue``,
        every entry must be of that queue. UnknownEntry (before anything is redriven) if an id
        names no dead letter."""
        if queue is not None:
            queue_named(self._queues, queue)
        owners = [(entry, self._tenant_of(entry)) for entry in entries]
        return [self._redrive_one(entry, tenant, queue) for entry, tenant in owners]

    def redrive_all(
        self, queue: str | None = None, *,
        progress: Callable[[int, int], None] | None = None,
    ) -> builtins.list[Redriven]:
        """Redrive every dead letter still waiting (of ``queue``, or of every queue); calls
        ``progress(done, total)`` after each."""
        waiting = [
            (d.id, d.tenant_id) for d in self.list(queue, states=(State.DEAD, State.REDRIVING))
        ]
        done: list[Redriven] = []
        for entry, tenant in waiting:
            done.append(self._redrive_one(entry, tenant, queue))
            if progress is not None:
                progress(len(done), len(waiting))
        return done

    def _redrive_one(self, entry: str, tenant_id: str, queue: str | None) -> Redriven:
        claimed = self._claim(entry, tenant_id, queue)
        if isinstance(claimed, Redriven):
            return claimed
        stream_entry = self._enqueue(claimed)
        self._finish(claimed, stream_entry)
        return Redriven(entry, claimed.queue, RedriveOutcome.REDRIVEN, stream_entry)

    def _claim(self, entry: str, tenant_id: str, queue: str | None) -> _Claimed | Redriven:
        """Move the entry to ``redriving`` (counting a redrive), or find it there already (a
        redrive that stopped half-way: this one finishes it), or redriven already."""
        only = {"id": entry, "queue": queue, "known": list(self._queues)}
        with self._acting(tenant_id) as cursor:
            row = cursor.execute(
                f"UPDATE {T} SET state = 'redriving', redrives = redrives + 1"
                " WHERE id = %(id)s AND state = 'dead' AND queue = ANY(%(known)s)"
                " AND (%(queue)s::text IS NULL OR queue = %(queue)s)"
                f" RETURNING {_CLAIMED}",
                only,
            ).fetchone()
            if row is None:
                row = cursor.execute(
                    f"SELECT {_CLAIMED} FROM {T}"
                    " WHERE id = %(id)s AND (%(queue)s::text IS NULL OR queue = %(queue)s)",
                    only,
                ).fetchone()
                if row is not None and row["state"] == State.REDRIVING:
                    log.warning("dead letter %s: finishing a redrive that stopped half-way",
                                entry)
        if row is None:
            where = f" in queue {queue}" if queue else ""
            raise UnknownEntry(f"no dead letter has the id {entry}{where}")
        queue_named(self._queues, str(row["queue"]))  # a queue this deployment no longer has
        if row["state"] == State.REDRIVEN:
            return Redriven(entry, str(row["queue"]), RedriveOutcome.ALREADY_REDRIVEN,
                            row["redriven_entry"])
        return _Claimed(
            str(row["id"]), str(row["tenant_id"]), str(row["queue"]), str(row["message_id"]),
            dict(row["payload"]), int(row["redrives"]),
        )

    def _enqueue(self, claimed: _Claimed) -> str:
        spec = self._queues[claimed.queue]
        fields = encode_fields_for_redrive(claimed.payload, claimed.message_id)
        return self.stream.enqueue_once(
            spec.stream, keys.dlq_redrive_marker(claimed.id, claimed.redrive), fields
        )

    def _finish(self, claimed: _Claimed, stream_entry: str) -> None:
        with self._acting(claimed.tenant_id) as cursor:
            cursor.execute(
                f"UPDATE {T} SET state = 'redriven', redriven_at = %s, redriven_entry = %s"
                " WHERE id = %s AND state = 'redriving' AND redrives = %s",
                (self._clock.now(), stream_entry, claimed.id, claimed.redrive),
            )

    # -- retention ----------------------------------------------------------------------------

    def purge_expired(self, retention: timedelta, tenant: str | None = None) -> int:
        """Delete the dead letters (of ``tenant``, or of every tenant) that entered the
        dead-letter queue longer than ``retention`` ago on the platform clock (their latest
        entry: a message that came back starts again), except those being redriven; returns
        how many."""
        if retention <= timedelta(0):
            raise ValueError(f"retention must be positive, not {retention}")
        cutoff = self._clock.now() - retention
        tenants = (
            [validation.tenant_id(tenant)] if tenant is not None
            else [t.tenant_id for t in self.tenants()]
        )
        purged = 0
        for tenant_id in tenants:
            with self._acting(tenant_id) as cursor:
                purged += cursor.execute(
                    f"DELETE FROM {T} WHERE entered_at < %s AND state <> 'redriving'", (cutoff,)
                ).rowcount
        return purged

    # -- internals ----------------------------------------------------------------------------

    def _tenant_of(self, entry: str) -> str:
        try:
            uuid.UUID(entry)
        except ValueError:
            raise UnknownEntry(
                f"{entry[:80]!r} is not a dead-letter id (ids look like"
                " 0b8e4c3e-1f2a-4d5b-9c6d-7e8f9a0b1c2d)"
            ) from None
        with self._store(), self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT * FROM {keys.DEAD_LETTER_TENANT_FUNCTION}(%s::uuid)", (entry,)
            ).fetchone()
        if row is None:
            raise UnknownEntry(f"no dead letter has the id {entry}")
        return str(row[0])

    @contextlib.contextmanager
    def _acting(self, tenant_id: str) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
        """A cursor in a transaction acting for ``tenant_id``; for '' (unattributed messages),
        acting for no tenant, which sees the unattributed dead letters only."""
        if tenant_id != keys.UNATTRIBUTED:
            validation.tenant_id(tenant_id)
        with self._store(), self._pool.connection() as conn, conn.transaction():
            act_for(conn, tenant_id)
            with conn.cursor(row_factory=dict_row) as cursor:
                yield cursor

    @contextlib.contextmanager
    def _store(self) -> Iterator[None]:
        try:
            yield
        except psycopg.OperationalError as exc:
            raise ServiceUnavailable(
                "the dead-letter queue's store is unreachable; nothing was changed, retry shortly"
            ) from exc


def encode_fields_for_redrive(payload: Mapping[str, Any], message_id: str) -> dict[bytes, bytes]:
    """The fields a redrive enqueues: the message's own, and the id that names it for good."""
    fields = {k: v for k, v in decode_fields(payload).items()
              if k != keys.DLQ_MESSAGE_ID_FIELD.encode()}
    fields[keys.DLQ_MESSAGE_ID_FIELD.encode()] = message_id.encode()
    return fields


def _dead_letter(row: Mapping[str, Any]) -> DeadLetter:
    return DeadLetter(
        id=str(row["id"]), queue=str(row["queue"]), tenant_id=str(row["tenant_id"]),
        message_id=str(row["message_id"]), entry_id=str(row["entry_id"]),
        payload=dict(row["payload"]), reason=Reason(row["reason"]),
        attempts=int(row["attempts"]), first_error=str(row["first_error"]),
        last_error=str(row["last_error"]), errors=list(row["errors"]),
        entered_at=row["entered_at"], state=State(row["state"]), redrives=int(row["redrives"]),
        redriven_at=row["redriven_at"], redriven_entry=row["redriven_entry"],
        history=list(row["history"]),
    )


def _cut(note: dict[str, Any]) -> dict[str, Any]:
    error = str(note["error"])
    if len(error) > _MAX_ERROR:
        note["error"] = error[: _MAX_ERROR - 3] + "..."
    return note
