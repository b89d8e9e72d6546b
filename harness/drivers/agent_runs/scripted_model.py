"""Programs the scripted language model through its control endpoints (HTTP), and reads which
calls it served: the :class:`~harness.drivers.agent_runs.contract.ModelControl` of the run's
scripted LLM server (``harness.services.scripted_llm``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from harness.drivers.agent_runs.contract import Answer, CallOutcome, ModelCall, Outage

#: The scripted model is on loopback: never through a proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _step(step: Answer | Outage) -> dict[str, Any]:
    if isinstance(step, Outage):
        return {"down": True}
    wire: dict[str, Any] = {
        "prompt_tokens": step.prompt_tokens, "completion_tokens": step.completion_tokens,
        "cached_prompt_tokens": step.cached_prompt_tokens,
    }
    if step.hold:
        wire["hold"] = step.hold
    if step.content is not None:
        wire["content"] = step.content
    return wire


class ScriptedModel:
    def __init__(self, control_url: str, api_key: str, model_sizes: dict[str, str]) -> None:
        self._control = control_url
        self._api_key = api_key
        #: endpoint model name -> model size ("apex-small" -> "small")
        self._sizes = dict(model_sizes)

    def script(self, caller: str, steps: list[Answer | Outage]) -> None:
        """Calls from ``caller`` (a tenant id) take these steps in order; the last repeats."""
        self._call("PUT", f"/scripts/{caller}", {"steps": [_step(s) for s in steps]})

    def release(self, gate: str) -> None:
        self._call("POST", f"/gates/{gate}/release", None)

    def held(self, caller: str) -> int:
        body = self._call("GET", f"/held/{caller}", None)
        return int(body["held"])

    def calls(self, caller: str) -> list[ModelCall]:
        body = self._call("GET", f"/calls/{caller}", None)
        return [
            ModelCall(
                call["caller"], self._sizes.get(call["model"], call["model"]),
                CallOutcome(call["outcome"]), call["prompt_tokens"], call["completion_tokens"],
            )
            for call in body["calls"]
        ]

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
