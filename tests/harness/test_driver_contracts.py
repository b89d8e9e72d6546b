"""The DSL knows only the drivers' contracts: a second, minimal implementation of the tier
contract, written here in memory, plugs into the same DSL and answers the same business steps,
so that "bind the suite to another platform" means writing drivers, not touching the DSL."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.drivers.bundle import Drivers
from harness.drivers.tiers.contract import (
    Admission,
    InvalidRequest,
    RefusalReason,
    Store,
    StoreLink,
    TierInstance,
    TierTerms,
    Totals,
    UnknownTier,
)
from harness.dsl.common.world import World
from harness.dsl.facade import Dsl

REPO = Path(__file__).resolve().parents[2]
_TERMS = {
    "free": TierTerms("free", 3, 2, 50, 1_000_000, ("small",), 0),
    "mid": TierTerms("mid", 10, 5, 5_000, 100_000_000, ("small", "medium", "large"), 0),
}


class Clock:
    def __init__(self) -> None:
        self._now = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def move_to(self, instant: datetime) -> datetime:
        self._now = instant
        return self._now


@dataclass
class InMemoryTiers:
    """Another platform's tier enforcement: a few dictionaries, no store, no apex."""

    tiers: dict[str, str] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)
    slots: dict[str, set[str]] = field(default_factory=dict)
    billed: dict[str, int] = field(default_factory=dict)

    def subscribe(self, tenant_id: str, display_name: str, tier: str) -> None:
        self.tiers[tenant_id] = tier

    def change_tier(self, tenant_id: str, tier: str) -> None:
        if tier not in _TERMS:
            raise UnknownTier(f"no tier {tier!r}; on offer: free, early, mid, enterprise")
        self.tiers[tenant_id] = tier

    def current_tier(self, tenant_id: str) -> str:
        return self.tiers[tenant_id]

    def submit(self, tenant_id: str, request_id: str, units: int = 1) -> Admission:
        if units < 1:
            raise InvalidRequest(f"the batch size must be at least 1, not {units}")
        terms = _TERMS[self.tiers[tenant_id]]
        held = self.slots.setdefault(tenant_id, set())
        if self.used.get(tenant_id, 0) + units > (terms.requests_per_month or 0):
            return Admission(request_id, False, RefusalReason.QUOTA_USED, "upgrade to mid",
                             offer="mid")
        if len(held) >= (terms.concurrent_runs or 0):
            return Admission(request_id, False, RefusalReason.SLOTS_FULL, "wait")
        held.add(request_id)
        self.used[tenant_id] = self.used.get(tenant_id, 0) + units
        self.billed[tenant_id] = self.billed.get(tenant_id, 0) + units
        return Admission(request_id, True)

    def release_slot(self, tenant_id: str, request_id: str) -> None:
        self.slots.get(tenant_id, set()).discard(request_id)

    def renew_slot(self, tenant_id: str, request_id: str) -> bool:
        return request_id in self.slots.get(tenant_id, set())

    def quota_used(self, tenant_id: str) -> int:
        return self.used.get(tenant_id, 0)

    def slots_held(self, tenant_id: str) -> int:
        return len(self.slots.get(tenant_id, set()))

    def ledger_totals(self, tenant_id: str) -> Totals:
        units = self.billed.get(tenant_id, 0)
        return Totals(units, units, 0)

    def analytics_totals(self, tenant_id: str) -> Totals:
        return self.ledger_totals(tenant_id)

    def close(self) -> None:
        pass

    def tier_catalog(self) -> list[TierTerms]:
        return list(_TERMS.values())

    def another_instance(self) -> TierInstance:
        return self

    def instance_with_cuttable_store(self, store: Store) -> tuple[TierInstance, StoreLink]:
        raise NotImplementedError(f"this platform keeps its {store} in memory")


@dataclass
class InMemoryBackDoor:
    tiers: InMemoryTiers

    def set_requests_used(self, tenant_id: str, used: int) -> None:
        self.tiers.used[tenant_id] = used

    def forget_tenant(self, tenant_id: str) -> None:
        raise NotImplementedError("this platform keeps no working copies to lose")


@pytest.fixture
def platform() -> InMemoryTiers:
    return InMemoryTiers()


@pytest.fixture
def dsl(platform: InMemoryTiers) -> Iterator[Dsl]:
    drivers = Drivers(
        "in_memory", Clock(), tiers=platform, tiers_backdoor=InMemoryBackDoor(platform),
        missing={"agent runs": "not bound", "tenant configuration": "not bound"},
    )
    cleanups: list[object] = []
    yield Dsl(World(drivers, lambda *args: cleanups.append(args), eventually_timeout=1))


def test_the_quota_rule_runs_against_another_implementation(
    dsl: Dsl, platform: InMemoryTiers
) -> None:
    dsl.subscriptions.tenant_on_tier("Acme", "free", requests_used=1, quota=3)
    dsl.requests.make_requests("Acme", 3)
    dsl.requests.nth_admitted(2)
    dsl.requests.nth_refused_with_offer(3, "mid")
    dsl.requests.quota_used_is("Acme", 3)
    dsl.billing.billed_for("Acme", 2)
    assert platform.used == {dsl.world.aliases.known_tenant("Acme"): 3}
    assert dsl.world.leftovers() == []


def test_a_held_slot_refuses_the_next_run_until_it_is_released(dsl: Dsl) -> None:
    dsl.requests.tenant_holding_slots("Acme", "free", 2)
    dsl.requests.take_slots("Acme", 1)
    dsl.requests.refused_count(1, RefusalReason.SLOTS_FULL)
    dsl.requests.release_one_slot("Acme")
    dsl.requests.take_slots("Acme", 1)
    dsl.requests.admitted_count(1)


def test_a_check_fails_when_the_other_implementation_breaks_the_rule(
    dsl: Dsl, platform: InMemoryTiers
) -> None:
    dsl.subscriptions.tenant_on_tier("Acme", "free")
    platform.used[dsl.world.aliases.known_tenant("Acme")] = 1  # a request it never admitted
    with pytest.raises(AssertionError, match="has used 1, expected 0"):
        dsl.requests.quota_used_is("Acme", 0)


def test_an_unknown_tier_is_an_error_a_then_must_examine(dsl: Dsl) -> None:
    dsl.subscriptions.tenant_on_tier("Acme", "free")
    dsl.subscriptions.try_change_tier("Acme", "platinum")
    leftovers = dsl.world.leftovers()
    assert len(leftovers) == 1 and "an error no Then examined: UnknownTier(" in leftovers[0]
    dsl.subscriptions.rejected_as_unknown_tier()
    dsl.subscriptions.still_on_tier("Acme", "free")
    assert dsl.world.leftovers() == []


def test_a_capability_the_binding_lacks_fails_saying_so(dsl: Dsl) -> None:
    dsl.subscriptions.tenant_on_tier("Acme", "free")
    with pytest.raises(AssertionError, match="agent runs has no driver in the in_memory assembly"):
        dsl.agent_run_checks.no_runs_in_progress("Acme")


def test_the_dsl_imports_nothing_from_the_platform() -> None:
    offenders = []
    for module in sorted((REPO / "harness" / "dsl").rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )
            offenders += [
                f"{module.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] == "apex"
            ]
    assert offenders == []
