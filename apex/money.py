"""Money is exact: integer micro-dollars in code, ``NUMERIC(18,6)`` in PostgreSQL, ``Decimal``
at the edges. No float ever holds an amount."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

MICROS_PER_DOLLAR = 1_000_000


def dollars_to_micros(amount: Decimal | str | int) -> int:
    """Exact conversion; refuses amounts finer than a micro-dollar instead of rounding them."""
    value = Decimal(str(amount)) * MICROS_PER_DOLLAR
    if value != value.to_integral_value():
        raise ValueError(f"{amount} has more precision than a micro-dollar")
    return int(value)


def micros_to_dollars(micros: int) -> Decimal:
    return (Decimal(micros) / MICROS_PER_DOLLAR).quantize(Decimal("0.000001"))


def round_micros(value: Decimal) -> int:
    """Round a fractional micro-dollar amount (e.g. tokens x price) half-even, banker's style."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
