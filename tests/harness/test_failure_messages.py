"""A failed Then says, in the feature's words, what was expected and what happened, with the ids
involved; the objects themselves (dataclasses, enums) go into the step's attachment, never into
the message. Driven through the DSL on the in-memory tier platform of the contract test."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from harness.drivers.agent_runs.contract import Heard, HeardKind, RunState
from harness.drivers.bundle import Drivers
from harness.drivers.tiers.contract import Admission, RefusalReason
from harness.dsl.common.evidence import in_words
from harness.dsl.common.world import World
from harness.dsl.facade import Dsl
from harness.dsl.tiers.state import TiersState
from tests.harness.test_driver_contracts import Clock, InMemoryBackDoor, InMemoryTiers

#: What code looks like in a message: a record's repr, an enum's repr or qualified name.
CODE = re.compile(r"\b[A-Z]\w*\(\w+=|<\w+\.\w+: |\b[A-Z][a-z]+[A-Z]\w*\.[A-Z_]{2,}\b")


@pytest.fixture
def dsl() -> Iterator[Dsl]:
    platform = InMemoryTiers()
    drivers = Drivers(
        "in_memory", Clock(), tiers=platform, tiers_backdoor=InMemoryBackDoor(platform),
        missing={"agent runs": "not bound", "tenant configuration": "not bound"},
    )
    cleanups: list[object] = []
    yield Dsl(World(drivers, lambda *args: cleanups.append(args), eventually_timeout=1))


def failure(check: object, *args: object) -> str:
    with pytest.raises(AssertionError) as failed:
        check(*args)  # type: ignore[operator]
    message = str(failed.value)
    assert not CODE.search(message), f"the message shows code: {message}"
    return message


def test_a_request_expected_refused_but_admitted_is_named_with_its_id(dsl: Dsl) -> None:
    dsl.subscriptions.tenant_on_tier("Acme", "free", requests_used=1, quota=3)
    dsl.requests.make_requests("Acme", 1)
    message = failure(dsl.requests.nth_refused_with_offer, 1, "mid")
    admitted = _results(dsl)[0].request_id
    assert message == (
        "expected request 1 refused because the monthly quota is used; "
        f"{admitted} was admitted"
    )


def test_a_refusal_for_another_reason_names_the_request_and_its_reason(dsl: Dsl) -> None:
    dsl.subscriptions.tenant_on_tier("Acme", "free", requests_used=3, quota=3)
    dsl.requests.make_requests("Acme", 1)
    message = failure(dsl.requests.refused_count, 1, RefusalReason.SLOTS_FULL)
    refused = _results(dsl)[0].request_id
    assert f"{refused} was refused (the monthly quota is used)" in message
    assert "the tier's runs at once are all in use" in message


def test_a_count_that_is_off_lists_each_request_with_its_id_and_outcome(dsl: Dsl) -> None:
    dsl.subscriptions.tenant_on_tier("Acme", "free", requests_used=2, quota=3)
    dsl.requests.make_requests("Acme", 2)
    message = failure(dsl.requests.all_admitted, 2)
    first, second = (r.request_id for r in _results(dsl))
    assert message == (
        f"expected 2 requests admitted, 1 were: request 1: {first} was admitted; "
        f"request 2: {second} was refused (the monthly quota is used)"
    )


def test_a_move_that_was_not_rejected_says_so(dsl: Dsl) -> None:
    dsl.subscriptions.tenant_on_tier("Acme", "free")
    dsl.subscriptions.try_change_tier("Acme", "mid")
    message = failure(dsl.subscriptions.rejected_as_unknown_tier)
    assert message == "expected the move rejected as an unknown tier; it was not rejected"


def test_outcomes_read_as_words_without_class_or_enum_names() -> None:
    refusal = Admission("r-7", False, RefusalReason.QUOTA_USED, "upgrade to mid", offer="mid")
    assert in_words(refusal) == (
        "request id r-7, admitted no, reason the monthly quota is used, "
        "message upgrade to mid, retryable no, offer mid"
    )
    heard = Heard(HeardKind.STATE, "m-1", request_id="run-3", run_state=RunState.IN_PROGRESS,
                  raw={"secret": "not shown"})
    assert in_words([heard, None]) == (
        "kind state, message id m-1, request id run-3, run state in progress; nothing"
    )
    assert in_words(ValueError("the quota store is unreachable")) == (
        "the quota store is unreachable"
    )


def _results(dsl: Dsl) -> list[Admission]:
    return dsl.world.state(TiersState).results
