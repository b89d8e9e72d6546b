"""Errors of the stream framework."""

from __future__ import annotations

from apex.errors import ServiceUnavailable


class StreamError(ServiceUnavailable):
    """The stream store could not be read or written; the entry stays where it was."""
