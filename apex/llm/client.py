"""Chat completions against an OpenAI-compatible endpoint, with the token usage the endpoint
reports, which is what the platform prices. A call whose usage is missing is an error: the
platform never bills a guess."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import openai
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from apex.catalog import ModelSize
from apex.llm.errors import LlmUnavailable


@dataclass(frozen=True, slots=True)
class LlmUsage:
    prompt_tokens: int
    #: part of ``prompt_tokens`` served from the provider's prompt cache (cheaper)
    cached_prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class LlmReply:
    model: ModelSize
    content: str
    usage: LlmUsage


class LlmClient:
    """Thread-safe (the openai client is); one per process."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        models: Mapping[ModelSize, str],
        *,
        timeout: float = 30.0,
        max_retries: int = 2,
    ) -> None:
        self._models = dict(models)
        self._client = OpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )

    def complete(
        self, model: ModelSize, messages: Sequence[ChatCompletionMessageParam], end_user: str
    ) -> LlmReply:
        """One chat completion on the endpoint's model for ``model``; ``end_user`` (the
        tenant id) is passed as the OpenAI safety identifier."""
        try:
            response = self._client.chat.completions.create(
                model=self._models[model], messages=list(messages), safety_identifier=end_user
            )
        except openai.APIStatusError as exc:
            raise LlmUnavailable(
                f"the model provider refused the call ({exc.status_code}: {_reason(exc)})"
            ) from None
        except openai.APIConnectionError:
            raise LlmUnavailable("the model provider could not be reached") from None
        usage = response.usage
        if usage is None:
            raise LlmUnavailable("the model provider reported no token usage; cannot price it")
        if not response.choices:
            raise LlmUnavailable("the model provider returned no answer")
        details = usage.prompt_tokens_details
        cached = (details.cached_tokens or 0) if details is not None else 0
        if min(usage.prompt_tokens, usage.completion_tokens, cached) < 0 or (
            cached > usage.prompt_tokens
        ):
            # Never a guess on the bill: usage that cannot be true is an answer we cannot use.
            raise LlmUnavailable(
                "the model provider reported impossible token usage; cannot price it"
            )
        return LlmReply(
            model,
            response.choices[0].message.content or "",
            LlmUsage(usage.prompt_tokens, cached, usage.completion_tokens),
        )

    def close(self) -> None:
        self._client.close()


def _reason(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str):
            return message[:200]
    return exc.message[:200]
