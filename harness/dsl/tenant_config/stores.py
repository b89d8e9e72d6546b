"""Checks beneath the platform's API: raw queries under the platform's role or the tables'
owner, one pooled connection examined between requests, what each region's stores hold, how a
secret looks at rest, and attempts to rewrite the audit trail. Givens that say something
happened behind the platform's back use the stores' back door."""

from __future__ import annotations

import base64
from typing import get_args

from harness.drivers.tenant_config.contract import AccountRecords, Setting, Table
from harness.dsl.common.evidence import business_step, in_words
from harness.dsl.common.world import World
from harness.dsl.tenant_config.accounts import AccountsDsl
from harness.dsl.tenant_config.state import TenantConfigState
from harness.dsl.tenant_config.words import API_KEY_SETTING, TenantWords, database_role, showing

#: Where a query outside any tenant's session runs.
_ANY_REGION = "EU"


class StoresDsl:
    def __init__(self, world: World) -> None:
        self._world = world
        self._state = world.state(TenantConfigState)
        self._words = TenantWords(world)

    # -- Given (back door) ------------------------------------------------------------------

    def key_copied(self, source: str, target: str) -> None:
        with business_step(f"the stored record of {source}'s key is copied to {target}'s"):
            self._world.tenant_stores.copy_stored_secret(
                self._words.home(source), API_KEY_SETTING, self._words.tenant(source),
                self._words.tenant(target),
            )

    def cached_entry_moved(self, source: str, setting: str, target: str) -> None:
        with business_step(f"{source}'s cached {setting!r} ends up in {target}'s cache"):
            self._world.tenant_stores.plant_cache_entry(
                self._words.home(source), setting, self._words.tenant(source),
                self._words.tenant(target),
            )

    def caches_lost(self, names: list[str]) -> None:
        with business_step(f"the cached configuration of {', '.join(names)} is lost"):
            for name in names:
                self._world.tenant_stores.forget_cache(
                    self._words.home(name), self._words.tenant(name)
                )

    # -- When -------------------------------------------------------------------------------

    def unfiltered_query(self, who: str, table: str, name: str | None) -> None:
        role = database_role(who)
        if table in get_args(AccountRecords):
            # the main database's account records: read as the platform (its owner is the
            # administrator, who bypasses every policy by design)
            assert role == "platform", f"{who} does not read the account records"
            AccountsDsl(self._world).unfiltered_query(table, name)
            return
        assert table in ("settings", "audit records"), f"no records called {table!r}"
        session = f"in {name}'s session" if name else "outside any tenant's session"
        home = (
            self._words.home(name) if name
            else self._world.tenant_config.region_named(_ANY_REGION)
        )
        with business_step(f"{who} reads every one of the {table}, no tenant named, {session}"):
            tenant = self._words.tenant(name) if name else None
            kind: Table = "settings" if table == "settings" else "audit records"
            self._state.seen = list(
                self._world.tenant_stores.unfiltered_query(home, kind, role, tenant)
            )

    def back_to_back(self, first: str, second: str) -> None:
        with business_step(f"{first} then {second} list their settings on one connection"):
            first_seen, self._state.trace, second_seen = self._world.tenant_config.back_to_back(
                self._words.caller(first), self._words.caller(second)
            )
            self._state.seen = list(second_seen)
            assert first_seen, f"{first}'s own listing came back empty"

    def refresh_job(self, names: list[str]) -> None:
        self._state.job_names = names
        with business_step(f"the background job refreshes the cache of {', '.join(names)}"):
            self._state.trace = self._world.tenant_config.refresh_caches(
                [self._words.tenant(n) for n in names]
            )

    def try_rewrite_audit(self, who: str, rewrite: str, name: str) -> None:
        role = database_role(who)
        probe = self._world.tenant_stores
        home, tenant_id = self._words.home(name), self._words.tenant(name)
        self._state.before = {"audit": probe.audit_rows(home, tenant_id)}
        with business_step(f"{who} tries to {rewrite} {name}'s audit records"):
            refusal = probe.rewrite_audit(home, tenant_id, role, rewrite)
            self._state.error.put(PermissionError(refusal) if refusal else None)

    # -- Then -------------------------------------------------------------------------------

    def rows_seen(self, count: int, name: str) -> None:
        tenant_id = self._words.tenant(name)
        seen = list(self._state.seen)
        with business_step(f"{count} records are returned, all of them {name}'s", lambda: seen):
            foreign = [t for t in seen if t != tenant_id]
            assert not foreign, f"rows of other tenants returned in {name}'s session: {foreign}"
            assert len(seen) == count, f"{len(seen)} of {name}'s records returned, not {count}"

    def no_rows(self) -> None:
        seen = list(self._state.seen)
        with business_step("no records at all are returned", lambda: seen):
            assert not seen, f"{len(seen)} records returned outside any tenant's session: {seen}"

    def same_connection(self) -> None:
        trace = self._state.trace
        with business_step("both requests were served by one connection", lambda: trace):
            assert trace is not None and len(set(trace.backend_pids)) == 1, (
                "expected both requests served by one connection; "
                + ("none was examined" if trace is None else
                   f"they were served by backends {', '.join(map(str, trace.backend_pids))}")
            )

    def connection_clean(self, moment: str) -> None:
        trace = self._state.trace
        with business_step(f"{moment} the connection acts for no tenant and sees nothing",
                           lambda: trace):
            assert trace is not None, "no connection was examined"
            assert trace.tenant_left_on_it == "", (
                f"{moment} the pooled connection still acted for {trace.tenant_left_on_it!r}"
            )
            assert trace.rows_seen_without_tenant == 0, (
                f"{moment} a query naming no tenant saw {trace.rows_seen_without_tenant} records"
            )

    def saw_only_own(self, name: str, count: int, other: str) -> None:
        tenant_id, other_id = self._words.tenant(name), self._words.tenant(other)
        seen = [s for s in self._state.seen if isinstance(s, Setting)]
        with business_step(f"{name} saw its {count} settings and nothing of {other}'s",
                           lambda: seen):
            owners = {s.tenant_id for s in seen}
            assert owners <= {tenant_id}, f"{name} ({tenant_id}) was shown settings of {owners}"
            assert other_id not in repr(seen), (
                f"{name} was shown something of {other} ({other_id}): {in_words(seen)}"
            )
            assert len(seen) == len(self._state.seen) == count, (
                f"{name} saw {len(self._state.seen)} settings, expected {count}"
            )

    def caches_hold_own(self, count: int) -> None:
        assert self._state.job_names, "no background job ran in this scenario"
        for name in self._state.job_names:
            tenant_id = self._words.tenant(name)
            entries = self._world.tenant_stores.cache_entries(self._words.home(name), tenant_id)
            with business_step(f"{name}'s cache holds exactly its own {count} settings",
                               showing(entries)):
                assert len(entries) == count, (
                    f"{name}'s ({tenant_id}) cache holds {len(entries)} settings, not {count}"
                )
                for setting, entry in entries.items():
                    assert entry.tenant_id == tenant_id, (
                        f"{name}'s cached {setting!r} is not {name}'s: {entry.text}"
                    )

    def holdings(self, name: str, rows: list[dict[str, str]]) -> None:
        held = self._world.tenant_stores.holdings(self._words.tenant(name))
        shown = [
            {"region": region.upper(), "settings": str(h.settings),
             "audit records": str(h.audit_records), "cached settings": str(h.cached_settings)}
            for region, h in held.items()
        ]
        with business_step(f"the regions' stores hold this much of {name}", lambda: shown):
            assert shown == rows, f"{name}'s data by region:\n  expected {rows}\n  actual   {shown}"

    def key_not_readable_in_store(self, name: str) -> None:
        key = self._state.keys[name]
        record = self._world.tenant_stores.stored_record(
            self._words.home(name), self._words.tenant(name), API_KEY_SETTING
        )
        with business_step(f"the stored record of {name}'s key shows no trace of it",
                           lambda: record):
            assert record.sealed, "the key is not stored as a sealed secret"
            _assert_no_trace(key, record.text, "the stored record")

    def key_not_readable_in_cache(self, name: str) -> None:
        key = self._state.keys[name]
        entries = self._world.tenant_stores.cache_entries(
            self._words.home(name), self._words.tenant(name)
        )
        with business_step(f"{name}'s cached configuration shows no trace of the key",
                           lambda: entries):
            assert API_KEY_SETTING in entries, f"the key is not in {name}'s cache at all"
            _assert_no_trace(key, " ".join(e.text for e in entries.values()), "the cache")

    def rewrite_refused(self) -> None:
        error = self._state.error.take()
        with business_step("the attempt is refused", lambda: repr(error)):
            assert error is not None, "the database let the audit records be rewritten"

    def audit_unchanged(self, name: str) -> None:
        after = self._world.tenant_stores.audit_rows(
            self._words.home(name), self._words.tenant(name)
        )
        before = self._state.before["audit"]
        with business_step(f"{name}'s audit trail is unchanged", lambda: after):
            assert after == before, (
                f"{name}'s audit trail changed:\n  before {before}\n  after  {after}"
            )


def _assert_no_trace(key: str, text: str, where: str) -> None:
    forms = {
        "as written": key,
        "in hex": key.encode().hex(),
        "in base64": base64.b64encode(key.encode()).decode(),
        "in part": key[8:24],
    }
    for how, form in forms.items():
        assert form not in text, f"{where} contains the key {how}"
