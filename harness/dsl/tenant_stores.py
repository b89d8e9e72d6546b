"""Checks beneath the platform's API: raw queries under the platform's role or the tables'
owner, one pooled connection examined between requests, what each region's stores hold, how a
secret looks at rest, and attempts to rewrite the audit trail."""

from __future__ import annotations

import base64

from apex.tenancy.model import Kind
from apex.tenancy.regions import Region
from harness.drivers.tenant_store import Table
from harness.dsl.evidence import business_step
from harness.dsl.tenant_common import API_KEY_SETTING, ROLES, TenantDslBase, showing


class TenantStoresDsl(TenantDslBase):
    def key_copied(self, source: str, target: str) -> None:
        with business_step(f"the stored record of {source}'s key is copied to {target}'s"):
            self._driver.probe.copy_stored_secret(
                self._home(source), API_KEY_SETTING, self._tenant(source), self._tenant(target)
            )

    def cached_entry_moved(self, source: str, setting: str, target: str) -> None:
        with business_step(f"{source}'s cached {setting!r} ends up in {target}'s cache"):
            self._driver.probe.plant_cache_entry(
                self._home(source), setting, self._tenant(source), self._tenant(target)
            )

    def caches_lost(self, names: list[str]) -> None:
        with business_step(f"the cached configuration of {', '.join(names)} is lost"):
            for name in names:
                self._driver.probe.forget_cache(self._home(name), self._tenant(name))

    def unfiltered_query(self, who: str, table: str, name: str | None) -> None:
        role = ROLES.get(who)
        assert role is not None, f"no one called {who!r}; known: {', '.join(ROLES)}"
        assert table in ("settings", "audit records"), f"no records called {table!r}"
        session = f"in {name}'s session" if name else "outside any tenant's session"
        home = self._home(name) if name else Region.EU
        with business_step(f"{who} reads every one of the {table}, no tenant named, {session}"):
            tenant = self._tenant(name) if name else None
            kind: Table = "settings" if table == "settings" else "audit records"
            self._seen = self._driver.probe.unfiltered_query(home, kind, role, tenant)

    def back_to_back(self, first: str, second: str) -> None:
        with business_step(f"{first} then {second} list their settings on one connection"):
            first_seen, self._trace, self._seen = self._driver.back_to_back(
                self._caller(first), self._caller(second)
            )
            assert first_seen, f"{first}'s own listing came back empty"

    def refresh_job(self, names: list[str]) -> None:
        self._job_names = names
        with business_step(f"the background job refreshes the cache of {', '.join(names)}"):
            _, self._trace = self._driver.refresh_caches([self._tenant(n) for n in names])

    def try_rewrite_audit(self, who: str, rewrite: str, name: str) -> None:
        role = ROLES.get(who)
        assert role is not None, f"no one called {who!r}; known: {', '.join(ROLES)}"
        probe = self._driver.probe
        self._before = {"audit": probe.audit_rows(self._home(name), self._tenant(name))}
        with business_step(f"{who} tries to {rewrite} {name}'s audit records"):
            refusal = probe.rewrite_audit(self._home(name), self._tenant(name), role, rewrite)
            self._error = PermissionError(refusal) if refusal else None

    def rows_seen(self, count: int, name: str) -> None:
        tenant_id = self._tenant(name)
        seen = list(self._seen)
        with business_step(f"{count} records are returned, all of them {name}'s", lambda: seen):
            foreign = [t for t in seen if t != tenant_id]
            assert not foreign, f"rows of other tenants returned in {name}'s session: {foreign}"
            assert len(seen) == count, f"{len(seen)} of {name}'s records returned, not {count}"

    def no_rows(self) -> None:
        seen = list(self._seen)
        with business_step("no records at all are returned", lambda: seen):
            assert not seen, f"{len(seen)} records returned outside any tenant's session: {seen}"

    def same_connection(self) -> None:
        trace = self._trace
        with business_step("both requests were served by one connection", lambda: trace):
            assert trace is not None and len(set(trace.backend_pids)) == 1, (
                f"the requests were served by several connections: {trace}"
            )

    def connection_clean(self, moment: str) -> None:
        trace = self._trace
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
        tenant_id, other_id = self._tenant(name), self._tenant(other)
        seen = list(self._seen)
        with business_step(f"{name} saw its {count} settings and nothing of {other}'s",
                           lambda: seen):
            owners = {s.tenant_id for s in seen}
            assert owners <= {tenant_id}, f"{name} ({tenant_id}) was shown settings of {owners}"
            assert other_id not in repr(seen), f"{name} was shown something of {other}: {seen}"
            assert len(seen) == count, f"{name} saw {len(seen)} settings, expected {count}"

    def caches_hold_own(self, count: int) -> None:
        assert self._job_names, "no background job ran in this scenario"
        for name in self._job_names:
            tenant_id = self._tenant(name)
            entries = self._driver.probe.cache_entries(self._home(name), tenant_id)
            with business_step(f"{name}'s cache holds exactly its own {count} settings",
                               showing(entries)):
                assert len(entries) == count, (
                    f"{name}'s ({tenant_id}) cache holds {len(entries)} settings, not {count}"
                )
                for setting, entry in entries.items():
                    assert f'"tenant_id": "{tenant_id}"' in entry, (
                        f"{name}'s cached {setting!r} is not {name}'s: {entry}"
                    )

    def holdings(self, name: str, rows: list[dict[str, str]]) -> None:
        held = self._driver.probe.holdings(self._tenant(name))
        shown = [
            {"region": r.value.upper(), "settings": str(h.settings),
             "audit records": str(h.audit_records), "cached settings": str(h.cached_settings)}
            for r, h in held.items()
        ]
        with business_step(f"the regions' stores hold this much of {name}", lambda: shown):
            assert shown == rows, f"{name}'s data by region:\n  expected {rows}\n  actual   {shown}"

    def key_not_readable_in_store(self, name: str) -> None:
        key = self._keys[name]
        record = self._driver.probe.stored_record(self._home(name), self._tenant(name),
                                                  API_KEY_SETTING)
        with business_step(f"the stored record of {name}'s key shows no trace of it",
                           lambda: record):
            assert record["kind"] == Kind.SECRET.value and record["ciphertext"], (
                f"the key is not stored as a sealed secret: kind {record['kind']!r}"
            )
            _assert_no_trace(key, " ".join(record.values()), "the stored record")

    def key_not_readable_in_cache(self, name: str) -> None:
        key = self._keys[name]
        entries = self._driver.probe.cache_entries(self._home(name), self._tenant(name))
        with business_step(f"{name}'s cached configuration shows no trace of the key",
                           lambda: entries):
            assert API_KEY_SETTING in entries, f"the key is not in {name}'s cache at all"
            _assert_no_trace(key, " ".join(entries.values()), "the cache")

    def rewrite_refused(self) -> None:
        error = self._error
        with business_step("the attempt is refused", lambda: repr(error)):
            assert error is not None, "the database let the audit records be rewritten"

    def audit_unchanged(self, name: str) -> None:
        after = self._driver.probe.audit_rows(self._home(name), self._tenant(name))
        with business_step(f"{name}'s audit trail is unchanged", lambda: after):
            assert after == self._before["audit"], (
                f"{name}'s audit trail changed:\n  before {self._before['audit']}\n"
                f"  after  {after}"
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
