"""Every error the harness raises derives from :class:`HarnessError`."""

from __future__ import annotations


class HarnessError(Exception):
    """Base of all harness errors."""


class SettingsError(HarnessError):
    """A setting (userdata ``-D`` or environment) has a bad value; the run stops."""


class ServiceStartError(HarnessError):
    """A backing service could not be started or reached; the run stops."""

    def __init__(self, service: str, why: str, hint: str) -> None:
        super().__init__(f"{service} did not start: {why}. {hint}")
        self.service = service


class TagError(HarnessError):
    """A feature uses a tag outside the vocabulary, or lacks a required one."""


class NotSatisfied(AssertionError, HarnessError):
    """An expectation polled with ``eventually`` did not hold before its deadline."""
