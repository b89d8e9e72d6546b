"""Tenant configuration and its isolation, in business words.

Tenants are named as in the scenario ("Acme"); a caller is a tenant's "administrator" (the
default) or "viewer". Givens seed through the platform's API (or, where the scenario says
something happened behind the platform's back, through the stores' back door); Whens act
through the API, or run the raw queries the rule is about; Thens observe through the API and
the documented stores.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from apex.tenancy.errors import AccessDenied, SecretTampered, SettingNotFound
from apex.tenancy.model import MASKED, AuditRecord
from apex.tenancy.regions import region
from harness.dsl.cross_tenant import CrossTenantDsl
from harness.dsl.evidence import business_step
from harness.dsl.tenant_common import API_KEY_SETTING
from harness.dsl.tenant_stores import TenantStoresDsl
from harness.reporting.redaction import REDACTOR

#: What "each with N settings" gives a tenant (the webhook names the tenant: unique values).
_STANDARD: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("default.model", lambda t: "large"),
    ("max.concurrent_runs", lambda t: "20"),
    ("webhook.url", lambda t: f"https://hooks.example.com/{t}"),
    ("escalation.email", lambda t: f"ops@{t}.example.com"),
)


class TenantConfigDsl(CrossTenantDsl, TenantStoresDsl):
    def tenants_in_region(self, names: list[str], where: str, settings: int = 0) -> None:
        home = region(where)
        shown = " and ".join(names)
        title = f"{shown} {'are tenants' if len(names) > 1 else 'is a tenant'} in {home.value}"
        with business_step(title + (f", each with {settings} settings" if settings else "")):
            for name in names:
                tenant_id = self._world.aliases.tenant(name)
                self._world.platform.primary.subscribe(tenant_id, name, "enterprise")
                self._driver.pin_region(tenant_id, home.value)
                self._world.add_cleanup(self._driver.probe.forget, home, tenant_id)
                for setting, value in _STANDARD[:settings]:
                    self._driver.store(self._caller(name), tenant_id, setting, value(tenant_id))

    def has_settings(self, name: str, rows: list[dict[str, str]]) -> None:
        caller, tenant_id = self._caller(name), self._tenant(name)
        with business_step(f"{name}'s configuration has {len(rows)} settings"):
            for row in rows:
                self._driver.store(caller, tenant_id, row["setting"], row["value"])

    def has_read(self, name: str, setting: str) -> None:
        with business_step(f"{name} has read its setting {setting!r}"):
            self._driver.read(self._caller(name), self._tenant(name), setting)

    def stored_api_key(self, caller_words: str) -> None:
        name, caller = self._parse_caller(caller_words)
        key = "sk-proj-" + secrets.token_urlsafe(32)
        REDACTOR.register(key)  # before anything could show it
        self._keys[name] = key
        with business_step(f"{caller_words} stores its LLM provider's API key"):
            self._driver.store(caller, self._tenant(name), API_KEY_SETTING, key, secret=True)

    def change(self, name: str, setting: str, value: str) -> None:
        with business_step(f"{name} changes its setting {setting!r} to {value!r}"):
            self._driver.store(self._caller(name), self._tenant(name), setting, value)

    def remove(self, name: str, setting: str) -> None:
        with business_step(f"{name} removes its setting {setting!r}"):
            assert self._driver.remove(self._caller(name), self._tenant(name), setting), (
                f"{name} had no setting {setting!r} to remove"
            )

    def read(self, name: str, setting: str) -> None:
        with business_step(f"{name} reads its setting {setting!r}"):
            caller, tenant_id = self._caller(name), self._tenant(name)
            self._attempt(lambda: self._driver.read(caller, tenant_id, setting))

    def ask_for_key(self, caller_words: str, owner: str) -> None:
        _, caller = self._parse_caller(caller_words)
        self._asked = owner
        with business_step(f"{caller_words} asks for {owner}'s LLM provider's API key"):
            self._attempt(lambda: self._driver.read(caller, self._tenant(owner), API_KEY_SETTING))

    def store_and_read_back(self, name: str) -> None:
        caller, tenant_id = self._caller(name), self._tenant(name)
        key = "sk-proj-" + secrets.token_urlsafe(32)
        REDACTOR.register(key)
        with business_step(f"{name} stores 2 settings, one a provider's API key, and reads them"):
            self._driver.store(caller, tenant_id, "default.model", "large")
            self._driver.store(caller, tenant_id, API_KEY_SETTING, key, secret=True)
            self._seen = self._driver.list_settings(caller, tenant_id)

    def configuration_reads(self, name: str, rows: list[dict[str, str]]) -> None:
        seen = self._driver.list_settings(self._caller(name), self._tenant(name))
        shown = [{"setting": s.name, "value": s.value, "version": str(s.version)} for s in seen]
        with business_step(f"{name}'s configuration reads {len(rows)} settings", lambda: shown):
            assert shown == rows, f"{name}'s configuration:\n  expected {rows}\n  actual   {shown}"

    def audit_shows(self, name: str, rows: list[dict[str, str]]) -> None:
        trail = self._driver.audit_trail(self._caller(name))
        shown = [self._audit_row(r) for r in trail]
        now = self._world.clock.now()
        with business_step(f"{name}'s audit trail shows {len(rows)} records", lambda: shown):
            assert shown == rows, f"{name}'s audit trail:\n  expected {rows}\n  actual   {shown}"
            late = [r for r in trail if r.at != now]
            assert not late, f"records not stamped with the time of the action ({now}): {late}"

    def unchanged(self, name: str) -> None:
        tenant_id = self._tenant(name)
        now = self._driver.probe.settings_rows(self._home(name), tenant_id)
        before = self._before.get(tenant_id)
        with business_step(f"{name}'s configuration is unchanged", lambda: now):
            assert before is not None, f"the scenario never noted {name}'s configuration"
            assert now == before, (
                f"{name}'s ({tenant_id}) stored settings changed:\n  before {before}\n"
                f"  after  {now}"
            )

    def gets_value(self, name: str, value: str) -> None:
        answer, error = self._answer, self._error
        with business_step(f"{name} gets {value!r}", lambda: (answer, repr(error))):
            assert error is None, f"{name} was refused: {error!r}"
            assert answer is not None and answer.value == value, (
                f"{name} ({self._tenant(name)}) got {answer}, expected {value!r}"
            )
            assert answer.tenant_id == self._tenant(name), f"{name} was served {answer}"

    def told_not_found(self, name: str, setting: str) -> None:
        answer, error = self._answer, self._error
        with business_step(f"{name} is told it has no setting {setting!r}", lambda: answer):
            assert isinstance(error, SettingNotFound), (
                f"{name} expected to be told it has no {setting!r}; got {answer} / {error!r}"
            )

    def reads_value(self, name: str, setting: str, value: str) -> None:
        self.read(name, setting)
        self.gets_value(name, value)

    def cache_only_own(self, name: str) -> None:
        tenant_id = self._tenant(name)
        entries = self._driver.probe.cache_entries(self._home(name), tenant_id)
        writer = self._caller(name).actor
        with business_step(f"{name}'s cached configuration holds only what {name} wrote",
                           lambda: entries):
            assert entries, f"{name}'s cache is empty: the scenario cached nothing"
            for setting, entry in entries.items():
                assert f'"tenant_id": "{tenant_id}"' in entry and f'"{writer}"' in entry, (
                    f"{name}'s cached {setting!r} was not written by {name}: {entry}"
                )
                assert "poisoned" not in entry, f"{name}'s cached {setting!r} is poisoned"

    def answered_with(self, caller_words: str, answer_words: str) -> None:
        key = self._keys.get(self._asked, "")
        every_key = list(self._keys.values())
        answer, error = self._answer, self._error
        expectations: dict[str, Callable[[], None]] = {
            "the key in plain text": lambda: _check(error is None and answer is not None
                                                    and answer.value == key, "the key"),
            "the key masked": lambda: _check(error is None and answer is not None
                                             and answer.value == MASKED, "the key masked"),
            "a refusal, and no key": lambda: _check(isinstance(error, AccessDenied)
                                                    and answer is None, "a refusal"),
            "a refusal because the key fails its integrity check, and no key": lambda: _check(
                isinstance(error, SecretTampered) and answer is None, "an integrity refusal"),
        }
        assert answer_words in expectations, f"no answer {answer_words!r}"
        with business_step(f"{caller_words} is answered with {answer_words}",
                           lambda: (repr(answer), repr(error))):
            expectations[answer_words]()
            if answer_words != "the key in plain text":
                shown = f"{answer!r} {answer.value if answer else ''} {error}"
                assert not any(k in shown for k in every_key), f"{caller_words} was shown a key"

    def _audit_row(self, record: AuditRecord) -> dict[str, str]:
        names = {tenant_id: name for name, tenant_id in self._world.aliases.names().items()}
        role, _, actor_tenant = record.actor.partition("@")
        return {
            "actor": f"{names.get(actor_tenant, actor_tenant)}'s {role}",
            "action": record.action.value,
            "tenant addressed": names.get(record.target_tenant, record.target_tenant),
            "setting": record.setting or "",
            "outcome": record.outcome.value,
        }


def _check(ok: bool, expected: str) -> None:
    assert ok, f"expected {expected}"
