"""The supervisor: runs the sub-agents of a run in pipeline order, each with one model call on
the model its tier allows, handing each agent the work of the ones before it. It reports every
agent's start and finish as it goes and prices every call; it bills nothing itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from openai.types.chat import ChatCompletionMessageParam

from apex.catalog import ModelSize
from apex.llm.client import LlmClient, LlmUsage
from apex.orchestration.agents import PIPELINE, SubAgent, model_for
from apex.orchestration.pricing import call_cost_micros
from apex.runs.model import StepState


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


class Supervisor:
    def __init__(self, llm: LlmClient) -> None:
        self._llm = llm

    def run(
        self, tenant_id: str, tier: str, task: str, report: Callable[[Progress], None]
    ) -> RunOutcome:
        """Run every sub-agent in order. Raises LlmUnavailable at the first failed call: the
        caller then bills nothing and refunds the admission."""
        calls: list[CallRecord] = []
        findings: list[tuple[str, str]] = []
        steps = len(PIPELINE)
        for step, agent in enumerate(PIPELINE, start=1):
            model = model_for(agent, tier)
            report(Progress(agent.name, step, steps, StepState.STARTED, model))
            reply = self._llm.complete(model, _messages(agent, task, findings), tenant_id)
            cost = call_cost_micros(model, reply.usage)
            calls.append(CallRecord(agent.name, model, reply.usage, cost))
            findings.append((agent.name, reply.content.strip()))
            report(Progress(agent.name, step, steps, StepState.FINISHED, model, cost))
        return RunOutcome(_compose(findings), tuple(calls))


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
