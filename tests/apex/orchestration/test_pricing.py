"""Model calls are priced exactly from the price table, rounded half-even once per call, and a
run's charge is its cost plus its tier's margin; each tier's agents use the models it allows."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apex.catalog import ModelSize
from apex.llm.client import LlmUsage
from apex.orchestration.agents import PIPELINE, AgentName, model_for
from apex.orchestration.pricing import MARGIN_PERCENT, call_cost_micros, charge_micros


@pytest.mark.parametrize(
    ("model", "usage", "micros"),
    [
        (ModelSize.SMALL, LlmUsage(1_200, 0, 300), 180),
        (ModelSize.MEDIUM, LlmUsage(4_000, 1_000, 800), 21_300),
        (ModelSize.LARGE, LlmUsage(2_500, 0, 600), 111_000),
        (ModelSize.LARGE, LlmUsage(1_000_000, 1_000_000, 0), 15_000_000),
        (ModelSize.SMALL, LlmUsage(0, 0, 0), 0),
    ],
)
def test_a_call_costs_its_tokens_at_the_table_prices(
    model: ModelSize, usage: LlmUsage, micros: int
) -> None:
    assert call_cost_micros(model, usage) == micros


@pytest.mark.parametrize(
    ("prompt", "completion", "micros"),
    [
        (1_260, 20, 100),  # 100.5 -> 100: half to even, not up
        (1_220, 0, 92),  # 91.5 -> 92
        (1_250, 5, 95),  # 95.25 -> 95
        (1_230, 5, 94),  # 93.75 -> 94
    ],
)
def test_a_fraction_of_a_micro_dollar_rounds_half_to_even(
    prompt: int, completion: int, micros: int
) -> None:
    assert call_cost_micros(ModelSize.SMALL, LlmUsage(prompt, 0, completion)) == micros


def test_each_call_is_rounded_on_its_own_not_the_run_total() -> None:
    calls = [call_cost_micros(ModelSize.SMALL, LlmUsage(1_250, 0, 5)) for _ in range(4)]
    assert sum(calls) == 380  # the exact total, 381, is never what is billed


def test_more_cached_tokens_than_prompt_tokens_is_refused() -> None:
    with pytest.raises(ValueError, match="impossible"):
        call_cost_micros(ModelSize.SMALL, LlmUsage(10, 11, 0))


@pytest.mark.parametrize(
    ("tier", "cost", "charge"),
    [("mid", 163_980, 196_776), ("free", 400, 600), ("early", 24_480, 31_824),
     ("enterprise", 3, 3), ("mid", 3, 4)],
)
def test_the_charge_is_cost_plus_the_tier_margin_rounded_once(
    tier: str, cost: int, charge: int
) -> None:
    assert charge_micros(cost, tier) == charge
    assert isinstance(charge_micros(cost, tier), int)


def test_every_tier_has_a_margin() -> None:
    assert set(MARGIN_PERCENT) == {"free", "early", "mid", "enterprise"}
    assert all(isinstance(m, int) and 0 <= m < 100 for m in MARGIN_PERCENT.values())


@pytest.mark.parametrize(
    ("tier", "models"),
    [
        ("free", ["small", "small", "small", "small"]),
        ("early", ["small", "medium", "medium", "medium"]),
        ("mid", ["small", "medium", "large", "medium"]),
        ("enterprise", ["small", "medium", "large", "medium"]),
    ],
)
def test_each_tier_runs_its_agents_on_the_models_it_allows(tier: str, models: list[str]) -> None:
    assert [model_for(agent, tier).value for agent in PIPELINE] == models


def test_the_pipeline_runs_triage_analysis_optimization_report() -> None:
    assert [a.name for a in PIPELINE] == [
        AgentName.TRIAGE, AgentName.DATA_ANALYSIS, AgentName.OPTIMIZATION, AgentName.REPORT,
    ]


def test_no_float_is_involved() -> None:
    cost = call_cost_micros(ModelSize.SMALL, LlmUsage(3, 0, 0))  # 0.225 micro-dollars
    assert cost == 0 and Decimal(3) * Decimal("0.075") == Decimal("0.225")
