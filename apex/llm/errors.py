"""Errors of the language-model client."""

from __future__ import annotations

from apex.errors import ApexError


class LlmUnavailable(ApexError):
    """The model endpoint failed or gave an answer that cannot be used; nothing was billed."""

    retryable = True
