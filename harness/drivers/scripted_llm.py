"""Programs the scripted language model through its control endpoints (HTTP), and reads which
calls it served. The server itself is ``harness.services.scripted_llm``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from harness.services.scripted_llm import ServedCall

#: The scripted model is on loopback: never through a proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True, slots=True)
class Answer:
    """One scripted answer: the token usage the model reports for the call."""

    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int = 0
    #: name of a gate the call waits at until released
    hold: str | None = None

    def step(self) -> dict[str, Any]:
        step: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "cached_prompt_tokens": self.cached_prompt_tokens,
        }
        if self.hold:
            step["hold"] = self.hold
        return step


@dataclass(frozen=True, slots=True)
class Outage:
    """The model is down: every call from here on fails, retries included."""

    def step(self) -> dict[str, Any]:
        return {"down": True}


class ScriptedModel:
    def __init__(self, control_url: str, api_key: str, model_sizes: dict[str, str]) -> None:
        self._control = control_url
        self._api_key = api_key
        #: endpoint model name -> model size ("apex-small" -> "small")
        self.model_sizes = dict(model_sizes)

    def script(self, caller: str, steps: list[Answer | Outage]) -> None:
        """Calls from ``caller`` (a tenant id) take these steps in order; the last repeats."""
        self._call("PUT", f"/scripts/{caller}", {"steps": [s.step() for s in steps]})

    def release(self, gate: str) -> None:
        self._call("POST", f"/gates/{gate}/release", None)

    def calls(self, caller: str) -> list[ServedCall]:
        body = self._call("GET", f"/calls/{caller}", None)
        return [ServedCall(**call) for call in body["calls"]]

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        request = urllib.request.Request(
            self._control + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Authorization": f"Bearer {self._api_key}", "Content-Type": "application/json",
            },
        )
        try:
            with _DIRECT.open(request, timeout=5) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise AssertionError(
                f"the scripted model refused {method} {path}: {exc.code} {exc.read()[:200]!r}"
            ) from None
        return json.loads(raw) if raw else None
