"""Platform processes read the suite's test clock through Redis: what the suite's clock says,
to the microsecond, the moment it moves; never the system time as a silent fallback."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

from apex.clock import RedisClock
from apex.errors import ClockNotPublished
from harness.services import Services
from harness.services.clock import PublishedClock

START = datetime(2031, 1, 31, 23, 59, 59, 999_999, tzinfo=UTC)


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(services.redis_url)
    try:
        yield connection
    finally:
        connection.close()


def test_a_published_clock_is_read_to_the_microsecond_and_follows_every_move(
    services: Services, client: redis.Redis
) -> None:
    key = f"apex:clock:test-{secrets.token_hex(3)}"
    suite = PublishedClock(START)
    platform = RedisClock(client, key)
    suite.publish_to(services.redis_url, key)
    try:
        assert platform.now() == START
        suite.advance(timedelta(microseconds=1))
        assert platform.now() == datetime(2031, 2, 1, tzinfo=UTC)
        suite.move_to(datetime(2031, 3, 1, 12, tzinfo=UTC))
        assert platform.now() == datetime(2031, 3, 1, 12, tzinfo=UTC)
    finally:
        suite.stop_publishing()
    suite.advance(timedelta(days=1))  # no longer published: the platform keeps the last instant
    assert platform.now() == datetime(2031, 3, 1, 12, tzinfo=UTC)


def test_a_clock_nobody_published_is_an_error(client: redis.Redis) -> None:
    with pytest.raises(ClockNotPublished, match="no instant is published"):
        RedisClock(client, f"apex:clock:absent-{secrets.token_hex(3)}").now()


def test_an_instant_before_the_epoch_survives_the_round_trip(client: redis.Redis) -> None:
    key = f"apex:clock:test-{secrets.token_hex(3)}"
    instant = datetime(1969, 7, 20, 20, 17, 40, 123_456, tzinfo=UTC)
    RedisClock.publish(client, key, instant)
    assert RedisClock(client, key).now() == instant
