"""The gateway's WebSocket server: handshake authentication, health, and one
:class:`~apex.gateway.session.GatewaySession` per connection."""

from __future__ import annotations

import asyncio
import logging
import weakref
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from apex import redis_clients
from apex.gateway import protocol
from apex.gateway.session import GatewaySession, RunDesk
from apex.platform import Platform
from apex.recovery import Upkeep
from apex.runs import RunEventNotices, RunIntake
from apex.settings import PlatformSettings

log = logging.getLogger(__name__)

#: threads for the store calls of every connection (admissions, run log reads)
_STORE_THREADS = 64


def bearer_key(request: Request) -> str | None:
    value = request.headers.get("Authorization", "")
    scheme, _, key = value.partition(" ")
    return key.strip() or None if scheme.lower() == "bearer" else None


class Gateway:
    def __init__(self, settings: PlatformSettings) -> None:
        self._settings = settings
        self._platform = Platform(settings, settings.build_clock()).start()
        # Rebuilds the store after it lost its data; the workers relay the usage outbox.
        self._upkeep = Upkeep("gateway", self._platform.recovery).start()
        self._redis = redis_clients.connect_async(settings.redis_url.get_secret_value())
        self._notices = RunEventNotices(settings.postgres_dsn.get_secret_value()).start()
        self._desk = RunDesk(
            self._platform.enforcer, self._platform.runs,
            RunIntake(self._redis, settings.namespace), self._notices,
        )
        self._tenants: weakref.WeakKeyDictionary[ServerConnection, str] = (
            weakref.WeakKeyDictionary()
        )

    async def serve(self, host: str, port: int, stop: asyncio.Event) -> None:
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(_STORE_THREADS, thread_name_prefix="stores")
        )
        async with serve(
            self._handle, host, port, process_request=self._handshake,
            max_size=self._settings.max_message_bytes, server_header=None,
        ):
            log.info("serving %s on %s:%d", protocol.PATH, host, port)
            await stop.wait()

    async def close(self) -> None:
        self._upkeep.close()
        self._notices.close()
        await self._redis.aclose()
        self._platform.close()

    async def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        """Health checks and authentication, before any WebSocket message."""
        if request.path == protocol.HEALTH_PATH:
            try:
                await self._redis.ping()
                await asyncio.to_thread(self._platform.check_database)
                ready = await asyncio.to_thread(self._platform.recovery.ready)
            except Exception:
                return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "stores unreachable\n")
            if not ready:
                return connection.respond(
                    HTTPStatus.SERVICE_UNAVAILABLE, "the store is being rebuilt\n"
                )
            return connection.respond(HTTPStatus.OK, "ok\n")
        if request.path != protocol.PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"connect to {protocol.PATH}\n")
        key = bearer_key(request)
        tenant_id = (
            await asyncio.to_thread(self._platform.api_keys.tenant_for, key) if key else None
        )
        if tenant_id is None:
            return connection.respond(
                HTTPStatus.UNAUTHORIZED,
                "a valid API key is required: Authorization: Bearer <key>\n",
            )
        self._tenants[connection] = tenant_id
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        tenant_id = self._tenants.pop(connection)

        async def send(message: dict[str, Any]) -> None:
            await connection.send(protocol.encode(message))

        session = GatewaySession(tenant_id, self._desk, send)
        try:
            async for frame in connection:
                if isinstance(frame, bytes):
                    await session.receive_binary()
                else:
                    await session.receive_text(frame)
        except ConnectionClosed:
            pass  # the client went away (or sent an oversized message: closed with 1009)
        finally:
            await session.close()
