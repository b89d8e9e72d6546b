"""Tenant configuration in this process: the platform's Python API (``apex.tenancy``) on the
run's stores, in the contract's domain verbs; the platform's records and errors become the
contract's. Raw observations of the stores live in ``backdoor.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from pydantic import SecretStr

from apex import keys
from apex.clock import Clock
from apex.errors import ApexError
from apex.errors import InvalidInput as PlatformInvalidInput
from apex.settings import PlatformSettings
from apex.tenancy import errors, session
from apex.tenancy.model import MASKED, AuditRecord, Kind, Permission, Principal
from apex.tenancy.model import Setting as PlatformSetting
from apex.tenancy.platform import TenancyPlatform
from apex.tenancy.regions import Region, RegionKeys, region
from harness.drivers.tenant_config.contract import (
    AccessDenied,
    AuditEntry,
    Caller,
    ConfigRefused,
    ConnectionTrace,
    InvalidInput,
    Role,
    SecretTampered,
    Setting,
    SettingNotFound,
)
from harness.reporting.redaction import REDACTOR

T = TypeVar("T")

#: What each role a scenario's callers can have may do.
_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "administrator": frozenset(Permission),
    "viewer": frozenset({Permission.READ}),
}


@contextmanager
def _translated() -> Iterator[None]:
    """The platform's refusals as the contract's (most specific first: UnknownRegion is an
    InvalidInput)."""
    try:
        yield
    except errors.AccessDenied as exc:
        raise AccessDenied(str(exc)) from None
    except errors.SettingNotFound as exc:
        raise SettingNotFound(str(exc)) from None
    except errors.SecretTampered as exc:
        raise SecretTampered(str(exc)) from None
    except PlatformInvalidInput as exc:
        raise InvalidInput(str(exc)) from None
    except ApexError as exc:
        raise ConfigRefused(f"{type(exc).__name__}: {exc}") from None


def _setting(s: PlatformSetting) -> Setting:
    secret = s.kind is Kind.SECRET
    return Setting(s.tenant_id, s.name, s.value, s.version,
                   masked=secret and s.value == MASKED, secret=secret)


def _entry(r: AuditRecord) -> AuditEntry:
    return AuditEntry(r.actor, r.action.value, r.target_tenant, r.setting, r.outcome.value, r.at)


class InProcessTenantConfigDriver:
    def __init__(
        self, redis_url: str, directory_dsn: str, region_dsns: dict[Region, str], clock: Clock
    ) -> None:
        self._config = (redis_url, directory_dsn, region_dsns)
        self._clock = clock
        # One key per region for the whole run, as replicas of one deployment share them.
        self._keys = RegionKeys.generate()
        for form in self._keys.printable_forms():
            REDACTOR.register(form)
        self._primary = self._instance()

    def _instance(self, pool_size: int = 10) -> TenancyPlatform:
        redis_url, directory_dsn, region_dsns = self._config
        settings = PlatformSettings(
            redis_url=SecretStr(redis_url), postgres_dsn=SecretStr(directory_dsn),
            pool_size=pool_size,
        )
        return TenancyPlatform(settings, region_dsns, self._keys, self._clock)

    def close(self) -> None:
        self._primary.close()

    # -- domain verbs ---------------------------------------------------------------------

    def region_named(self, words: str) -> str:
        return region(words).value

    def pin_region(self, tenant_id: str, region_name: str) -> None:
        self._primary.directory.pin(tenant_id, Region(region_name))

    def region_of(self, tenant_id: str) -> str:
        return self._primary.directory.region_of(tenant_id).value

    def caller(self, tenant_id: str, role: str) -> Caller:
        if role not in _PERMISSIONS:
            raise AssertionError(f"no role {role!r}; known: {', '.join(_PERMISSIONS)}")
        known: Role = "administrator" if role == "administrator" else "viewer"
        return Caller(tenant_id, known)

    def store(
        self, caller: Caller, tenant_id: object, name: object, value: object,
        *, secret: bool = False,
    ) -> Setting:
        return self._call(lambda: _setting(self._primary.configs.put(
            _principal(caller), tenant_id, name, value, secret=secret)))

    def read(self, caller: Caller, tenant_id: object, name: object) -> Setting:
        return self._call(
            lambda: _setting(self._primary.configs.get(_principal(caller), tenant_id, name))
        )

    def list_settings(
        self, caller: Caller, tenant_id: object, prefix: object = ""
    ) -> list[Setting]:
        return self._call(lambda: [
            _setting(s)
            for s in self._primary.configs.list_settings(_principal(caller), tenant_id, prefix)
        ])

    def remove(self, caller: Caller, tenant_id: object, name: object) -> bool:
        return self._call(
            lambda: self._primary.configs.delete(_principal(caller), tenant_id, name)
        )

    def audit_trail(self, caller: Caller) -> list[AuditEntry]:
        return [_entry(r) for r in self._primary.configs.audit_trail(_principal(caller))]

    def back_to_back(
        self, first: Caller, second: Caller
    ) -> tuple[list[Setting], ConnectionTrace, list[Setting]]:
        instance = self._instance(pool_size=1)
        try:
            first_seen = instance.configs.list_settings(_principal(first), first.tenant_id)
            trace = _examine(instance, instance.directory.region_of(first.tenant_id))
            second_seen = instance.configs.list_settings(_principal(second), second.tenant_id)
            after = _examine(instance, instance.directory.region_of(second.tenant_id))
        finally:
            instance.close()
        pids = trace.backend_pids + after.backend_pids
        return [_setting(s) for s in first_seen], ConnectionTrace(
            pids, trace.tenant_left_on_it, trace.rows_seen_without_tenant
        ), [_setting(s) for s in second_seen]

    def refresh_caches(self, tenant_ids: list[str]) -> ConnectionTrace:
        instance = self._instance(pool_size=1)
        try:
            instance.cache_refresher.refresh(tenant_ids)
            homes = {instance.directory.region_of(t) for t in tenant_ids}
            traces = [_examine(instance, home) for home in sorted(homes)]
        finally:
            instance.close()
        left = next((t.tenant_left_on_it for t in traces if t.tenant_left_on_it), "")
        return ConnectionTrace(
            tuple(p for t in traces for p in t.backend_pids), left,
            sum(t.rows_seen_without_tenant for t in traces),
        )

    @staticmethod
    def _call(action: Callable[[], T]) -> T:
        with _translated():
            return action()


def _principal(caller: Caller) -> Principal:
    return Principal(caller.tenant_id, caller.actor, _PERMISSIONS[caller.role])


def _examine(instance: TenancyPlatform, home: Region) -> ConnectionTrace:
    with instance.region_pools[home].connection() as conn:
        pid = int(conn.info.backend_pid)
        left = session.current_tenant(conn)
        with conn.transaction():
            row = conn.execute(f"SELECT count(*) FROM {keys.TENANT_CONFIG_TABLE}").fetchone()
    return ConnectionTrace((pid,), left, int(row[0]) if row else 0)
