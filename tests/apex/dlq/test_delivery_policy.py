"""The delivery policy, alone: N deliveries, then the dead-letter queue; exponential backoff
with a cap between deliveries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from apex.dlq import DeadLetterSettings, DeliveryPolicy, QueueName, Reason, Unprocessable

MS = timedelta(milliseconds=1)


def test_by_default_two_failed_deliveries_are_retried_and_the_third_dead_lettered() -> None:
    policy = DeliveryPolicy()
    verdicts = [policy.decide(n, RuntimeError("boom")) for n in (1, 2, 3)]
    assert [v.reason for v in verdicts] == [None, None, Reason.MAX_DELIVERIES]


@pytest.mark.parametrize("limit", [1, 2, 5, 20])
def test_a_queue_with_its_own_limit_retries_exactly_until_it(limit: int) -> None:
    policy = DeliveryPolicy(max_deliveries=limit)
    retried = [n for n in range(1, limit + 3) if not policy.decide(n, ValueError()).dead_letter]
    assert retried == list(range(1, limit))


def test_a_delivery_past_the_limit_is_exhausted_and_the_last_allowed_one_is_not() -> None:
    policy = DeliveryPolicy(max_deliveries=3)
    assert [policy.exhausted(n) for n in (1, 3, 4, 9)] == [False, False, True, True]


def test_an_unprocessable_message_is_dead_lettered_on_its_first_delivery() -> None:
    verdict = DeliveryPolicy().decide(1, Unprocessable("payload does not decode"))
    assert verdict.reason is Reason.UNPROCESSABLE


def test_the_backoff_doubles_after_each_failed_delivery_up_to_its_cap() -> None:
    policy = DeliveryPolicy(
        max_deliveries=10, initial_backoff=100 * MS, multiplier=2, max_backoff=700 * MS
    )
    assert [policy.backoff(n) for n in range(1, 6)] == [
        100 * MS, 200 * MS, 400 * MS, 700 * MS, 700 * MS
    ]
    assert policy.decide(2, RuntimeError()).backoff == 200 * MS


@pytest.mark.parametrize(
    "bad",
    [
        {"max_deliveries": 0},
        {"max_deliveries": 1001},
        {"multiplier": 0.5},
        {"initial_backoff": timedelta(seconds=2), "max_backoff": timedelta(seconds=1)},
    ],
)
def test_a_policy_that_makes_no_sense_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DeliveryPolicy.model_validate(bad)


def test_deliveries_are_counted_from_one() -> None:
    with pytest.raises(ValueError, match="counted from 1"):
        DeliveryPolicy().decide(0, RuntimeError())


def test_the_settings_give_each_queue_the_default_limit_or_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APEX_DLQ_MAX_DELIVERIES", "4")
    monkeypatch.setenv("APEX_DLQ_MAX_DELIVERIES_BY_QUEUE", '{"usage": 6}')
    settings = DeadLetterSettings.from_environment()
    queues = settings.queues("ns-1")
    assert queues[QueueName.RUN_JOBS].policy.max_deliveries == 4
    assert queues[QueueName.USAGE].policy.max_deliveries == 6
    assert queues[QueueName.RUN_JOBS].stream == "apex:ns-1:runs:jobs"


def test_a_limit_for_a_queue_that_does_not_exist_stops_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APEX_DLQ_MAX_DELIVERIES_BY_QUEUE", '{"jobz": 6}')
    with pytest.raises(Exception, match="APEX_DLQ_MAX_DELIVERIES_BY_QUEUE"):
        DeadLetterSettings.from_environment()
