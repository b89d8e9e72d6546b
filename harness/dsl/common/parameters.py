"""Parameter types for step patterns: numbers as product owners write them ("9,990", "-1"),
money ("$0.07") and seconds ("29.999"). Registered once, before step modules load (from
environment.py)."""

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


@parse.with_pattern(r"\d+(?:\.\d+)?")  # type: ignore[untyped-decorator]
def parse_seconds(text: str) -> Decimal:
    """A duration in seconds, to the millisecond the platform's clock counts in ("29.999")."""
    return Decimal(text)


def register_parameter_types() -> None:
    register_type(Count=parse_count, Money=parse_money, Seconds=parse_seconds)
