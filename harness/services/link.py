"""A loopback TCP relay that a scenario can cut, to make a real service unreachable for one
platform instance without stopping it for everyone else (the stores stay shared)."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class CuttableLink:
    """Relays ``127.0.0.1:<port>`` to ``target`` (a TCP address, or a Unix socket's path: the
    embedded PostgreSQL listens on one); ``cut()`` drops every connection and refuses new ones
    until ``restore()``."""

    def __init__(self, target_host: str, target_port: int | None = None) -> None:
        self._target: tuple[str, int] | str = (
            target_host if target_port is None else (target_host, target_port)
        )
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._acceptor = threading.Thread(target=self._accept, name="link-accept", daemon=True)
        self._acceptor.start()

    def cut(self) -> None:
        self._cut.set()
        self._drop_all()

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self._cut.set()
        # Closing a listening socket does not wake a thread blocked in accept() on it (Linux);
        # shutting it down does, so the acceptor ends now rather than at the join's timeout.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        self._drop_all()
        self._acceptor.join(timeout=2)

    def _drop_all(self) -> None:
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
            self._open.clear()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut.is_set():
                client.close()
                continue
            try:
                upstream = self._connect_upstream()
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            threading.Thread(
                target=self._pump, args=(client, upstream), name="link-pump", daemon=True
            ).start()

    def _connect_upstream(self) -> socket.socket:
        if isinstance(self._target, tuple):
            return socket.create_connection(self._target, timeout=2)
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.settimeout(2)
            upstream.connect(self._target)
        except OSError:
            upstream.close()
            raise
        return upstream

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(a, selectors.EVENT_READ, b)
            selector.register(b, selectors.EVENT_READ, a)
            while not self._cut.is_set():
                try:
                    ready = selector.select(timeout=0.2)
                except (OSError, ValueError):
                    break
                for key, _ in ready:
                    source, sink = key.fileobj, key.data
                    try:
                        data = source.recv(65536)  # type: ignore[union-attr]
                        if not data:
                            raise OSError("closed")
                        sink.sendall(data)
                    except OSError:
                        self._close_pair(a, b)
                        return
        self._close_pair(a, b)

    def _close_pair(self, a: socket.socket, b: socket.socket) -> None:
        with self._lock:
            for sock in (a, b):
                self._open.discard(sock)
                with contextlib.suppress(OSError):
                    sock.close()
