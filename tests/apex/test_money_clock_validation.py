"""Small foundations of the platform: money, the test clock, validation of what callers send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apex import validation
from apex.clock import FrozenClock, billing_period, next_period_start
from apex.errors import InvalidInput
from apex.money import dollars_to_micros, micros_to_dollars, round_micros


def test_money_is_exact_to_the_micro_dollar() -> None:
    assert dollars_to_micros("0.01") == 10_000
    assert dollars_to_micros(Decimal("0.075")) == 75_000
    assert micros_to_dollars(1) == Decimal("0.000001")
    assert round_micros(Decimal("2.5")) == 2 and round_micros(Decimal("3.5")) == 4
    with pytest.raises(ValueError, match="precision"):
        dollars_to_micros("0.0000001")


def test_the_test_clock_moves_forward_only() -> None:
    clock = FrozenClock(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert billing_period(clock.now()) == "2026-12"
    clock.advance(timedelta(seconds=1))
    assert billing_period(clock.now()) == "2027-01"
    assert next_period_start(clock.now()) == datetime(2027, 2, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(timedelta(seconds=-1))


@pytest.mark.parametrize(
    "raw", ["acme'; DROP TABLE tenants;--", "*", "../acme", "{acme}:quota", "A", "", "a b", None]
)
def test_crafted_tenant_ids_are_refused(raw: object) -> None:
    with pytest.raises(InvalidInput, match="tenant id"):
        validation.tenant_id(raw)


@pytest.mark.parametrize("units", [0, -1, 1_001, True, 2.5, "3"])
def test_absurd_batch_sizes_are_refused(units: object) -> None:
    with pytest.raises(InvalidInput, match="batch size"):
        validation.units(units)
