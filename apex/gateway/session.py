"""One client connection's conversation, independent of the transport: the WebSocket server
feeds it frames, an in-process client can feed it strings. Messages are described in
``apex.gateway.protocol``; runs, their records and events in ``apex.runs``.

A run belongs to the tenant, not to the connection: a client that disconnects leaves its run
working, and any later connection of the tenant can resume it by request id.

A request id is decided once: while its admission is being decided, every connection that sends
it waits for, and gets, that decision. An admitted id names its run forever; a refused id is
free again, and the next ``run.start`` with it is decided afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from apex import refusals
from apex.enforcement import Decision, TierEnforcer
from apex.errors import ApexError, ServiceUnavailable
from apex.gateway import protocol
from apex.gateway.protocol import ErrorCode, ProtocolError, QueryRun, ResumeRun, StartRun
from apex.refusals import Refusal
from apex.runs import Claim, RunEventNotices, RunIntake, RunJob, RunLog, RunState

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
#: a follower reads the log again at least this often, notice or not
_FOLLOW_BLOCK = timedelta(seconds=1)
_CLOSE_GRACE = timedelta(seconds=2)
#: how long a second sender of a request id waits for the first one's decision
_DECISION_WAIT = timedelta(seconds=10)
_DECISION_POLL = 0.02


class RunDesk:
    """Admission, intake and event relay for every session of one gateway process."""

    def __init__(
        self, enforcer: TierEnforcer, runs: RunLog, intake: RunIntake, notices: RunEventNotices
    ) -> None:
        self._enforcer = enforcer
        self.runs = runs
        self._intake = intake
        self._notices = notices

    async def start(self, tenant_id: str, message: StartRun) -> dict[str, Any]:
        """Admit and queue a new run, or attach to the run that already has this request id.
        Returns the reply: accepted, or refused having counted nothing."""
        claim = await asyncio.to_thread(
            self.runs.claim, tenant_id, message.request_id, message.task
        )
        if not claim.won:
            return await self._answer_as_decided(tenant_id, message, claim)
        refusal = await self._decide(tenant_id, message)
        if refusal is not None:
            return protocol.refused(message.id, message.request_id, refusal)
        return protocol.accepted(message.id, message.request_id, duplicate=False)

    async def follow(self, tenant_id: str, run_id: str, after: int, send: Send) -> None:
        """Send the run's events numbered above ``after``, live, until its last one."""
        this = asyncio.current_task()
        with self._notices.watching(tenant_id, run_id) as grown:
            if await asyncio.to_thread(self.runs.state, tenant_id, run_id) is None:
                await send(protocol.error(ErrorCode.UNKNOWN_RUN, f"run {run_id} was not admitted"))
                return
            while True:
                if this is not None and this.cancelling():
                    raise asyncio.CancelledError
                grown.clear()
                events = await asyncio.to_thread(self.runs.events_after, tenant_id, run_id, after)
                for event in events:
                    await send(protocol.event_message(event))
                    after = event.seq
                    if event.terminal:
                        return
                if not events:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(grown.wait(), _FOLLOW_BLOCK.total_seconds())

    async def _decide(self, tenant_id: str, message: StartRun) -> Refusal | None:
        """Admit the claimed request id and queue its run; the refusal if it is not admitted
        (recorded, so every waiting sender of the id gets the same)."""
        rid = message.request_id
        try:
            admission = await asyncio.to_thread(self._enforcer.admit, tenant_id, rid, 1)
        except ApexError as exc:
            return await self._refuse(tenant_id, rid, refusals.of_error(exc))
        if admission.decision is Decision.DUPLICATE:
            return await self._refuse(tenant_id, rid, refusals.request_id_used())
        if not admission.admitted:
            return await self._refuse(tenant_id, rid, refusals.of_admission(admission))
        job = RunJob(
            tenant_id, rid, admission.tier, admission.period, admission.units, message.task
        )
        try:
            await asyncio.to_thread(self.runs.admitted, job)
            await self._intake.enqueue(job)
        except Exception as exc:
            log.warning("run %s of %s not queued (%s); refunded", rid, tenant_id, exc)
            await asyncio.to_thread(self._enforcer.refund, admission)
            unavailable = ServiceUnavailable(
                "the platform could not queue the run; nothing was counted, retry shortly"
            )
            return await self._refuse(tenant_id, rid, refusals.of_error(unavailable))
        return None

    async def _refuse(self, tenant_id: str, run_id: str, refusal: Refusal) -> Refusal:
        try:
            await asyncio.to_thread(self.runs.refused, tenant_id, run_id, refusal.as_record())
        except Exception:
            # The id stays claimed until its decision goes stale; the answer is still given.
            log.exception("refusal of run %s of %s not recorded", run_id, tenant_id)
        return refusal

    async def _answer_as_decided(
        self, tenant_id: str, message: StartRun, claim: Claim
    ) -> dict[str, Any]:
        """Another connection holds (or held) the decision on this request id: its answer."""
        deadline = time.monotonic() + _DECISION_WAIT.total_seconds()
        current: Claim | None = claim
        while current is not None and current.state is RunState.DECIDING:
            if time.monotonic() > deadline:
                stuck = ServiceUnavailable(
                    "this request id is still being decided; send it again shortly"
                )
                return protocol.refused(
                    message.id, message.request_id, refusals.of_error(stuck)
                )
            await asyncio.sleep(_DECISION_POLL)
            current = await asyncio.to_thread(self.runs.decision, tenant_id, message.request_id)
        if current is not None and current.state is RunState.REFUSED and current.refusal:
            return protocol.refused(
                message.id, message.request_id, Refusal.from_record(current.refusal)
            )
        return protocol.accepted(message.id, message.request_id, duplicate=True)


class GatewaySession:
    def __init__(self, tenant_id: str, desk: RunDesk, send: Send) -> None:
        self.tenant_id = tenant_id
        self._desk = desk
        self._send = send
        self._followers: dict[str, asyncio.Task[None]] = {}

    async def receive_text(self, text: str) -> None:
        try:
            message = protocol.parse(text)
        except ProtocolError as exc:
            await self._send(protocol.error(exc.code, str(exc), exc.reply_to))
            return
        try:
            await self._dispatch(message)
        except ApexError as exc:
            await self._send(protocol.error(ErrorCode.INTERNAL, str(exc), message.id))
        except Exception:
            log.exception("message %s of %s failed", message.id, self.tenant_id)
            await self._send(
                protocol.error(ErrorCode.INTERNAL, "the gateway could not act on it", message.id)
            )

    async def receive_binary(self) -> None:
        await self._send(
            protocol.error(ErrorCode.BINARY_NOT_SUPPORTED, "messages are JSON in text frames")
        )

    async def close(self) -> None:
        """The connection ended: stop streaming (the runs themselves go on). A relay that has
        not stopped within the grace period is left to end on its own rather than hold up the
        connection's close."""
        relays = list(self._followers.values())
        self._followers.clear()
        for task in relays:
            task.cancel()
        if not relays:
            return
        _done, stopping = await asyncio.wait(relays, timeout=_CLOSE_GRACE.total_seconds())
        if stopping:
            log.warning("%d event relay(s) of %s still stopping", len(stopping), self.tenant_id)

    async def _dispatch(self, message: StartRun | ResumeRun | QueryRun) -> None:
        if isinstance(message, StartRun):
            reply = await self._desk.start(self.tenant_id, message)
            await self._send(reply)
            if reply["type"] == protocol.MessageType.ACCEPTED:
                self._follow(message.request_id, 0)
            return
        found = await asyncio.to_thread(self._desk.runs.state, self.tenant_id, message.request_id)
        if found is None:
            await self._send(
                protocol.error(
                    ErrorCode.UNKNOWN_RUN, f"there is no run {message.request_id}", message.id
                )
            )
            return
        run_state, seq = found
        await self._send(protocol.state(message.id, message.request_id, run_state, seq))
        if isinstance(message, ResumeRun):
            self._follow(message.request_id, message.after)

    def _follow(self, run_id: str, after: int) -> None:
        previous = self._followers.pop(run_id, None)
        if previous is not None:
            previous.cancel()
        self._followers[run_id] = asyncio.create_task(self._relay(run_id, after))

    async def _relay(self, run_id: str, after: int) -> None:
        try:
            await self._desk.follow(self.tenant_id, run_id, after, self._send)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A closed connection ends the relay quietly; anything else is worth a line.
            if type(exc).__name__ not in {"ConnectionClosedOK", "ConnectionClosedError"}:
                log.exception("events of run %s not relayed", run_id)
