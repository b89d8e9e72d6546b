"""Which assembly a feature runs in, or why it cannot run in the one chosen."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.settings import Assembly

#: What each level tag declares: the assemblies the feature's capability has drivers for.
_LEVEL_ASSEMBLIES = {
    "L3": (Assembly.IN_PROCESS,),
    "L4": (Assembly.NETWORK, Assembly.IN_PROCESS),
}


@dataclass(frozen=True)
class Choice:
    """The assembly a feature runs in (None when it is skipped, ``skip`` saying why)."""

    assembly: Assembly | None
    skip: str | None = None

    @property
    def level(self) -> str | None:
        """The level that actually runs: L3 in-process, L4 over the network."""
        return self.assembly.level if self.assembly is not None else None


def choose(feature_tags: Iterable[str], chosen: Assembly | None) -> Choice:
    """``chosen`` (the ``assembly`` setting) for every feature, or unset: the feature's level.

    An ``@L4`` feature's capability has a network driver and an in-process one; an ``@L3``
    feature's has only the in-process one, so ``assembly=network`` skips it, saying so."""
    tags = set(feature_tags)
    level = "L4" if "L4" in tags else "L3"
    supported = _LEVEL_ASSEMBLIES[level]
    if chosen is None:
        return Choice(supported[0])
    if chosen not in supported:
        return Choice(
            None,
            f"assembly={chosen.value} was chosen, and this @{level} feature's capability has "
            f"no {chosen.value.replace('_', '-')} driver",
        )
    return Choice(chosen)
