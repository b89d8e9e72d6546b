"""Another tenant's attempts on a tenant's configuration: one action, cache poisoning, and the
fuzzing rule's random attacks (shapes in ``attacks``), with the checks on what they got."""

from __future__ import annotations

import random
import re
import secrets
from collections.abc import Callable
from typing import Any

from harness.drivers.tenant_config.contract import (
    AccessDenied,
    Caller,
    InvalidInput,
    Setting,
    SettingNotFound,
)
from harness.dsl.common.evidence import business_step, in_words
from harness.dsl.common.world import World
from harness.dsl.tenant_config.attacks import Attempt, Target, shape_named
from harness.dsl.tenant_config.state import TenantConfigState, Tried
from harness.dsl.tenant_config.words import TenantWords

_REFUSED = ("access denied", "invalid input")


class CrossTenantDsl:
    def __init__(self, world: World) -> None:
        self._world = world
        self._state = world.state(TenantConfigState)
        self._words = TenantWords(world)

    def try_action(self, attacker: str, action: str, victim: str) -> None:
        """``action``: 'read "x"', 'overwrite "x"', 'delete "x"' or 'list the settings'."""
        match = re.fullmatch(r'(read|overwrite|delete) "(.+)"|list the settings', action)
        assert match, f"no action {action!r} on a configuration"
        operation, setting = match.group(1) or "list", match.group(2) or ""
        self._words.remember(victim)
        attempt = Attempt("direct", operation, self._words.tenant(victim), setting)
        self._state.victim_values = self._values_of(victim)
        # "Globex" (its administrator) or a caller named with its role ("Acme's viewer")
        caller = (
            self._words.parse_caller(attacker)[1] if "'s " in attacker
            else self._words.caller(attacker)
        )
        with business_step(f"{attacker} tries to {action} in {victim}'s configuration"):
            self._state.attempts = [self._run(caller, attempt)]

    def try_poison_cache(self, attacker: str, victim: str, how: str) -> None:
        vid, aid = self._words.tenant(victim), self._words.tenant(attacker)
        claims = f'{{"tenant_id": "{vid}", "name": "default.model", "value": "poisoned"}}'
        shapes = {
            "by writing to Acme's tenant id": [("overwrite", vid, "default.model", "poisoned")],
            "by writing to Acme's tenant id with a cache wildcard": [
                ("overwrite", t, "default.model", "poisoned")
                for t in (f"{vid}*", f"{vid[:4]}*", "*", f"{{{vid}}}")
            ],
            "by writing a setting whose name reaches into Acme's cache": [
                ("overwrite", aid, n, "poisoned")
                for n in (f"{{{vid}}}:config", "x}:config", f"default.model:{vid}")
            ],
            "by writing a value that claims to be Acme's": [
                ("overwrite", aid, "default.model", claims)
            ],
        }
        assert how in shapes, f"no poisoning {how!r}; known: {', '.join(shapes)}"
        with business_step(f"{attacker} tries to poison {victim}'s cached configuration {how}"):
            caller = self._words.caller(attacker)
            self._state.attempts = [
                self._run(caller, Attempt(how, op, t, n, v)) for op, t, n, v in shapes[how]
            ]

    def fuzz(self, attacker: str, victim: str, per_shape: int, shapes: list[str]) -> None:
        seed = secrets.randbits(32)
        rng = random.Random(seed)
        self._words.remember(victim)
        victim_id, attacker_id = self._words.tenant(victim), self._words.tenant(attacker)
        names = self._world.tenant_stores.settings_of(self._words.home(victim), victim_id)
        target = Target(attacker_id, victim_id, tuple(sorted(names)))
        self._state.victim_values = self._values_of(victim)
        self._state.attacker_id = attacker_id
        makers = [shape_named(words) for words in shapes]
        title = (
            f"{attacker} makes {per_shape} random attempts of each of {len(shapes)} shapes on "
            f"{victim}'s configuration (seed {seed})"
        )
        with business_step(title, self._attempts_seen):
            caller = self._words.caller(attacker)
            self._state.attempts = [
                self._run(caller, make(rng, target)) for make in makers for _ in range(per_shape)
            ]

    def all_refused(self, attacker: str, victim: str) -> None:
        with business_step(f"every attempt is refused; {attacker} learns nothing of {victim}'s",
                           self._attempts_seen):
            assert self._state.attempts, "no attempt was made"
            victim_id = self._words.tenant(victim)
            for attempt, outcome, got in self._state.attempts:
                assert attempt.tenant_id == victim_id, (
                    f"the attempt addressed {attempt.tenant_id!r}, not {victim} ({victim_id})"
                )
                assert outcome in _REFUSED, (
                    f"expected the {attempt.operation} addressed to {attempt.tenant_id!r} "
                    f"refused; it was {outcome} and returned {in_words(got)}"
                )
            self._no_foreign(self._words.tenant(attacker))

    def change_refused(self) -> None:
        """The caller's one attempt was denied for want of permission."""
        with business_step("the change is refused", self._attempts_seen):
            assert len(self._state.attempts) == 1, f"{len(self._state.attempts)} attempts made"
            attempt, outcome, got = self._state.attempts[0]
            assert outcome == "access denied", (
                f"expected the {attempt.operation} of {attempt.name!r} refused; it was "
                f"{outcome} and returned {in_words(got)}"
            )

    def fuzz_outcome(self, victim: str, total: int) -> None:
        with business_step(f"none of the {total} attempts returned anything of {victim}'s",
                           self._attempts_seen):
            assert len(self._state.attempts) == total, (
                f"{len(self._state.attempts)} attempts, not {total}"
            )
            self._no_foreign(self._state.attacker_id)

    def fuzz_audited(self, attacker: str, victim: str) -> None:
        """Every attempt that addressed any tenant but the attacker's own (each crafted from
        the victim's id) was refused; the refusals on record in the attacker's trail are as many
        as the refusals seen (the trail had none before), and those that named the victim's id
        exactly are on record as addressed to the victim."""
        attacker_id, victim_id = self._words.tenant(attacker), self._words.tenant(victim)
        attempts = self._state.attempts
        refused = [a for a, outcome, _ in attempts if outcome in _REFUSED]
        trail = self._world.tenant_config.audit_trail(self._words.caller(attacker))
        on_record = [r for r in trail if r.outcome == "refused"]
        with business_step(f"every attempt aimed at {victim} was refused, and is on record in "
                           f"{attacker}'s audit trail", self._attempts_seen):
            assert attempts, f"{attacker} made no attempt on {victim}'s configuration"
            slipped = [
                (a, outcome) for a, outcome, _ in attempts
                if a.aimed_at(attacker_id) and outcome not in _REFUSED
            ]
            assert not slipped, (
                f"{len(slipped)} attempts aimed at {victim} ({victim_id}) were not refused, "
                f"the first ones: {slipped[:5]}"
            )
            assert len(on_record) == len(refused), (
                f"{len(refused)} attempts were refused, {len(on_record)} are on record"
            )
            at_victim = [a for a in refused if a.tenant_id == victim_id]
            recorded = [r for r in on_record if r.target_tenant == victim_id]
            assert len(recorded) == len(at_victim), (
                f"{len(at_victim)} refused attempts addressed {victim} ({victim_id}) exactly; "
                f"{len(recorded)} refusals on record name {victim} as the tenant addressed"
            )

    # -- internals --------------------------------------------------------------------------

    def _run(self, caller: Caller, attempt: Attempt) -> Tried:
        driver = self._world.tenant_config
        calls: dict[str, Callable[[], Any]] = {
            "read": lambda: [driver.read(caller, attempt.tenant_id, attempt.name)],
            "list": lambda: driver.list_settings(caller, attempt.tenant_id, attempt.name),
            "overwrite": lambda: [
                driver.store(caller, attempt.tenant_id, attempt.name, attempt.value)
            ],
            "delete": lambda: [driver.remove(caller, attempt.tenant_id, attempt.name)],
        }
        try:
            got = calls[attempt.operation]()
        except AccessDenied:
            return attempt, "access denied", []
        except InvalidInput:
            return attempt, "invalid input", []
        except SettingNotFound:
            return attempt, "not found", []
        return attempt, "allowed", [s for s in got if isinstance(s, Setting)]

    def _values_of(self, name: str) -> set[str]:
        """Values only ``name`` has (what would betray a leak), read beneath the platform so
        that looking leaves no trace in any audit trail."""
        def values(who: str) -> set[str]:
            stored = self._world.tenant_stores.settings_of(
                self._words.home(who), self._words.tenant(who)
            )
            return {v for v in stored.values() if v is not None}

        others = set().union(*(values(o) for o in self._world.aliases.names() if o != name))
        return values(name) - others

    def _no_foreign(self, attacker_id: str) -> None:
        """No attempt returned a setting of another tenant, or a value only the victim has."""
        for attempt, outcome, got in self._state.attempts:
            foreign = [
                s for s in got
                if s.tenant_id != attacker_id or s.value in self._state.victim_values
            ]
            assert not foreign, (
                f"{attempt.shape}: {attempt.operation} addressed to {attempt.tenant_id!r} "
                f"({outcome}) returned another tenant's settings: {in_words(foreign)}"
            )

    def _attempts_seen(self) -> object:
        return [
            {"shape": a.shape, "operation": a.operation, "tenant id": repr(a.tenant_id),
             "setting or filter": repr(a.name), "outcome": outcome, "returned": repr(got)}
            for a, outcome, got in self._state.attempts
        ]
