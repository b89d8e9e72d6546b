"""The product's numbers: subscription tiers and model prices, read from one place.

Features show these numbers in tables; the platform reads them only from here, and publishes the
enforcement-relevant part to Redis so that an admission decision needs one round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from apex.errors import UnknownTier
from apex.money import dollars_to_micros

#: Sentinel for "no cap" in limits (enterprise). Kept as an int so Lua and SQL can carry it.
UNLIMITED = -1


class ModelSize(StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    rank: int
    requests_per_month: int
    concurrent_runs: int
    tool_calls_per_day: int
    llm_budget_per_day_micros: int
    models: frozenset[ModelSize]
    #: Price of one request beyond what the subscription includes; enterprise is metered.
    metered_price_per_request_micros: int

    @property
    def unlimited_requests(self) -> bool:
        return self.requests_per_month == UNLIMITED


TIERS: Mapping[str, Tier] = MappingProxyType(
    {
        tier.name: tier
        for tier in (
            Tier("free", 0, 100, 2, 50, dollars_to_micros(1), frozenset({ModelSize.SMALL}), 0),
            Tier(
                "early", 1, 1_000, 5, 500, dollars_to_micros(10),
                frozenset({ModelSize.SMALL, ModelSize.MEDIUM}), 0,
            ),
            Tier(
                "mid", 2, 10_000, 20, 5_000, dollars_to_micros(100),
                frozenset({ModelSize.SMALL, ModelSize.MEDIUM, ModelSize.LARGE}), 0,
            ),
            Tier(
                "enterprise", 3, UNLIMITED, 100, UNLIMITED, UNLIMITED,
                frozenset(ModelSize), dollars_to_micros("0.01"),
            ),
        )
    }
)


def tier(name: str) -> Tier:
    try:
        return TIERS[name]
    except KeyError:
        known = ", ".join(TIERS)
        raise UnknownTier(f"unknown tier {name!r}; the catalog has: {known}") from None


def next_tier(current: Tier) -> Tier | None:
    """The tier a refused tenant is offered: the next one up, or None at the top."""
    higher = sorted((t for t in TIERS.values() if t.rank > current.rank), key=lambda t: t.rank)
    return higher[0] if higher else None


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Dollars per million tokens, as micro-dollars per million tokens (exact integers)."""

    model: ModelSize
    input_per_million_micros: int
    cached_input_per_million_micros: int
    output_per_million_micros: int


#: Prices are versioned data: a change adds a version, it never edits one that billed money.
PRICE_TABLE_VERSION = "2026-11-01"
MODEL_PRICES: Mapping[ModelSize, ModelPrice] = MappingProxyType(
    {
        ModelSize.LARGE: ModelPrice(
            ModelSize.LARGE, dollars_to_micros(30), dollars_to_micros(15), dollars_to_micros(60)
        ),
        ModelSize.MEDIUM: ModelPrice(
            ModelSize.MEDIUM, dollars_to_micros(3), dollars_to_micros("0.30"), dollars_to_micros(15)
        ),
        ModelSize.SMALL: ModelPrice(
            ModelSize.SMALL,
            dollars_to_micros("0.075"),
            dollars_to_micros("0.02"),
            dollars_to_micros("0.30"),
        ),
    }
)
