"""Another tenant's attempts on a tenant's configuration: one action, cache poisoning, and the
fuzzing rule's random attacks (shapes in ``tenant_attacks``), with the checks on what they got."""

from __future__ import annotations

import random
import re
import secrets
from collections.abc import Callable
from typing import Any

from apex.errors import InvalidInput
from apex.tenancy.errors import AccessDenied, SettingNotFound
from apex.tenancy.model import Principal, Setting
from harness.dsl.evidence import business_step
from harness.dsl.tenant_attacks import Attempt, Target, shape_named
from harness.dsl.tenant_common import TenantDslBase


class CrossTenantDsl(TenantDslBase):
    def try_action(self, attacker: str, action: str, victim: str) -> None:
        """``action``: 'read "x"', 'overwrite "x"', 'delete "x"' or 'list the settings'."""
        match = re.fullmatch(r'(read|overwrite|delete) "(.+)"|list the settings', action)
        assert match, f"no action {action!r} on a configuration"
        operation, setting = match.group(1) or "list", match.group(2) or ""
        self._remember(victim)
        attempt = Attempt("direct", operation, self._tenant(victim), setting)
        self._victim_values = self._values_of(victim)
        with business_step(f"{attacker} tries to {action} in {victim}'s configuration"):
            self._attempts = [self._run(self._caller(attacker), attempt)]

    def try_poison_cache(self, attacker: str, victim: str, how: str) -> None:
        vid, aid = self._tenant(victim), self._tenant(attacker)
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
            self._attempts = [
                self._run(self._caller(attacker), Attempt(how, op, t, n, v))
                for op, t, n, v in shapes[how]
            ]

    def fuzz(self, attacker: str, victim: str, per_shape: int, shapes: list[str]) -> None:
        seed = secrets.randbits(32)
        rng = random.Random(seed)
        self._remember(victim)
        names = self._driver.probe.settings_of(self._home(victim), self._tenant(victim))
        target = Target(self._tenant(attacker), self._tenant(victim), tuple(sorted(names)))
        self._victim_values = self._values_of(victim)
        self._attacker = self._tenant(attacker)
        makers = [shape_named(words) for words in shapes]
        title = (
            f"{attacker} makes {per_shape} random attempts of each of {len(shapes)} shapes on "
            f"{victim}'s configuration (seed {seed})"
        )
        with business_step(title, self._attempts_seen):
            caller = self._caller(attacker)
            self._attempts = [
                self._run(caller, make(rng, target)) for make in makers for _ in range(per_shape)
            ]

    def all_refused(self, attacker: str, victim: str) -> None:
        with business_step(f"every attempt is refused; {attacker} learns nothing of {victim}'s",
                           self._attempts_seen):
            assert self._attempts, "no attempt was made"
            for attempt, outcome, got in self._attempts:
                assert outcome in ("access denied", "invalid input"), (
                    f"{attempt.operation} addressed to {attempt.tenant_id!r} was not refused: "
                    f"{outcome}, returned {got}"
                )
            self._no_foreign(self._tenant(attacker))

    def fuzz_outcome(self, victim: str, total: int) -> None:
        with business_step(f"none of the {total} attempts returned anything of {victim}'s",
                           self._attempts_seen):
            assert len(self._attempts) == total, f"{len(self._attempts)} attempts, not {total}"
            self._no_foreign(self._attacker)

    def fuzz_audited(self, attacker: str) -> None:
        """Refusals on record equal refusals seen (the attacker's trail had none before)."""
        attacker_id = self._tenant(attacker)
        refused = [a for a in self._attempts if a[1] in ("access denied", "invalid input")]
        trail = self._driver.audit_trail(self._caller(attacker))
        on_record = [r for r in trail if r.outcome.value == "refused"]
        with business_step(f"every attempt aimed at another tenant was refused, and is on "
                           f"record in {attacker}'s audit trail", self._attempts_seen):
            slipped = [
                (a, outcome) for a, outcome, _ in self._attempts
                if a.aimed_at(attacker_id) and outcome not in ("access denied", "invalid input")
            ]
            assert not slipped, (
                f"{len(slipped)} attempts aimed at another tenant were not refused, "
                f"the first ones: {slipped[:5]}"
            )
            assert len(on_record) == len(refused), (
                f"{len(refused)} attempts were refused, {len(on_record)} are on record"
            )

    def _run(self, caller: Principal, attempt: Attempt) -> tuple[Attempt, str, list[Setting]]:
        driver = self._driver
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
            stored = self._driver.probe.settings_of(self._home(who), self._tenant(who))
            return {v for v in stored.values() if v is not None}

        others = set().union(*(values(o) for o in self._world.aliases.names() if o != name))
        return values(name) - others

    def _no_foreign(self, attacker_id: str) -> None:
        """No attempt returned a setting of another tenant, or a value only the victim has."""
        for attempt, outcome, got in self._attempts:
            foreign = [
                s for s in got if s.tenant_id != attacker_id or s.value in self._victim_values
            ]
            assert not foreign, (
                f"{attempt.shape}: {attempt.operation} addressed to {attempt.tenant_id!r} "
                f"({outcome}) returned another tenant's settings: {foreign}"
            )

    def _attempts_seen(self) -> object:
        return [
            {"shape": a.shape, "operation": a.operation, "tenant id": repr(a.tenant_id),
             "setting or filter": repr(a.name), "outcome": outcome, "returned": repr(got)}
            for a, outcome, got in self._attempts
        ]
