"""Validation of everything a caller supplies, before any store is touched.

Ids are restricted to a small alphabet so that nothing a tenant sends can address another
tenant's keys or rows (no ``*``, ``:``, quotes, ``..``, braces or whitespace).
"""

from __future__ import annotations

import re

from apex.errors import InvalidInput

_TENANT_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])?")
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")

#: Largest batch one call may submit (counted as that many requests); beyond it, absurd.
MAX_UNITS_PER_REQUEST = 1_000


def tenant_id(value: object) -> str:
    if not isinstance(value, str) or not _TENANT_ID.fullmatch(value):
        raise InvalidInput(
            f"invalid tenant id {_shown(value)}: use 2-63 lowercase letters, digits and hyphens"
        )
    return value


def request_id(value: object) -> str:
    if not isinstance(value, str) or not _REQUEST_ID.fullmatch(value):
        raise InvalidInput(
            f"invalid request id {_shown(value)}: use 1-128 letters, digits, '_' and '-'"
        )
    return value


def units(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"batch size must be a whole number, not {_shown(value)}")
    if not 1 <= value <= MAX_UNITS_PER_REQUEST:
        raise InvalidInput(
            f"batch size must be between 1 and {MAX_UNITS_PER_REQUEST:,} requests, not {value:,}"
        )
    return value


def _shown(value: object) -> str:
    """A bounded, printable rendering of untrusted input for error messages."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
