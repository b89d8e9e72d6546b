"""L4 driver: the platform as running processes, reached over real WebSocket connections.

Each channel is one ``websockets`` client connection to a gateway replica, authenticated with
the tenant's API key in the handshake, speaking the protocol of ``apex.gateway.protocol``.
Store reads (ledger, analytics, quota) go through :class:`~harness.drivers.stores.PlatformStores`.
"""

from __future__ import annotations

import contextlib
import json
import socket
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from apex.gateway import protocol
from harness.drivers.agent_runs import ChannelClosed, HandshakeRefused
from harness.drivers.stores import PlatformStores, ReadsThroughStores

_REASONS = {401: "unauthorised", 403: "forbidden", 404: "not found"}


class WebSocketChannel:
    def __init__(self, url: str, api_key: str) -> None:
        self._stack = contextlib.ExitStack()
        try:
            self._ws: ClientConnection = self._stack.enter_context(
                connect(
                    url, additional_headers={"Authorization": f"Bearer {api_key}"},
                    proxy=None, compression=None, open_timeout=5, close_timeout=2,
                    max_size=None,
                )
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            detail = exc.response.body.decode(errors="replace").strip() if exc.response.body else ""
            raise HandshakeRefused(_REASONS.get(status, f"status {status}"), detail) from None

    def send(self, message: dict[str, Any]) -> None:
        self.send_text(json.dumps(message))

    def send_text(self, text: str) -> None:
        try:
            self._ws.send(text)
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    def receive(self, timeout: float) -> dict[str, Any]:
        try:
            frame = self._ws.recv(timeout=max(timeout, 0))
        except ConnectionClosed as exc:
            raise self._closed(exc) from None
        message: dict[str, Any] = json.loads(frame)
        return message

    def drop(self) -> None:
        with contextlib.suppress(OSError):
            self._ws.socket.shutdown(socket.SHUT_RDWR)
        self._ws.close_socket()

    def close(self) -> None:
        self._stack.close()

    @staticmethod
    def _closed(exc: ConnectionClosed) -> ChannelClosed:
        frame = exc.rcvd
        return ChannelClosed(frame.code if frame else None, frame.reason if frame else "")


class NetworkDriver(ReadsThroughStores):
    def __init__(self, gateway_urls: list[str], stores: PlatformStores, max_message_bytes: int):
        self._urls = [url.rstrip("/") + protocol.PATH for url in gateway_urls]
        self._stores = stores
        self.replicas = len(gateway_urls)
        self.max_message_bytes = max_message_bytes

    def connect(self, api_key: str, replica: int = 0) -> WebSocketChannel:
        if not 0 <= replica < self.replicas:
            raise ValueError(f"there are {self.replicas} gateway replicas; no replica {replica}")
        return WebSocketChannel(self._urls[replica], api_key)
