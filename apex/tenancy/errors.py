"""Errors of tenant configuration. All derive from :class:`TenancyError`, itself an
:class:`apex.errors.ApexError`; malformed input raises :class:`apex.errors.InvalidInput`.

Messages never contain a setting's value, a secret, or anything about another tenant beyond the
id the caller sent.
"""

from __future__ import annotations

from apex.errors import ApexError, InvalidInput


class TenancyError(ApexError):
    """Base of the errors of tenant configuration."""


class AccessDenied(TenancyError):
    """The caller may not do this to the configuration it addressed. Said the same way whether
    or not the addressed tenant exists, so a refusal reveals nothing."""


class SettingNotFound(TenancyError):
    """The caller's own configuration has no setting of that name."""


class RegionNotPinned(TenancyError):
    """The tenant has not been given a home region, so it has no configuration store yet."""


class RegionAlreadyPinned(TenancyError):
    """A tenant's home region never changes: its data is never moved or copied elsewhere."""


class SecretTampered(TenancyError):
    """A stored secret failed its integrity check (altered, or copied from another tenant or
    setting). Nothing of it is returned."""


class UnknownRegion(InvalidInput):
    """The region is not one the platform runs in."""
