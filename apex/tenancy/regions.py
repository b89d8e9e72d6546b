"""The regions the platform runs in, and where each region's data lives.

Each region has its own PostgreSQL database (``apex_eu``, ``apex_us``, ``apex_apac``), its own
Redis database number for the configuration cache, and its own encryption key. Nothing of one
region's tenants is ever written to another region's stores.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from urllib.parse import urlsplit, urlunsplit

from apex.tenancy.errors import UnknownRegion

KEY_BYTES = 32  # AES-256


class Region(StrEnum):
    EU = "eu"
    US = "us"
    APAC = "apac"


#: Redis database number of each region's configuration cache (0 is the platform's own).
_REDIS_DB = {Region.EU: 1, Region.US: 2, Region.APAC: 3}


def region(value: object) -> Region:
    """The region named by ``value`` (case-insensitive), or UnknownRegion."""
    if isinstance(value, str):
        try:
            return Region(value.strip().lower())
        except ValueError:
            pass
    shown = repr(value)[:40]
    raise UnknownRegion(
        f"unknown region {shown}: choose one of {', '.join(r.value for r in Region)}"
    )


def database_name(home: Region) -> str:
    """The PostgreSQL database holding a region's configuration and audit trail."""
    return f"apex_{home.value}"


def cache_url(redis_url: str, home: Region) -> str:
    """``redis_url`` pointed at the region's cache database (same server, own database)."""
    parts = urlsplit(redis_url)
    return urlunsplit(parts._replace(path=f"/{_REDIS_DB[home]}"))


@dataclass(frozen=True)
class RegionKeys:
    """One 256-bit data key per region. In production each comes from that region's KMS; the
    key id names the version so that keys can rotate without rewriting old records at once."""

    keys: Mapping[Region, bytes] = field(repr=False)
    key_id: str = "k1"

    def __post_init__(self) -> None:
        missing = [r.value for r in Region if len(self.keys.get(r, b"")) != KEY_BYTES]
        if missing:
            raise ValueError(f"a {KEY_BYTES * 8}-bit key is needed for region(s) {missing}")
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    @classmethod
    def generate(cls) -> RegionKeys:
        """Fresh random keys (tests, a run of the suite)."""
        return cls({r: os.urandom(KEY_BYTES) for r in Region})

    def key(self, home: Region) -> bytes:
        return self.keys[home]

    def printable_forms(self) -> list[str]:
        """Every text form a key could leak in (hex, base64), for log redaction."""
        forms: list[str] = []
        for key in self.keys.values():
            forms += [
                key.hex(), base64.b64encode(key).decode(),
                base64.urlsafe_b64encode(key).decode(),
            ]
        return forms
