"""What a run costs and what the tenant pays for it, exactly.

Each model call is priced from the versioned price table (``apex.catalog.MODEL_PRICES``, per
million tokens) in ``Decimal`` and rounded half-even to the micro-dollar once, per call. The run's
charge is its cost plus its tier's margin, rounded once more. No float ever holds an amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from apex import catalog
from apex.catalog import MODEL_PRICES, ModelSize
from apex.llm.client import LlmUsage
from apex.money import round_micros

_MILLION = Decimal(1_000_000)

#: Margin on model cost, in percent, by tier. Versioned with the price table.
MARGIN_PERCENT: Mapping[str, int] = MappingProxyType(
    {"free": 50, "early": 30, "mid": 20, "enterprise": 15}
)


def call_cost_micros(model: ModelSize, usage: LlmUsage) -> int:
    """Cost of one call in micro-dollars: uncached input, cached input and output tokens at
    their prices, summed exactly, then rounded half-even once."""
    price = MODEL_PRICES[model]
    uncached = usage.prompt_tokens - usage.cached_prompt_tokens
    if uncached < 0 or usage.completion_tokens < 0:
        raise ValueError(f"impossible token usage {usage}")
    exact = (
        Decimal(uncached) * price.input_per_million_micros
        + Decimal(usage.cached_prompt_tokens) * price.cached_input_per_million_micros
        + Decimal(usage.completion_tokens) * price.output_per_million_micros
    ) / _MILLION
    return round_micros(exact)


def margin_percent(tier: str) -> int:
    return MARGIN_PERCENT[catalog.tier(tier).name]


def charge_micros(cost_micros: int, tier: str) -> int:
    """What the tenant pays for a run that cost ``cost_micros``: cost plus the tier's margin."""
    return round_micros(Decimal(cost_micros) * (100 + margin_percent(tier)) / 100)
