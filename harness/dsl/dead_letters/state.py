"""The dead-letter DSL's scenario state: the dead letters the scenario's runs became, what the
operator's last list showed, and what the operator's redrives answered."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.drivers.dead_letters.contract import DeadLetter, Redrive


@dataclass
class DeadLetterState:
    #: tenant name -> the id of the dead letter its run became
    letters: dict[str, str] = field(default_factory=dict)
    #: what the operator's last list showed, and what was asked for
    listed: list[DeadLetter] | None = None
    listed_what: str = ""
    #: each redrive command's answers, in order
    redrives: list[list[Redrive]] = field(default_factory=list)
    examined_list: bool = False
    examined_redrives: bool = False

    def leftovers(self) -> list[str]:
        found = []
        if self.listed is not None and not self.examined_list:
            found.append(f"no Then examined what the operator listed ({self.listed_what})")
        if len(self.redrives) > 1 and not self.examined_redrives:
            found.append("no Then examined what the operator's redrives answered")
        return found
