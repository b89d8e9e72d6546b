"""Shared fixtures: one set of real embedded services for the whole pytest session."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from apex.clock import FrozenClock
from harness.services import Services, start_services
from harness.settings import SuiteSettings


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    """Redis, PostgreSQL and ClickHouse, embedded, started once and stopped at session end."""
    with start_services(SuiteSettings.load({"services": "embedded"})) as running:
        yield running


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
