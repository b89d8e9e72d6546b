"""A tenant's own configuration, in business words: its settings, its secrets, its audit trail.

Tenants are named as in the scenario ("Acme"); a caller is a tenant's "administrator" (the
default) or "viewer". Givens seed through the platform's API; Whens act through the API; Thens
observe through the API and the documented stores.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from harness.drivers.tenant_config.contract import (
    AccessDenied,
    AuditEntry,
    ConfigRefused,
    SecretTampered,
    Setting,
    SettingNotFound,
)
from harness.dsl.common.evidence import business_step, in_words
from harness.dsl.common.world import World
from harness.dsl.tenant_config.state import TenantConfigState
from harness.dsl.tenant_config.words import API_KEY_SETTING, TenantWords
from harness.reporting.redaction import REDACTOR

#: What "each with N settings" gives a tenant (the webhook names the tenant: unique values).
_STANDARD: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("default.model", lambda t: "large"),
    ("max.concurrent_runs", lambda t: "20"),
    ("webhook.url", lambda t: f"https://hooks.example.com/{t}"),
    ("escalation.email", lambda t: f"ops@{t}.example.com"),
)
#: The answer a caller gets when it may read a secret but not see it.
_KEY_MASKED = "the key masked"


def _new_key() -> str:
    key = "sk-proj-" + secrets.token_urlsafe(32)
    REDACTOR.register(key)  # before anything could show it
    return key


class OwnConfigDsl:
    def __init__(self, world: World) -> None:
        self._world = world
        self._state = world.state(TenantConfigState)
        self._words = TenantWords(world)

    # -- Given ------------------------------------------------------------------------------

    def tenants_in_region(self, names: list[str], where: str, settings: int = 0) -> None:
        driver = self._world.tenant_config
        home = driver.region_named(where)
        shown = " and ".join(names)
        title = f"{shown} {'are tenants' if len(names) > 1 else 'is a tenant'} in {home}"
        with business_step(title + (f", each with {settings} settings" if settings else "")):
            for name in names:
                tenant_id = self._world.aliases.tenant(name)
                self._world.tiers.subscribe(tenant_id, name, "enterprise")
                driver.pin_region(tenant_id, home)
                self._world.add_cleanup(self._world.tenant_stores.forget, home, tenant_id)
                for setting, value in _STANDARD[:settings]:
                    driver.store(self._words.caller(name), tenant_id, setting, value(tenant_id))

    def has_settings(self, name: str, rows: list[dict[str, str]]) -> None:
        caller, tenant_id = self._words.caller(name), self._words.tenant(name)
        with business_step(f"{name}'s configuration has {len(rows)} settings"):
            for row in rows:
                self._world.tenant_config.store(caller, tenant_id, row["setting"], row["value"])

    def has_read(self, name: str, setting: str) -> None:
        with business_step(f"{name} has read its setting {setting!r}"):
            self._world.tenant_config.read(
                self._words.caller(name), self._words.tenant(name), setting
            )

    def stored_api_key(self, caller_words: str) -> None:
        name, caller = self._words.parse_caller(caller_words)
        key = _new_key()
        self._state.keys[name] = key
        with business_step(f"{caller_words} stores its LLM provider's API key"):
            self._world.tenant_config.store(
                caller, self._words.tenant(name), API_KEY_SETTING, key, secret=True
            )

    # -- When -------------------------------------------------------------------------------

    def change(self, name: str, setting: str, value: str) -> None:
        with business_step(f"{name} changes its setting {setting!r} to {value!r}"):
            self._world.tenant_config.store(
                self._words.caller(name), self._words.tenant(name), setting, value
            )

    def remove(self, name: str, setting: str) -> None:
        with business_step(f"{name} removes its setting {setting!r}"):
            removed = self._world.tenant_config.remove(
                self._words.caller(name), self._words.tenant(name), setting
            )
            assert removed, f"{name} had no setting {setting!r} to remove"

    def read(self, name: str, setting: str) -> None:
        with business_step(f"{name} reads its setting {setting!r}"):
            caller, tenant_id = self._words.caller(name), self._words.tenant(name)
            self._attempt(lambda: self._world.tenant_config.read(caller, tenant_id, setting))

    def ask_for_key(self, caller_words: str, owner: str) -> None:
        _, caller = self._words.parse_caller(caller_words)
        self._state.asked = owner
        owner_id = self._words.tenant(owner)
        with business_step(f"{caller_words} asks for {owner}'s LLM provider's API key"):
            self._attempt(
                lambda: self._world.tenant_config.read(caller, owner_id, API_KEY_SETTING)
            )

    def store_and_read_back(self, name: str) -> None:
        caller, tenant_id = self._words.caller(name), self._words.tenant(name)
        driver = self._world.tenant_config
        key = _new_key()
        with business_step(f"{name} stores 2 settings, one a provider's API key, and reads them"):
            driver.store(caller, tenant_id, "default.model", "large")
            driver.store(caller, tenant_id, API_KEY_SETTING, key, secret=True)
            self._state.seen = list(driver.list_settings(caller, tenant_id))

    # -- Then -------------------------------------------------------------------------------

    def configuration_reads(self, name: str, rows: list[dict[str, str]]) -> None:
        seen = self._world.tenant_config.list_settings(
            self._words.caller(name), self._words.tenant(name)
        )
        shown = [{"setting": s.name, "value": s.value, "version": str(s.version)} for s in seen]
        with business_step(f"{name}'s configuration reads {len(rows)} settings", lambda: shown):
            assert shown == rows, f"{name}'s configuration:\n  expected {rows}\n  actual   {shown}"

    def audit_shows(self, name: str, rows: list[dict[str, str]]) -> None:
        trail = self._world.tenant_config.audit_trail(self._words.caller(name))
        shown = [self._audit_row(r) for r in trail]
        now = self._world.clock.now()
        with business_step(f"{name}'s audit trail shows {len(rows)} records", lambda: shown):
            assert shown == rows, f"{name}'s audit trail:\n  expected {rows}\n  actual   {shown}"
            late = [r for r in trail if r.at != now]
            assert not late, (
                f"expected every record stamped with the time of the action ({now}); "
                f"{in_words(late)}"
            )

    def unchanged(self, name: str) -> None:
        tenant_id = self._words.tenant(name)
        now = self._world.tenant_stores.settings_rows(self._words.home(name), tenant_id)
        before = self._state.before.get(tenant_id)
        with business_step(f"{name}'s configuration is unchanged", lambda: now):
            assert before is not None, f"the scenario never noted {name}'s configuration"
            assert now == before, (
                f"{name}'s ({tenant_id}) stored settings changed:\n  before {in_words(before)}\n"
                f"  after  {in_words(now)}"
            )

    def gets_value(self, name: str, value: str) -> None:
        answer, error = self._state.answer, self._state.error.take()
        with business_step(f"{name} gets {value!r}", lambda: (answer, repr(error))):
            tenant_id = self._words.tenant(name)
            assert error is None, f"expected {name} ({tenant_id}) to get {value!r}; {error}"
            assert answer is not None and answer.value == value, (
                f"expected {name} ({tenant_id}) to get {value!r}; it got {in_words(answer)}"
            )
            assert answer.tenant_id == tenant_id, (
                f"{name} ({tenant_id}) was served another tenant's setting: {in_words(answer)}"
            )

    def told_not_found(self, name: str, setting: str) -> None:
        answer, error = self._state.answer, self._state.error.take()
        with business_step(f"{name} is told it has no setting {setting!r}", lambda: answer):
            assert isinstance(error, SettingNotFound), (
                f"expected {name} to be told it has no {setting!r}; it got "
                f"{in_words(answer)}" + (f" ({error})" if error else "")
            )

    def reads_value(self, name: str, setting: str, value: str) -> None:
        self.read(name, setting)
        self.gets_value(name, value)

    def cache_only_own(self, name: str, writer: str) -> None:
        """Every entry of ``name``'s cache is ``name``'s, as ``writer`` wrote it, unpoisoned."""
        tenant_id = self._words.tenant(name)
        entries = self._world.tenant_stores.cache_entries(self._words.home(name), tenant_id)
        _, writing = self._words.parse_caller(writer)
        with business_step(f"{name}'s cached configuration holds only what {writer} wrote",
                           lambda: entries):
            assert entries, f"{name}'s cache is empty: the scenario cached nothing"
            for setting, entry in entries.items():
                assert entry.tenant_id == tenant_id, (
                    f"{name}'s cached {setting!r} belongs to {entry.tenant_id!r}: {entry.text}"
                )
                assert entry.written_by == writing.actor, (
                    f"{name}'s cached {setting!r} was written by {entry.written_by!r}, "
                    f"not by {writer} ({writing.actor}): {entry.text}"
                )
                assert "poisoned" not in entry.text, f"{name}'s cached {setting!r} is poisoned"

    def answered_with(self, caller_words: str, answer_words: str) -> None:
        key = self._state.keys.get(self._state.asked, "")
        every_key = list(self._state.keys.values())
        answer, error = self._state.answer, self._state.error.take()
        expectations: dict[str, Callable[[], None]] = {
            "the key in plain text": lambda: _check(error is None and answer is not None
                                                    and answer.value == key, "the key"),
            _KEY_MASKED: lambda: _check(error is None and answer is not None and answer.masked,
                                    "the key masked"),
            "a refusal, and no key": lambda: _check(isinstance(error, AccessDenied)
                                                    and answer is None, "a refusal"),
            "a refusal because the key fails its integrity check, and no key": lambda: _check(
                isinstance(error, SecretTampered) and answer is None, "an integrity refusal"),
        }
        assert answer_words in expectations, f"no answer {answer_words!r}"
        with business_step(f"{caller_words} is answered with {answer_words}",
                           lambda: (repr(answer), repr(error))):
            try:
                expectations[answer_words]()
            except AssertionError as failed:
                # What was answered, never the value: it may be the key.
                got = (
                    f"a refusal: {error}" if error is not None
                    else "nothing" if answer is None
                    else f"{answer.name!r} of {answer.tenant_id}, "
                    + ("masked" if answer.masked else "in plain text")
                )
                raise AssertionError(f"{failed}; {caller_words} got {got}") from None
            if answer_words != "the key in plain text":
                shown = f"{answer!r} {answer.value if answer else ''} {error}"
                assert not any(k in shown for k in every_key), f"{caller_words} was shown a key"

    # -- internals --------------------------------------------------------------------------

    def _attempt(self, call: Callable[[], Setting]) -> None:
        self._state.answer = None
        self._state.error.put(None)
        try:
            self._state.answer = call()
        except ConfigRefused as exc:
            self._state.error.put(exc)

    def _audit_row(self, record: AuditEntry) -> dict[str, str]:
        names = {tenant_id: name for name, tenant_id in self._world.aliases.names().items()}
        role, _, actor_tenant = record.actor.partition("@")
        return {
            "actor": f"{names.get(actor_tenant, actor_tenant)}'s {role}",
            "action": record.action,
            "tenant addressed": names.get(record.target_tenant, record.target_tenant),
            "setting": record.setting or "",
            "outcome": record.outcome,
        }


def _check(ok: bool, expected: str) -> None:
    assert ok, f"expected {expected}"
