"""The sub-agents of an AI-spend optimization run, in the order the supervisor runs them, and
the model each one uses on each tier."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from apex import catalog
from apex.catalog import ModelSize

_ORDER = (ModelSize.SMALL, ModelSize.MEDIUM, ModelSize.LARGE)


class AgentName(StrEnum):
    TRIAGE = "triage"
    DATA_ANALYSIS = "data analysis"
    OPTIMIZATION = "optimization"
    REPORT = "report"


@dataclass(frozen=True, slots=True)
class SubAgent:
    name: AgentName
    #: the model the agent uses when the tenant's tier allows it
    preferred: ModelSize
    instructions: str


PIPELINE: tuple[SubAgent, ...] = (
    SubAgent(
        AgentName.TRIAGE, ModelSize.SMALL,
        "You triage an AI-spend optimization request: restate the goal and list the spend "
        "areas to examine.",
    ),
    SubAgent(
        AgentName.DATA_ANALYSIS, ModelSize.MEDIUM,
        "You analyse the tenant's AI spend in the areas triage listed and name the largest "
        "cost drivers.",
    ),
    SubAgent(
        AgentName.OPTIMIZATION, ModelSize.LARGE,
        "You propose concrete optimizations for the cost drivers found, each with its "
        "expected saving.",
    ),
    SubAgent(
        AgentName.REPORT, ModelSize.MEDIUM,
        "You write the final report for the tenant: findings, optimizations, expected savings.",
    ),
)


def model_for(agent: SubAgent, tier: str) -> ModelSize:
    """The agent's preferred model if the tier allows it, else the largest allowed smaller one
    (the free tier's runs use only the small model)."""
    allowed = catalog.tier(tier).models
    preferred_rank = _ORDER.index(agent.preferred)
    fitting = [size for size in _ORDER[: preferred_rank + 1] if size in allowed]
    if not fitting:
        raise ValueError(f"the {tier} tier allows no model for the {agent.name} agent")
    return fitting[-1]
