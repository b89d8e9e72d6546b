"""Allure steps named in business words; on failure they attach what was seen, redacted."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any

import allure

from harness.reporting.redaction import REDACTOR


@contextlib.contextmanager
def business_step(title: str, seen: Callable[[], Any] | None = None) -> Iterator[None]:
    """Run a DSL action as an Allure step; if it fails, attach ``seen()`` as evidence."""
    with allure.step(REDACTOR.redact(title)):
        try:
            yield
        except BaseException:
            if seen is not None:
                attach("what the suite saw", seen())
            raise


def attach(name: str, value: Any) -> None:
    try:
        body = json.dumps(value, indent=2, default=_plain)
    except (TypeError, ValueError):
        body = repr(value)
    allure.attach(
        REDACTOR.redact(body), name=name, attachment_type=allure.attachment_type.JSON
    )


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Enum):
        return value.value
    return str(value)
