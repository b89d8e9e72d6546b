"""Agent runs in this process: the gateway's session logic and an orchestration worker, on the
real stores, with the same protocol messages as over the network (``wire.py``). The platform
classes this driver constructs are all imported here.

The session runs on an asyncio loop in a background thread (as in the gateway process); the
worker runs on its own threads. The message size limit is enforced here as the WebSocket server
enforces it: a message over it closes the connection as too big (1009).
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import redis
import redis.asyncio
from pydantic import SecretStr

from apex.catalog import ModelSize
from apex.clock import Clock
from apex.gateway.session import GatewaySession, RunDesk
from apex.llm.client import LlmClient
from apex.orchestration.supervisor import Supervisor
from apex.orchestration.worker import OrchestrationWorker
from apex.platform import Platform, PlatformSettings
from apex.runs import RunDispatch, RunEventNotices, RunIntake
from harness.drivers.agent_runs import wire
from harness.drivers.agent_runs.contract import CloseReason, ConnectionClosed, HandshakeRefused
from harness.drivers.agent_runs.stores import PlatformStores, ReadsThroughStores

T = TypeVar("T")
_CALL_TIMEOUT = 10.0
#: a worker finishes its in-flight runs before it stops (a held model call ends by 30 s)
_JOIN_TIMEOUT = 35.0


class _Loop:
    """An asyncio loop on a thread, for coroutines called from synchronous code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="l3-gateway", daemon=True
        )
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(_CALL_TIMEOUT)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


class InProcessTransport:
    """A client connection fed straight into a gateway session."""

    def __init__(self, tenant_id: str, desk: RunDesk, loop: _Loop, max_bytes: int) -> None:
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._loop = loop
        self._max_bytes = max_bytes
        self._closed: ConnectionClosed | None = None

        async def send(message: dict[str, Any]) -> None:
            self._inbox.put(json.loads(json.dumps(message)))  # as a client would decode it

        self._session = GatewaySession(tenant_id, desk, send)

    def send_text(self, text: str) -> None:
        if self._closed is not None:
            raise self._closed
        if len(text.encode()) > self._max_bytes:
            too_big = ConnectionClosed(CloseReason.MESSAGE_TOO_BIG, f"over {self._max_bytes} bytes")
            self._end(too_big)
            return
        self._loop.call(self._session.receive_text(text))

    def receive(self, timeout: float) -> dict[str, Any]:
        """As over a socket: what arrived before the close is still read, then the close."""
        try:
            message = self._inbox.get(timeout=max(timeout, 0))
        except queue.Empty:
            raise TimeoutError(f"no message within {timeout:.1f}s") from None
        if message is None:  # the close, queued behind everything that came before it
            self._inbox.put(None)
            assert self._closed is not None
            raise self._closed
        return message

    def drop(self) -> None:
        self._end(ConnectionClosed(CloseReason.DROPPED, "the network went away"))

    def close(self) -> None:
        self._end(ConnectionClosed(CloseReason.NORMAL, ""))

    def _end(self, closed: ConnectionClosed) -> None:
        if self._closed is None:
            self._closed = closed
            self._loop.call(self._session.close())
            self._inbox.put(None)


class InProcessRunsDriver(ReadsThroughStores):
    """The agent-run part of the platform in this process; close it when done.

    Each gateway replica is its own platform instance (own enforcer and store clients) on the
    shared services, as separate gateway processes would be; one worker serves them all."""

    def __init__(
        self, stores: PlatformStores, redis_url: str, postgres_dsn: str, clock: Clock, *,
        namespace: str, llm_base_url: str, llm_api_key: str, models: tuple[str, str, str],
        max_message_bytes: int = 64 * 1024, replicas: int = 2,
    ) -> None:
        """``models``: the endpoint's model names for the small, medium and large sizes."""
        settings = PlatformSettings(
            redis_url=SecretStr(redis_url), postgres_dsn=SecretStr(postgres_dsn),
            namespace=namespace,
        )
        if replicas < 1:
            raise ValueError(f"replicas must be at least 1, not {replicas}")
        self._stores = stores
        self.max_message_bytes = max_message_bytes
        self.replicas = replicas
        # One platform instance per gateway replica, and the worker's own.
        self._platforms = [Platform(settings, clock).start() for _ in range(replicas + 1)]
        sizes = dict(zip((ModelSize.SMALL, ModelSize.MEDIUM, ModelSize.LARGE), models, strict=True))
        self._llm = LlmClient(llm_base_url, llm_api_key, sizes, max_retries=1)
        self._jobs = self._platforms[-1].stream_client()
        self._loop = _Loop()
        self._async_redis = [redis.asyncio.Redis.from_url(redis_url) for _ in range(replicas)]
        self._notices = RunEventNotices(postgres_dsn).start()
        self._desks = [
            RunDesk(platform.enforcer, platform.runs, RunIntake(client, namespace), self._notices)
            for platform, client in zip(self._platforms[:replicas], self._async_redis, strict=True)
        ]
        worker = OrchestrationWorker(
            self._platforms[-1], RunDispatch(self._jobs, namespace), Supervisor(self._llm),
            name="l3-worker", threads=4,
        )
        self._stop = threading.Event()
        self._worker = threading.Thread(target=worker.run, args=(self._stop,), name="l3-worker")
        self._worker.start()

    def connect(self, api_key: str, replica: int = 0) -> wire.ProtocolConnection:
        if not 0 <= replica < self.replicas:
            raise ValueError(f"there are {self.replicas} gateway replicas; no replica {replica}")
        tenant_id = self._stores.tenant_for(api_key)
        if tenant_id is None:
            raise HandshakeRefused("unauthorised", "a valid API key is required")
        return wire.ProtocolConnection(
            InProcessTransport(tenant_id, self._desks[replica], self._loop, self.max_message_bytes)
        )

    def close(self) -> None:
        self._stop.set()
        self._worker.join(timeout=_JOIN_TIMEOUT)
        for client in self._async_redis:
            self._loop.call(client.aclose())
        self._loop.close()
        self._notices.close()
        self._llm.close()
        self._jobs.close()
        for platform in self._platforms:
            platform.close()
