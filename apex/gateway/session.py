"""One client connection's conversation, independent of the transport: the WebSocket server
feeds it frames, an in-process client can feed it strings. Messages are described in
``apex.gateway.protocol``.

A run belongs to the tenant, not to the connection: a client that disconnects leaves its run
working, and any later connection of the tenant can resume it by request id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from apex import catalog
from apex.enforcement import Decision, TierEnforcer
from apex.errors import ApexError, ServiceUnavailable, UnknownTenant
from apex.gateway import protocol
from apex.gateway.protocol import (
    ErrorCode,
    ProtocolError,
    QueryRun,
    ResumeRun,
    StartRun,
)
from apex.orchestration.runs import AsyncRunStore, RunJob

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
_FOLLOW_BLOCK = timedelta(seconds=1)
_CLOSE_GRACE = timedelta(seconds=2)


class RunDesk:
    """Admission and event streams for every session of one gateway process."""

    def __init__(self, enforcer: TierEnforcer, store: AsyncRunStore) -> None:
        self._enforcer = enforcer
        self.store = store

    async def start(self, tenant_id: str, message: StartRun) -> dict[str, Any]:
        """Admit and queue a new run, or attach to the run that already has this request id.
        Returns the reply: accepted, or refused having counted nothing."""
        rid = message.request_id
        if not await self.store.claim(tenant_id, rid):
            return protocol.accepted(message.id, rid, duplicate=True)
        try:
            admission = await asyncio.to_thread(self._enforcer.admit, tenant_id, rid, 1)
        except (ServiceUnavailable, UnknownTenant) as exc:
            await self.store.forget(tenant_id, rid)
            reason = "service_unavailable" if exc.retryable else "unknown_tenant"
            return protocol.refused(
                message.id, rid, reason, str(exc), retryable=exc.retryable, offer=None
            )
        if admission.decision is Decision.DUPLICATE:
            await self.store.forget(tenant_id, rid)
            return protocol.refused(
                message.id, rid, "request_id_used",
                "this request id was already used by another request; use a new one",
                retryable=False, offer=None,
            )
        if not admission.admitted:
            await self.store.forget(tenant_id, rid)
            return _refusal(message, admission.decision, admission.tier, admission.max_running)
        job = RunJob(
            tenant_id, rid, admission.tier, admission.period, admission.units, message.task
        )
        try:
            await self.store.enqueue(job)
        except Exception:
            await asyncio.to_thread(self._enforcer.refund, admission)
            await self.store.forget(tenant_id, rid)
            raise
        return protocol.accepted(message.id, rid, duplicate=False)

    async def follow(self, tenant_id: str, run_id: str, after: int, send: Send) -> None:
        """Send the run's events numbered above ``after``, live, until its last one."""
        position = b"0"
        this = asyncio.current_task()
        while True:
            if this is not None and this.cancelling():
                # A cancel the store client's read swallowed (redis-py's read timeout racing the
                # cancel under Python 3.11's asyncio.timeout): honour it between reads.
                raise asyncio.CancelledError
            entries = await self.store.events(tenant_id, run_id, position, _FOLLOW_BLOCK)
            if not entries and await self.store.state(tenant_id, run_id) is None:
                await send(protocol.error(ErrorCode.UNKNOWN_RUN, f"run {run_id} was not admitted"))
                return
            for entry_id, event in entries:
                position = entry_id
                if event["seq"] > after:
                    await send(event)
                if event["type"] in protocol.TERMINAL_TYPES:
                    return


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
        not stopped within the grace period (its store read can be slow to give up) is left to
        end on its own rather than hold up the connection's close."""
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
        found = await self._desk.store.state(self.tenant_id, message.request_id)
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


def _refusal(
    message: StartRun, decision: Decision, tier_name: str, max_running: int
) -> dict[str, Any]:
    tier = catalog.tier(tier_name)
    upgrade = catalog.next_tier(tier)
    if decision is Decision.QUOTA_EXHAUSTED:
        reason = "quota_exhausted"
        text = f"the {tier.name} tier's {tier.requests_per_month:,} requests this month are used"
    else:
        reason = "concurrency_limit"
        text = f"the {tier.name} tier runs at most {max_running} at once"
    if upgrade is not None:
        text += f"; upgrade to {upgrade.name} for more"
    return protocol.refused(
        message.id, message.request_id, reason, text,
        retryable=decision is Decision.CONCURRENCY_LIMIT,
        offer=upgrade.name if upgrade else None,
    )
