"""Allure steps named in business words; on failure they attach what was seen, redacted.

A failure message says in the feature's words what was expected and what happened, with ids;
the objects themselves go into the step's attachment. ``in_words`` renders an outcome for a
message without its class or enum names: ``Admission(request_id='r-1', admitted=False, ...)``
reads ``request id r-1, admitted no, reason the monthly quota is used``.
"""

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
    """Run a DSL action as an Allure step; if it fails, attach ``seen()`` as evidence.

    A failure inside fails every business step around it (the exception passes through each),
    and the evidence is attached once, by the innermost step that has some."""
    with allure.step(REDACTOR.redact(title)):
        try:
            yield
        except BaseException as failure:
            if seen is not None and not getattr(failure, _EVIDENCE_ATTACHED, False):
                attach("what the suite saw", seen())
                with contextlib.suppress(AttributeError):  # built-ins may refuse attributes
                    setattr(failure, _EVIDENCE_ATTACHED, True)
            raise


#: Marks an exception whose evidence a business step has attached already.
_EVIDENCE_ATTACHED = "_apex_evidence_attached"


def in_words(value: Any) -> str:
    """An outcome (a record, an enum, an error, a list of them) as a failure message shows it:
    fields by name, empty ones left out, enums by their words, errors by their message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, BaseException):
        return str(value) or type(value).__doc__ or "an error without a message"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        shown = [
            f"{f.name.replace('_', ' ')} {in_words(v)}"
            for f in dataclasses.fields(value)
            if f.repr and (v := getattr(value, f.name)) not in (None, "", (), [], {})
        ]
        return ", ".join(shown)
    if isinstance(value, (list, tuple, set, frozenset)):
        return "; ".join(in_words(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{in_words(k)}: {in_words(v)}" for k, v in value.items()) or "none"
    return str(value)


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
