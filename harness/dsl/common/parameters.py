"""Parameter types for step patterns: numbers as product owners write them ("9,990", "-1")
and money ("$0.07"). Registered once, before step modules load (from environment.py)."""

from __future__ import annotations

from decimal import Decimal

import parse
from behave import register_type

from harness.money import dollars_to_micros


@parse.with_pattern(r"-?\d{1,3}(?:,\d{3})+|-?\d+")  # type: ignore[untyped-decorator]
def parse_count(text: str) -> int:
    return int(text.replace(",", ""))


@parse.with_pattern(r"\$\d[\d,]*(?:\.\d+)?")  # type: ignore[untyped-decorator]
def parse_money(text: str) -> int:
    """Dollars to exact micro-dollars."""
    return dollars_to_micros(Decimal(text[1:].replace(",", "")))


def register_parameter_types() -> None:
    register_type(Count=parse_count, Money=parse_money)
