"""The tenant-configuration contract: a tenant's callers store, read, list and remove settings
(some of them secrets), every access is audited, and each tenant's data lives in its region.
``in_process.py`` implements it on the reference platform; ``backdoor.py`` is the probe beneath
the platform's API (raw queries and what the stores hold) and the Given-steps' back door.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from harness.errors import HarnessError


class ConfigRefused(HarnessError):
    """The platform refused a configuration action."""


class AccessDenied(ConfigRefused):
    """The caller may not do this to that tenant's configuration."""


class SettingNotFound(ConfigRefused):
    """The tenant has no such setting."""


class SecretTampered(ConfigRefused):
    """A stored secret failed its integrity check: it was not released."""


class InvalidInput(ConfigRefused):
    """The request is malformed (a tenant id or setting name the platform cannot take)."""


#: The roles a scenario's callers can have.
Role = Literal["administrator", "viewer"]
#: Whose privileges a raw query beneath the platform runs with.
DatabaseRole = Literal["platform", "owner"]
#: Which tenant table a raw query reads.
Table = Literal["settings", "audit records"]
#: Which of a tenant's account records (main database) a raw query reads.
AccountRecords = Literal[
    "subscriptions", "charges", "API keys", "home regions", "agent runs", "saved agent steps"
]


class AccountChange(StrEnum):
    """Writes to a tenant's account records, as the feature names them."""

    TIER = "change the tier"
    CHARGE = "record a charge"
    API_KEY = "add an API key"
    # rewrites of what is only ever added to
    CHARGE_AMOUNT = "change a charge's amount"
    CHARGE_REMOVAL = "remove a charge"
    REGION_MOVE = "move the home region"
    KEY_SECRET = "replace an API key's secret"
    RUN_EVENT = "rewrite a run's event"
    SAVED_STEP = "rewrite a saved agent step"


@dataclass(frozen=True)
class AccountSnapshot:
    """A tenant's account records: its tier, its charges (reference, amount), its key digests,
    its home region, its runs' events (run, seq, kind, body) and their saved steps (run, step,
    the model's answer)."""

    tier: str | None
    charges: tuple[tuple[str, str], ...]
    api_keys: tuple[str, ...]
    home_region: str | None
    run_events: tuple[tuple[str, int, str, str], ...]
    saved_steps: tuple[tuple[str, int, str], ...]


class AccountProbe(Protocol):
    """Beneath the platform: a tenant's account records in the main database."""

    def unfiltered_query(self, records: AccountRecords, tenant: str | None) -> list[str]: ...

    def try_change(
        self, change: AccountChange, target: str, acting_for: str | None
    ) -> str | None:
        """How the database refused the change, or None if it changed a row."""
        ...

    def snapshot(self, tenant_id: str) -> AccountSnapshot: ...

    def plant(self, tenant_id: str, api_keys: int, charges: int, runs: int) -> None:
        """Back door: API keys, billed requests and finished agent runs (each with its first
        step saved) for a tenant."""
        ...


@dataclass(frozen=True)
class Caller:
    """An authenticated caller of a tenant, as a login would give it."""

    tenant_id: str
    role: Role

    @property
    def actor(self) -> str:
        """How the caller is named in audit records and stored settings."""
        return f"{self.role}@{self.tenant_id}"


@dataclass(frozen=True)
class Setting:
    tenant_id: str
    name: str
    value: str
    version: int
    #: a secret shown masked (the caller may not reveal it)
    masked: bool = False
    secret: bool = False

    def __repr__(self) -> str:
        shown = "<secret>" if self.secret else repr(self.value)
        return f"Setting({self.tenant_id}/{self.name}={shown}, v{self.version})"


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    #: "read", "write", "delete", "list", ...
    action: str
    target_tenant: str
    setting: str | None
    #: "allowed" or "refused"
    outcome: str
    at: datetime


@dataclass(frozen=True)
class ConnectionTrace:
    """What one pooled connection showed between (or after) requests."""

    backend_pids: tuple[int, ...]
    tenant_left_on_it: str
    rows_seen_without_tenant: int


@dataclass(frozen=True)
class Holding:
    """How much of one tenant one region's stores hold."""

    settings: int
    audit_records: int
    cached_settings: int


@dataclass(frozen=True)
class CacheEntry:
    """One cached setting as the cache holds it."""

    tenant_id: str | None
    written_by: str | None
    #: the entry exactly as stored
    text: str


@dataclass(frozen=True)
class StoredRecord:
    """A stored setting's row, beneath the platform."""

    #: stored as a sealed secret (encrypted, nothing in plain text)
    sealed: bool
    #: every column as text (bytes as hex, and as decoded text)
    text: str


class TenantConfigDriver(Protocol):
    def region_named(self, words: str) -> str:
        """The region a scenario names ("EU") as the platform's region name ("eu")."""
        ...

    def pin_region(self, tenant_id: str, region: str) -> None: ...

    def region_of(self, tenant_id: str) -> str: ...

    def caller(self, tenant_id: str, role: str) -> Caller:
        """AssertionError for a role no caller can have."""
        ...

    # Tenant ids and names are ``object``: attacks send what is not even text.
    def store(
        self, caller: Caller, tenant_id: object, name: object, value: object,
        *, secret: bool = False,
    ) -> Setting: ...

    def read(self, caller: Caller, tenant_id: object, name: object) -> Setting: ...

    def list_settings(
        self, caller: Caller, tenant_id: object, prefix: object = ""
    ) -> list[Setting]: ...

    def remove(self, caller: Caller, tenant_id: object, name: object) -> bool: ...

    def audit_trail(self, caller: Caller) -> list[AuditEntry]:
        """The caller's tenant's audit trail, oldest first."""
        ...

    def back_to_back(
        self, first: Caller, second: Caller
    ) -> tuple[list[Setting], ConnectionTrace, list[Setting]]:
        """``first`` then ``second`` list their settings on an instance with one pooled
        connection, examined between the two as it would reach the next request."""
        ...

    def refresh_caches(self, tenant_ids: list[str]) -> ConnectionTrace:
        """The background job refreshes these tenants' caches on an instance with one pooled
        connection per store, examined afterwards as it would reach the next user."""
        ...


class StoreProbe(Protocol):
    """Beneath the platform: raw queries and what the stores hold (observations), and trusted
    seeding for Given-steps (back door)."""

    @property
    def accounts(self) -> AccountProbe:
        """The tenants' account records in the main database."""
        ...

    def unfiltered_query(
        self, region: str, table: Table, role: DatabaseRole, tenant: str | None
    ) -> list[str]: ...

    def holdings(self, tenant_id: str) -> dict[str, Holding]:
        """Per region name, in the platform's order of regions."""
        ...

    def stored_record(self, region: str, tenant_id: str, name: str) -> StoredRecord: ...

    def cache_entries(self, region: str, tenant_id: str) -> dict[str, CacheEntry]: ...

    def audit_rows(self, region: str, tenant_id: str) -> list[tuple[object, ...]]: ...

    def settings_rows(self, region: str, tenant_id: str) -> list[tuple[object, ...]]: ...

    def settings_of(self, region: str, tenant_id: str) -> dict[str, str | None]: ...

    def rewrite_audit(
        self, region: str, tenant_id: str, role: DatabaseRole, how: str
    ) -> str | None: ...

    # -- back door (Given-steps and cleanup only) -----------------------------------------

    def forget_cache(self, region: str, tenant_id: str) -> None: ...

    def forget(self, region: str, tenant_id: str) -> None: ...

    def copy_stored_secret(self, region: str, name: str, source: str, target: str) -> None: ...

    def plant_cache_entry(self, region: str, name: str, source: str, target: str) -> None: ...
