"""Every error the platform raises derives from :class:`ApexError`.

Messages are written for the person who sent the request: they say what was wrong and what to
do, and they never contain secrets or connection strings.
"""

from __future__ import annotations


class ApexError(Exception):
    """Base of all platform errors."""

    #: Whether sending the same request later may succeed.
    retryable: bool = False


class InvalidInput(ApexError):
    """The request is malformed: nothing was changed."""


class UnknownTenant(ApexError):
    """The tenant id names no tenant of the platform."""


class UnknownTier(InvalidInput):
    """The tier name is not in the catalog."""


class ServiceUnavailable(ApexError):
    """A backing store could not be reached; nothing was admitted or billed."""

    retryable = True


class LedgerUnavailable(ServiceUnavailable):
    """The billing ledger could not be reached; nothing was billed."""


class ClockNotPublished(ApexError):
    """A platform process reads the published test clock, and nobody has published it."""
