"""The scripted language model speaks the OpenAI chat-completions wire protocol: the official
``openai`` client talks to it unchanged, and scenarios program it over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import openai
import pytest
from openai import OpenAI

from harness.drivers.agent_runs.contract import Answer, Outage
from harness.drivers.agent_runs.scripted_model import ScriptedModel
from harness.services.scripted_llm import DEFAULT_STEP, ScriptedLlmServer

KEY = "sk-scripted-test-key-0123456789"


@pytest.fixture
def server() -> Iterator[ScriptedLlmServer]:
    running = ScriptedLlmServer(KEY).start()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def model(server: ScriptedLlmServer) -> ScriptedModel:
    return ScriptedModel(server.control_url, KEY, {"apex-small": "small"})


def client(server: ScriptedLlmServer, key: str = KEY, retries: int = 0) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key=key, max_retries=retries, timeout=5)


def ask(llm: OpenAI, caller: str = "acme", model: str = "apex-small") -> object:
    return llm.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello"}], safety_identifier=caller
    )


def test_an_answer_carries_the_scripted_token_usage(
    server: ScriptedLlmServer, model: ScriptedModel
) -> None:
    model.script("acme", [Answer(1_200, 300, cached_prompt_tokens=200)])
    response = client(server).chat.completions.create(
        model="apex-small", messages=[{"role": "user", "content": "hi"}], safety_identifier="acme"
    )
    assert response.object == "chat.completion"
    assert response.model == "apex-small"
    assert response.choices[0].message.content
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (1_200, 300)
    assert response.usage.total_tokens == 1_500
    assert response.usage.prompt_tokens_details is not None
    assert response.usage.prompt_tokens_details.cached_tokens == 200


def test_steps_are_taken_in_order_and_the_last_repeats(
    server: ScriptedLlmServer, model: ScriptedModel
) -> None:
    model.script("acme", [Answer(1, 1), Answer(2, 2)])
    llm = client(server)
    tokens = [ask(llm).usage.prompt_tokens for _ in range(4)]  # type: ignore[attr-defined]
    assert tokens == [1, 2, 2, 2]
    assert [c.prompt_tokens for c in model.calls("acme")] == [1, 2, 2, 2]


def test_scripts_are_per_caller_and_unscripted_callers_get_the_default(
    server: ScriptedLlmServer, model: ScriptedModel
) -> None:
    model.script("acme", [Answer(7, 7)])
    llm = client(server)
    assert ask(llm, "globex").usage.prompt_tokens == DEFAULT_STEP["prompt_tokens"]  # type: ignore[attr-defined]
    assert ask(llm, "acme").usage.prompt_tokens == 7  # type: ignore[attr-defined]
    assert [c.caller for c in model.calls("acme")] == ["acme"]


def test_a_model_that_is_down_answers_an_openai_shaped_error_even_to_retries(
    server: ScriptedLlmServer, model: ScriptedModel
) -> None:
    model.script("acme", [Answer(1, 1), Outage()])
    llm = client(server, retries=2)
    ask(llm)
    with pytest.raises(openai.InternalServerError) as raised:
        ask(llm)
    assert raised.value.status_code == 503
    assert isinstance(raised.value.body, dict) and raised.value.body["type"] == "server_error"
    outcomes = [c.outcome for c in model.calls("acme")]
    assert outcomes == ["answered", "failed", "failed", "failed"]  # one try, two retries


def test_a_wrong_key_is_refused_as_openai_refuses_it(server: ScriptedLlmServer) -> None:
    with pytest.raises(openai.AuthenticationError) as raised:
        ask(client(server, key="sk-wrong-key-000000000000"))
    assert isinstance(raised.value.body, dict) and raised.value.body["code"] == "invalid_api_key"


def test_a_request_without_messages_is_a_bad_request(server: ScriptedLlmServer) -> None:
    with pytest.raises(openai.BadRequestError):
        client(server).chat.completions.create(model="apex-small", messages=[])


def test_a_held_call_answers_once_released(
    server: ScriptedLlmServer, model: ScriptedModel
) -> None:
    model.script("acme", [Answer(5, 5, hold="gate-1")])
    answered = threading.Event()
    llm = client(server)

    def call() -> None:
        ask(llm)
        answered.set()

    caller = threading.Thread(target=call)
    caller.start()
    assert not answered.wait(0.3), "a held call answered before its release"
    model.release("gate-1")
    assert answered.wait(5), "the released call did not answer"
    caller.join(timeout=5)


def test_control_endpoints_refuse_a_wrong_key(server: ScriptedLlmServer) -> None:
    stranger = ScriptedModel(server.control_url, "sk-not-the-key-0000000", {})
    with pytest.raises(AssertionError, match="401"):
        stranger.script("acme", [Answer(1, 1)])
