"""What every platform process (gateway, orchestration worker) shares: its settings, read from
``APEX_PLATFORM_*`` environment variables, its clock, its health endpoint, and a clean stop on
SIGTERM or SIGINT.

Secrets (store addresses with passwords, the LLM key) arrive through the environment, never on
the command line, so that ``ps`` never shows them; they are never logged.
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
from datetime import timedelta
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from apex import keys
from apex.catalog import ModelSize
from apex.clock import Clock, RedisClock, SystemClock
from apex.errors import InvalidInput

log = logging.getLogger(__name__)


class ClockSource(StrEnum):
    SYSTEM = "system"
    #: the instant a test clock publishes in Redis (``apex.clock.RedisClock``)
    REDIS = "redis"


class ProcessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APEX_PLATFORM_", extra="forbid", frozen=True)

    redis_url: SecretStr
    #: libpq DSN of the platform's non-owner role (``host=/socket/dir`` works across processes).
    postgres_dsn: SecretStr
    #: separates deployments sharing one Redis (job stream and test clock are per namespace).
    namespace: str = Field("default", pattern=r"^[a-z0-9-]{1,40}$")
    #: any OpenAI-compatible endpoint, e.g. ``https://api.openai.com/v1``.
    llm_base_url: str
    llm_api_key: SecretStr
    llm_model_small: str = "apex-small"
    llm_model_medium: str = "apex-medium"
    llm_model_large: str = "apex-large"
    llm_timeout_seconds: float = Field(30.0, gt=0, le=600)
    llm_max_retries: int = Field(2, ge=0, le=10)
    clock: ClockSource = ClockSource.SYSTEM
    lease_seconds: float = Field(30.0, gt=0, le=3600)
    #: largest WebSocket message a client may send; larger ones close with code 1009.
    max_message_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    worker_threads: int = Field(8, ge=1, le=256)

    @classmethod
    def from_environment(cls) -> ProcessSettings:
        try:
            return cls()  # required fields come from the environment
        except ValidationError as exc:
            problems = "; ".join(
                f"APEX_PLATFORM_{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                for e in exc.errors()
            )
            raise InvalidInput(f"bad platform settings ({problems})") from None

    @classmethod
    def for_process(cls) -> ProcessSettings:
        """The settings, or exit with status 2 and one line saying what is wrong."""
        try:
            return cls.from_environment()
        except InvalidInput as exc:
            print(f"not started: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)

    def model_names(self) -> dict[ModelSize, str]:
        return {
            ModelSize.SMALL: self.llm_model_small,
            ModelSize.MEDIUM: self.llm_model_medium,
            ModelSize.LARGE: self.llm_model_large,
        }

    def build_clock(self) -> Clock:
        if self.clock is ClockSource.SYSTEM:
            return SystemClock()
        client = redis.Redis.from_url(self.redis_url.get_secret_value())
        return RedisClock(client, keys.test_clock(self.namespace))


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
def health_endpoint(host: str, port: int, report: Callable[[], dict[str, Any]]) -> Iterator[None]:
    """Serve ``GET /healthz`` on ``host:port`` from a thread: 200 with ``report()`` as JSON, or
    503 if ``report`` raises (a store the process needs is unreachable)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/healthz":
                self._answer(404, {"error": "not found; try /healthz"})
                return
            try:
                self._answer(200, {"status": "ok", **report()})
            except Exception as exc:
                self._answer(503, {"status": "unavailable", "error": type(exc).__name__})

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
