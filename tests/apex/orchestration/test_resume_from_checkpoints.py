"""The supervisor resumes a run from its checkpoints: completed steps are not asked of the
model again, their answers and costs are used as stored, and every step is reported again (the
run log stores each report once)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apex.catalog import ModelSize
from apex.llm.client import LlmClient
from apex.orchestration.supervisor import NoCheckpoints, Progress, Supervisor
from apex.runs import StepCheckpoint, StepState
from harness.services.scripted_llm import ScriptedLlmServer

MODELS = {ModelSize.SMALL: "s", ModelSize.MEDIUM: "m", ModelSize.LARGE: "l"}


@pytest.fixture
def model() -> Iterator[ScriptedLlmServer]:
    server = ScriptedLlmServer("sk-test").start()
    server.book.program("acme", [{"prompt_tokens": 1200, "completion_tokens": 300}])
    yield server
    server.close()


@pytest.fixture
def supervisor(model: ScriptedLlmServer) -> Iterator[Supervisor]:
    llm = LlmClient(model.base_url, "sk-test", MODELS, max_retries=0)
    yield Supervisor(llm)
    llm.close()


def test_a_resumed_run_asks_the_model_only_for_the_steps_not_completed(
    supervisor: Supervisor, model: ScriptedLlmServer
) -> None:
    done = NoCheckpoints()
    done.record(StepCheckpoint(1, "triage", "small", "stored triage", 1200, 0, 300, 180))
    done.record(StepCheckpoint(2, "data analysis", "medium", "stored data", 1200, 0, 300, 8100))
    reports: list[Progress] = []
    outcome = supervisor.run("acme", "mid", "a task", reports.append, done)
    assert [c.model for c in model.book.served("acme")] == ["l", "m"]
    assert [(p.step, p.state) for p in reports] == [
        (step, state) for step in range(1, 5) for state in (StepState.STARTED, StepState.FINISHED)
    ]
    assert "stored triage" in outcome.report and "stored data" in outcome.report
    assert outcome.cost_micros == 180 + 8100 + 54_000 + 8100
    assert sorted(done.completed()) == [1, 2, 3, 4]


def test_a_run_with_every_step_completed_asks_the_model_nothing(
    supervisor: Supervisor, model: ScriptedLlmServer
) -> None:
    first = NoCheckpoints()
    uninterrupted = supervisor.run("acme", "mid", "a task", lambda _p: None, first)
    again = supervisor.run("acme", "mid", "a task", lambda _p: None, first)
    assert len(model.book.served("acme")) == 4
    assert (again.report, again.cost_micros) == (uninterrupted.report, uninterrupted.cost_micros)
