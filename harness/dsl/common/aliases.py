"""Names in scenarios ("Acme") map to ids unique to the scenario and the run, so scenarios never
collide and never need a global wipe, even on a shared external stack."""

from __future__ import annotations

import itertools
import re
import secrets

_RUN_TOKEN = secrets.token_hex(3)
_COUNTER = itertools.count(1)


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return (slug or "tenant")[:24]


class Aliases:
    def __init__(self) -> None:
        self._scenario = next(_COUNTER)
        self._tenants: dict[str, str] = {}
        self._requests = itertools.count(1)

    def tenant(self, name: str) -> str:
        """The tenant id standing for ``name`` in this scenario (made on first use)."""
        if name not in self._tenants:
            self._tenants[name] = f"{_slug(name)}-{_RUN_TOKEN}-{self._scenario}"
        return self._tenants[name]

    def known_tenant(self, name: str) -> str:
        try:
            return self._tenants[name]
        except KeyError:
            raise AssertionError(
                f"no tenant called {name!r} was set up in this scenario "
                f"(known: {', '.join(self._tenants) or 'none'})"
            ) from None

    def names(self) -> dict[str, str]:
        return dict(self._tenants)

    def request_id(self) -> str:
        return f"req-{_RUN_TOKEN}-{self._scenario}-{next(self._requests)}"
