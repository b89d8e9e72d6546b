"""Money as the suite writes and reads it: exact integer micro-dollars, shown as the features
show it ("$0.07", "$1,000"). The harness's own arithmetic, so that what a Then expects never
comes from the platform's code (STYLE 10b)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

MICROS_PER_DOLLAR = 1_000_000


def dollars_to_micros(amount: Decimal | str | int) -> int:
    """Exact; an amount finer than a micro-dollar is an error, never rounded away."""
    value = Decimal(str(amount)) * MICROS_PER_DOLLAR
    if value != value.to_integral_value():
        raise ValueError(f"{amount} has more precision than a micro-dollar")
    return int(value)


def round_micros(value: Decimal) -> int:
    """A fractional micro-dollar amount rounded once, half to even (as the features say)."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def format_dollars(micros: int) -> str:
    """``$0.000400`` -> "$0.0004", ``$1`` -> "$1", thousands with commas."""
    dollars = (Decimal(micros) / MICROS_PER_DOLLAR).quantize(Decimal("0.000001"))
    if dollars % 1:
        return f"${dollars:,.6f}".rstrip("0")
    return f"${dollars:,.0f}"
