"""The supervisor: runs the sub-agents of a run in pipeline order, each with one model call on
the model its tier allows, handing each agent the work of the ones before it. It reports every
agent's start and finish as it goes and prices every call; it bills nothing itself.

Each completed step is checkpointed (the answer, its usage and cost) before its finish is
reported. A run resumed after its worker died skips the steps whose checkpoints exist, using
their stored answers and costs, so the model is asked again only for the step that was
interrupted, and the run costs what it would have cost uninterrupted. Reports of a step are
made again on a resume; the caller stores each once (effect keys, ``apex.runs``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from openai.types.chat import ChatCompletionMessageParam

from apex.catalog import ModelSize
from apex.llm.client import LlmClient, LlmReply, LlmUsage
from apex.orchestration.agents import PIPELINE, SubAgent, model_for
from apex.orchestration.pricing import call_cost_micros
from apex.runs.model import StepState
from apex.runs.steps import StepCheckpoint


@dataclass(frozen=True, slots=True)
class CallRecord:
    agent: str
    model: ModelSize
    usage: LlmUsage
    cost_micros: int


@dataclass(frozen=True, slots=True)
class Progress:
    agent: str
    step: int
    steps: int
    state: StepState
    model: ModelSize
    cost_micros: int | None = None


@dataclass(frozen=True, slots=True)
class RunOutcome:
    report: str
    calls: tuple[CallRecord, ...]

    @property
    def cost_micros(self) -> int:
        return sum(call.cost_micros for call in self.calls)


class Checkpoints(Protocol):
    """The durable checkpoints of one run's steps (``apex.runs.RunSteps`` for one run)."""

    def completed(self) -> dict[int, StepCheckpoint]: ...

    def record(self, done: StepCheckpoint) -> StepCheckpoint:
        """Store a completed step's checkpoint; the one stored (an earlier one wins)."""
        ...


class NoCheckpoints:
    """Checkpoints kept in memory only: a run that cannot be resumed."""

    def __init__(self) -> None:
        self._done: dict[int, StepCheckpoint] = {}

    def completed(self) -> dict[int, StepCheckpoint]:
        return dict(self._done)

    def record(self, done: StepCheckpoint) -> StepCheckpoint:
        return self._done.setdefault(done.step, done)


class Supervisor:
    def __init__(self, llm: LlmClient) -> None:
        self._llm = llm

    def run(
        self, tenant_id: str, tier: str, task: str, report: Callable[[Progress], None],
        checkpoints: Checkpoints | None = None,
    ) -> RunOutcome:
        """Run every sub-agent in order, skipping the steps ``checkpoints`` hold as completed.
        Raises LlmUnavailable at the first failed call: the caller then bills nothing and
        refunds the admission."""
        checkpoints = checkpoints if checkpoints is not None else NoCheckpoints()
        completed = checkpoints.completed()
        calls: list[CallRecord] = []
        findings: list[tuple[str, str]] = []
        steps = len(PIPELINE)
        for step, agent in enumerate(PIPELINE, start=1):
            model = model_for(agent, tier)
            report(Progress(agent.name, step, steps, StepState.STARTED, model))
            done = completed.get(step)
            if done is None:
                reply = self._llm.complete(model, _messages(agent, task, findings), tenant_id)
                done = checkpoints.record(_checkpoint(step, agent, reply))
            usage = LlmUsage(done.prompt_tokens, done.cached_prompt_tokens, done.completion_tokens)
            calls.append(CallRecord(agent.name, ModelSize(done.model), usage, done.cost_micros))
            findings.append((agent.name, done.content))
            report(
                Progress(agent.name, step, steps, StepState.FINISHED, model, done.cost_micros)
            )
        return RunOutcome(_compose(findings), tuple(calls))


def _checkpoint(step: int, agent: SubAgent, reply: LlmReply) -> StepCheckpoint:
    usage = reply.usage
    return StepCheckpoint(
        step, agent.name.value, reply.model.value, reply.content.strip(), usage.prompt_tokens,
        usage.cached_prompt_tokens, usage.completion_tokens,
        call_cost_micros(reply.model, usage),
    )


def _messages(
    agent: SubAgent, task: str, findings: list[tuple[str, str]]
) -> list[ChatCompletionMessageParam]:
    earlier = "\n\n".join(f"## {name}\n{text}" for name, text in findings)
    user = f"Tenant request:\n{task}"
    if earlier:
        user += f"\n\nWork of the agents before you:\n{earlier}"
    return [
        {"role": "system", "content": f"You are the {agent.name} agent. {agent.instructions}"},
        {"role": "user", "content": user},
    ]


def _compose(findings: list[tuple[str, str]]) -> str:
    """The report the tenant receives: one section per agent, in pipeline order."""
    return "\n\n".join(f"## {name.capitalize()}\n{text}" for name, text in findings)
