"""The tenant-configuration DSL's scenario state (one per scenario, registered with the World),
shared by its parts (own configuration, cross-tenant attempts, the stores beneath)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.drivers.tenant_config.contract import AccountSnapshot, ConnectionTrace, Setting
from harness.dsl.common.world import ErrorSlot
from harness.dsl.tenant_config.attacks import Attempt

#: What one attempt got: the attempt, how it ended ("access denied", "allowed"...), what it
#: returned.
Tried = tuple[Attempt, str, list[Setting]]


@dataclass
class TenantConfigState:
    #: the answer of the last read, and the refusal of the last action a Then must examine
    answer: Setting | None = None
    error: ErrorSlot = field(default_factory=ErrorSlot)
    #: what the last listing or raw query returned (settings, or tenant ids of rows)
    seen: list[object] = field(default_factory=list)
    #: raw rows noted before an action, per tenant id (or "audit")
    before: dict[str, list[tuple[object, ...]]] = field(default_factory=dict)
    trace: ConnectionTrace | None = None
    #: LLM provider keys stored in the scenario, per tenant name
    keys: dict[str, str] = field(default_factory=dict)
    #: whose key was last asked for
    asked: str = ""
    job_names: list[str] = field(default_factory=list)
    #: values only the victim has (what would betray a leak)
    victim_values: set[str] = field(default_factory=set)
    attacker_id: str = ""
    attempts: list[Tried] = field(default_factory=list)
    #: an account before a write aimed at it, and how the database answered the write
    account_before: AccountSnapshot | None = None
    account_write: str | None = None

    def leftovers(self) -> list[str]:
        return self.error.leftovers()
