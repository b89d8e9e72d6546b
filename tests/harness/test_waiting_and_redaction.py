"""Small foundations of the harness: polling with a deadline, and redaction of secrets."""

from __future__ import annotations

import pytest

from harness.errors import NotSatisfied
from harness.reporting.redaction import Redactor
from harness.waiting import eventually


def test_eventually_returns_once_the_check_holds() -> None:
    calls = iter([AssertionError("not yet"), AssertionError("almost"), "done"])

    def check() -> str:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert eventually(check, timeout=2, interval=0.001) == "done"


def test_eventually_says_what_it_last_saw_and_how_long_it_waited() -> None:
    def never() -> None:
        raise AssertionError("ledger has 3 events, analytics 2")

    expected = r"analytics did not hold within 0\.1s .*last seen: ledger has 3 events"
    with pytest.raises(NotSatisfied, match=expected):
        eventually(never, timeout=0.1, interval=0.01, what="analytics")


def test_secrets_are_masked_by_value_and_by_shape() -> None:
    redactor = Redactor()
    redactor.register("correct-horse-battery")
    text = redactor.redact(
        "key correct-horse-battery; postgresql://app:pw123456@db/x; password=abc123xyz; "
        "Authorization: Bearer tok.en-value; sk-live_abcdefghijklmnop"
    )
    for secret in ("correct-horse-battery", "pw123456", "abc123xyz", "tok.en-value",
                   "sk-live_abcdefghijklmnop"):
        assert secret not in text, text
    assert "postgresql://app:***@db/x" in text
