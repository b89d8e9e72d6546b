"""A scripted language model: a real HTTP server speaking the OpenAI chat-completions wire
protocol, whose answers scenarios program through its control endpoints.

Wire protocol (what the platform's ``openai`` client sees), at ``<base_url>`` = ``.../v1``:
    ``POST /v1/chat/completions`` with ``Authorization: Bearer <key>``: a ``chat.completion``
    object with ``usage`` (prompt, completion and total tokens, cached prompt tokens), or an
    OpenAI-shaped error ``{"error": {"message", "type", "param", "code"}}`` with its status
    (401 bad key, 400 bad request, 503 when scripted down, 504 when a held call is never
    released). Errors carry ``retry-after-ms`` so the client's retries are quick.

Scripts are per caller: the ``safety_identifier`` (or ``user``) the platform sends, which is the
tenant id. A script is a list of steps taken one per call; the last step repeats, so "every call
answers X" is one step and "two answers, then down" is three. A step may be held at a named gate
until the control endpoint releases it (a model that takes its time, deterministically).
Callers without a script get :data:`DEFAULT_STEP`.

Control endpoints (same bearer key), under ``/_scripted``:
    ``PUT  /_scripted/scripts/<caller>``      {"steps": [step, ...]}      replace the script
    ``POST /_scripted/gates/<name>/release``                              release a held call
    ``GET  /_scripted/calls/<caller>``        {"calls": [call, ...]}      calls served, in order
    ``GET  /_scripted/held/<caller>``         {"held": n}                 calls waiting at a gate
A step is ``{"prompt_tokens", "completion_tokens", "cached_prompt_tokens"?, "content"?,
"hold"?}`` for an answer or ``{"down": true, "hold"?}`` for an outage.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: How long a held call waits for its release before the server gives up (504).
HOLD_LIMIT_SECONDS = 30.0
DEFAULT_STEP: dict[str, Any] = {"prompt_tokens": 100, "completion_tokens": 50}
_CONTROL = re.compile(
    r"^/_scripted/(scripts|gates|calls|held)/([A-Za-z0-9_.-]{1,128})(/release)?$"
)


class CallOutcome(StrEnum):
    ANSWERED = "answered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ServedCall:
    caller: str
    model: str
    step: int
    outcome: CallOutcome
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class _Script:
    steps: list[dict[str, Any]]
    taken: int = 0

    def next(self) -> tuple[int, dict[str, Any]]:
        index = min(self.taken, len(self.steps) - 1)
        self.taken += 1
        return index, self.steps[index]


@dataclass
class ScriptBook:
    """Scripts, gates and the call log; shared by the server's threads."""

    scripts: dict[str, _Script] = field(default_factory=dict)
    gates: dict[str, threading.Event] = field(default_factory=dict)
    calls: list[ServedCall] = field(default_factory=list)
    #: per caller, calls received and waiting at a gate right now
    holding: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def program(self, caller: str, steps: object) -> None:
        if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) for s in steps):
            raise ValueError("a script needs at least one step, each an object")
        with self.lock:
            self.scripts[caller] = _Script(list(steps))

    def take(self, caller: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            script = self.scripts.get(caller)
            return script.next() if script else (0, DEFAULT_STEP)

    def gate(self, name: str) -> threading.Event:
        with self.lock:
            return self.gates.setdefault(name, threading.Event())

    def hold(self, caller: str, gate: str) -> bool:
        """Wait at ``gate`` (counted as held meanwhile); False if never released in time."""
        with self.lock:
            self.holding[caller] = self.holding.get(caller, 0) + 1
        try:
            return self.gate(gate).wait(HOLD_LIMIT_SECONDS)
        finally:
            with self.lock:
                self.holding[caller] -= 1

    def held(self, caller: str) -> int:
        with self.lock:
            return self.holding.get(caller, 0)

    def log(self, call: ServedCall) -> None:
        with self.lock:
            self.calls.append(call)

    def served(self, caller: str) -> list[ServedCall]:
        with self.lock:
            return [c for c in self.calls if c.caller == caller]

    def release_all(self) -> None:
        with self.lock:
            for gate in self.gates.values():
                gate.set()


def completion(model: str, step: dict[str, Any], number: int) -> dict[str, Any]:
    """A ``chat.completion`` object as the OpenAI API returns it."""
    prompt, completion_tokens = int(step["prompt_tokens"]), int(step["completion_tokens"])
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant", "refusal": None, "annotations": [],
                    "content": step.get("content") or f"Scripted answer {number} from {model}.",
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
            "prompt_tokens_details": {
                "cached_tokens": int(step.get("cached_prompt_tokens", 0)), "audio_tokens": 0,
            },
            "completion_tokens_details": {
                "reasoning_tokens": 0, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0,
            },
        },
    }


def openai_error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class ScriptedLlmServer:
    """Serves on a free loopback port from a background thread until :meth:`close`."""

    def __init__(self, api_key: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.book = ScriptBook()
        self._api_key = api_key
        self._http = _QuietServer((host, port), _handler_for(self.book, api_key))
        self._http.daemon_threads = True
        self.port: int = self._http.server_address[1]
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="scripted-llm", daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/_scripted"

    def start(self) -> ScriptedLlmServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.book.release_all()  # held calls end now rather than at their limit
        if self._thread.is_alive():  # shutdown() waits for a serving loop: forever, if none
            self._http.shutdown()
        self._http.server_close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A caller that went away before its answer (a platform process killed mid-call) is
        what some scenarios do on purpose: not worth a traceback. Anything else is."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _handler_for(book: ScriptBook, api_key: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            if not self._authorised():
                return
            if self.path == "/v1/chat/completions":
                self._chat_completion()
            elif (match := _CONTROL.match(self.path)) and match.group(3):
                book.gate(match.group(2)).set()
                self._answer(HTTPStatus.NO_CONTENT, None)
            else:
                self._not_found()

        def do_PUT(self) -> None:
            if not self._authorised():
                return
            match = _CONTROL.match(self.path)
            if not match or match.group(1) != "scripts":
                self._not_found()
                return
            body = self._body()
            try:
                book.program(match.group(2), (body or {}).get("steps"))
            except (ValueError, TypeError, AttributeError) as exc:
                self._error(HTTPStatus.BAD_REQUEST, str(exc), "invalid_request_error")
                return
            self._answer(HTTPStatus.NO_CONTENT, None)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._answer(HTTPStatus.OK, {"status": "ok"})
                return
            if not self._authorised():
                return
            match = _CONTROL.match(self.path)
            if match and match.group(1) == "held":
                self._answer(HTTPStatus.OK, {"held": book.held(match.group(2))})
                return
            if not match or match.group(1) != "calls":
                self._not_found()
                return
            served = [asdict(c) for c in book.served(match.group(2))]
            self._answer(HTTPStatus.OK, {"calls": served})

        def _chat_completion(self) -> None:
            body = self._body()
            if body is None:
                return
            model, messages = body.get("model"), body.get("messages")
            if not isinstance(model, str) or not isinstance(messages, list) or not messages:
                self._error(
                    HTTPStatus.BAD_REQUEST, "you must provide a model and messages",
                    "invalid_request_error",
                )
                return
            if body.get("stream"):
                self._error(
                    HTTPStatus.BAD_REQUEST, "streaming is not scripted", "invalid_request_error"
                )
                return
            caller = str(body.get("safety_identifier") or body.get("user") or "")
            index, step = book.take(caller)
            if step.get("hold") and not book.hold(caller, str(step["hold"])):
                book.log(ServedCall(caller, model, index, CallOutcome.FAILED))
                self._error(
                    HTTPStatus.GATEWAY_TIMEOUT, "the scripted hold was never released",
                    "server_error",
                )
                return
            if step.get("down"):
                book.log(ServedCall(caller, model, index, CallOutcome.FAILED))
                self._error(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    "The server is overloaded or not ready yet.", "server_error",
                )
                return
            reply = completion(model, step, len(book.served(caller)) + 1)
            usage = reply["usage"]
            book.log(
                ServedCall(
                    caller, model, index, CallOutcome.ANSWERED, usage["prompt_tokens"],
                    usage["completion_tokens"],
                )
            )
            self._answer(HTTPStatus.OK, reply)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {api_key}":
                return True
            self._drain()
            self._error(
                HTTPStatus.UNAUTHORIZED, "Incorrect API key provided.", "invalid_request_error",
                "invalid_api_key",
            )
            return False

        def _body(self) -> dict[str, Any] | None:
            raw = self._drain()
            try:
                data = json.loads(raw or b"null")
            except ValueError:
                data = None
            if not isinstance(data, dict):
                self._error(
                    HTTPStatus.BAD_REQUEST, "the request body must be a JSON object",
                    "invalid_request_error",
                )
                return None
            return data

        def _drain(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _not_found(self) -> None:
            self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}", "invalid_request_error")

        def _error(
            self, status: HTTPStatus, message: str, kind: str, code: str | None = None
        ) -> None:
            self._answer(status, openai_error(message, kind, code), {"retry-after-ms": "10"})

        def _answer(
            self, status: HTTPStatus, body: dict[str, Any] | None,
            headers: dict[str, str] | None = None,
        ) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the call log is the record; stderr noise would hide failures

    return Handler
