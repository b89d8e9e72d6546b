"""What every platform process (gateway, orchestration worker) shares besides its settings
(``apex.settings``): its arguments, its logging, its health endpoint, and a clean stop on
SIGTERM or SIGINT. Secrets are never logged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)


def parse_arguments(role: str, argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m apex.{role}", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, required=True, help="port to listen on")
    parser.add_argument("--name", default=role, help="name of this process in logs")
    return parser.parse_args(argv)


def configure_logging(name: str) -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s",
    )
    # The HTTP clients log request lines at INFO; they add nothing and may carry identifiers.
    for noisy in ("httpx2", "httpcore2", "openai", "websockets.server"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def stop_on_signals(stop: Callable[[], None]) -> None:
    """SIGTERM (the harness, Docker) and SIGINT (Ctrl-C) both stop the process cleanly."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stop())


@contextlib.contextmanager
def health_endpoint(
    host: str, port: int, report: Callable[[], tuple[bool, dict[str, Any]]]
) -> Iterator[None]:
    """Serve ``GET /healthz`` on ``host:port`` from a thread. ``report()`` says whether the
    process is serving, with details: 200 if it is, 503 if it is not or if ``report`` raises
    (a store the process needs is unreachable)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/healthz":
                self._answer(404, {"error": "not found; try /healthz"})
                return
            try:
                serving, details = report()
            except Exception as exc:
                self._answer(503, {"status": "unavailable", "error": type(exc).__name__})
                return
            if serving:
                self._answer(200, {"status": "ok", **details})
            else:
                self._answer(503, {"status": "unavailable", **details})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # health probes are not news

    server = ThreadingHTTPServer((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="health", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
