"""Agent runs over the network: the platform as running processes, reached over real WebSocket
connections, one ``websockets`` client connection per client connection, authenticated with the
tenant's API key in the handshake. What is said on them is ``wire.py``'s; store reads go through
:class:`~harness.drivers.agent_runs.stores.PlatformStores`."""

from __future__ import annotations

import contextlib
import json
import socket
from typing import Any

from websockets.exceptions import ConnectionClosed as WebSocketClosed
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from harness.drivers.agent_runs import wire
from harness.drivers.agent_runs.contract import CloseReason, ConnectionClosed, HandshakeRefused
from harness.drivers.agent_runs.stores import PlatformStores, ReadsThroughStores

_REFUSALS = {401: "unauthorised", 403: "forbidden", 404: "not found"}
_CLOSES = {
    wire.CLOSE_NORMAL: CloseReason.NORMAL,
    wire.CLOSE_DROPPED: CloseReason.DROPPED,
    wire.CLOSE_MESSAGE_TOO_BIG: CloseReason.MESSAGE_TOO_BIG,
}


class WebSocketTransport:
    """One WebSocket client connection: text frames out, decoded messages in."""

    def __init__(self, url: str, api_key: str) -> None:
        self._stack = contextlib.ExitStack()
        # An empty key is a client that sends no Authorization header at all.
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            self._ws: ClientConnection = self._stack.enter_context(
                connect(
                    url, additional_headers=headers,
                    proxy=None, compression=None, open_timeout=5, close_timeout=2,
                    max_size=None,
                )
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            detail = exc.response.body.decode(errors="replace").strip() if exc.response.body else ""
            raise HandshakeRefused(_REFUSALS.get(status, f"status {status}"), detail) from None

    def send(self, message: dict[str, Any]) -> None:
        self.send_text(json.dumps(message))

    def send_text(self, text: str) -> None:
        try:
            self._ws.send(text)
        except WebSocketClosed as exc:
            raise self._closed(exc) from None

    def receive(self, timeout: float) -> dict[str, Any]:
        try:
            frame = self._ws.recv(timeout=max(timeout, 0))
        except WebSocketClosed as exc:
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
    def _closed(exc: WebSocketClosed) -> ConnectionClosed:
        frame = exc.rcvd
        code = frame.code if frame else wire.CLOSE_DROPPED
        return ConnectionClosed(
            _CLOSES.get(code, CloseReason.OTHER), f"code {code}: {frame.reason if frame else ''}"
        )


class NetworkRunsDriver(ReadsThroughStores):
    def __init__(self, gateway_urls: list[str], stores: PlatformStores, max_message_bytes: int):
        self._urls = [url.rstrip("/") + wire.PATH for url in gateway_urls]
        self._stores = stores
        self.replicas = len(gateway_urls)
        self.max_message_bytes = max_message_bytes

    def connect(self, api_key: str, replica: int = 0) -> wire.ProtocolConnection:
        if not 0 <= replica < self.replicas:
            raise ValueError(f"there are {self.replicas} gateway replicas; no replica {replica}")
        return wire.ProtocolConnection(WebSocketTransport(self._urls[replica], api_key))
