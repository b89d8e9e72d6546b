"""Tenants' account records (subscriptions, charges, API keys, home regions, agent runs) kept
apart by the database, and never rewritten: raw reads and writes beneath the platform, as its
own role, in one tenant's session or in none."""

from __future__ import annotations

from typing import cast, get_args

from harness.drivers.tenant_config.contract import AccountChange, AccountRecords
from harness.dsl.common.evidence import business_step, in_words
from harness.dsl.common.world import World
from harness.dsl.tenant_config.own import OwnConfigDsl
from harness.dsl.tenant_config.state import TenantConfigState
from harness.dsl.tenant_config.words import TenantWords, showing

_NO_TENANT = "no tenant"


class AccountsDsl:
    def __init__(self, world: World) -> None:
        self._world = world
        self._state = world.state(TenantConfigState)
        self._words = TenantWords(world)

    def tenants_with_accounts(
        self, names: list[str], where: str, api_keys: int, charges: int, runs: int
    ) -> None:
        OwnConfigDsl(self._world).tenants_in_region(names, where)
        title = (
            f"{' and '.join(names)} each hold {api_keys} API keys, {charges} charges"
            f" and {runs} agent runs"
        )
        with business_step(title):
            for name in names:
                self._world.tenant_stores.accounts.plant(
                    self._words.tenant(name), api_keys, charges, runs
                )

    def unfiltered_query(self, records: str, name: str | None) -> None:
        known = get_args(AccountRecords)
        assert records in known, f"no account records called {records!r}; known: {known}"
        session = f"in {name}'s session" if name else "outside any tenant's session"
        with business_step(f"the platform reads every one of the {records}, {session}"):
            tenant = self._words.tenant(name) if name else None
            self._state.seen = list(
                self._world.tenant_stores.accounts.unfiltered_query(
                    cast(AccountRecords, records), tenant
                )
            )

    def try_change(self, actor: str, change: str, name: str) -> None:
        try:
            kind = AccountChange(change)
        except ValueError:
            known = [c.value for c in AccountChange]
            raise AssertionError(f"no account change {change!r}; known: {known}") from None
        accounts = self._world.tenant_stores.accounts
        target = self._words.tenant(name)
        acting_for = None if actor == _NO_TENANT else self._words.tenant(actor)
        with business_step(f"the platform, acting for {actor}, tries to {change} on {name}'s"):
            self._state.account_before = accounts.snapshot(target)
            self._state.account_write = accounts.try_change(kind, target, acting_for)

    def refused_and_unchanged(self, name: str) -> None:
        before, answer = self._state.account_before, self._state.account_write
        after = self._world.tenant_stores.accounts.snapshot(self._words.tenant(name))
        title = f"the database refuses it, and {name}'s account is unchanged"
        with business_step(title, showing({"answer": answer, "before": before, "after": after})):
            assert before is not None, "no write was tried"
            assert answer is not None, f"the database let the write change {name}'s account"
            assert after == before, (
                f"{name}'s account changed:\n  before {in_words(before)}\n"
                f"  after  {in_words(after)}"
            )
