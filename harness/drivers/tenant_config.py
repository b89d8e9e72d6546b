"""L3 driver for tenant configuration: the platform's Python API (``apex.tenancy``) on the
run's stores, in domain verbs. Raw observations of the stores live in ``tenant_store.py``."""

from __future__ import annotations

from dataclasses import dataclass

from apex import keys
from apex.clock import Clock
from apex.tenancy import session
from apex.tenancy.model import AuditRecord, Permission, Principal, Setting
from apex.tenancy.platform import TenancyConfig, TenancyPlatform
from apex.tenancy.regions import Region, RegionKeys
from harness.drivers.tenant_store import TenantStoreProbe
from harness.reporting.redaction import REDACTOR
from harness.services import Services
from harness.services.regions import region_dsns

#: The roles a scenario's callers can have, and what each may do.
ROLES = {
    "administrator": frozenset(Permission),
    "viewer": frozenset({Permission.READ}),
}


@dataclass(frozen=True)
class ConnectionTrace:
    """What one pooled connection showed between (or after) requests."""

    backend_pids: tuple[int, ...]
    tenant_left_on_it: str
    rows_seen_without_tenant: int


class TenantConfigDriver:
    def __init__(self, services: Services, clock: Clock) -> None:
        self._services = services
        self._clock = clock
        # One key per region for the whole run, as replicas of one deployment share them.
        self._keys = RegionKeys.generate()
        for form in self._keys.printable_forms():
            REDACTOR.register(form)
        self.primary = self.instance()
        self.probe = TenantStoreProbe(services)

    def instance(self, pool_size: int = 10) -> TenancyPlatform:
        """A platform instance on the shared stores; the caller closes it."""
        config = TenancyConfig(
            redis_url=self._services.redis_url,
            directory_dsn=self._services.postgres.app_dsn,
            region_dsns=region_dsns(self._services.postgres),
            keys=self._keys,
            pool_size=pool_size,
        )
        return TenancyPlatform(config, self._clock)

    def close(self) -> None:
        self.primary.close()
        self.probe.close()

    # -- domain verbs ---------------------------------------------------------------------

    def principal(self, tenant_id: str, role: str) -> Principal:
        """The authenticated caller of ``tenant_id`` with ``role`` (what a login would give)."""
        if role not in ROLES:
            raise AssertionError(f"no role {role!r}; known: {', '.join(ROLES)}")
        return Principal(tenant_id, f"{role}@{tenant_id}", ROLES[role])

    def pin_region(self, tenant_id: str, region: str) -> None:
        self.primary.directory.pin(tenant_id, Region(region))

    def store(
        self, caller: Principal, tenant_id: object, name: object, value: object,
        *, secret: bool = False,
    ) -> Setting:
        return self.primary.configs.put(caller, tenant_id, name, value, secret=secret)

    def read(self, caller: Principal, tenant_id: object, name: object) -> Setting:
        return self.primary.configs.get(caller, tenant_id, name)

    def list_settings(
        self, caller: Principal, tenant_id: object, prefix: object = ""
    ) -> list[Setting]:
        return self.primary.configs.list_settings(caller, tenant_id, prefix)

    def remove(self, caller: Principal, tenant_id: object, name: object) -> bool:
        return self.primary.configs.delete(caller, tenant_id, name)

    def audit_trail(self, caller: Principal) -> list[AuditRecord]:
        return self.primary.configs.audit_trail(caller)

    def back_to_back(
        self, first: Principal, second: Principal
    ) -> tuple[list[Setting], ConnectionTrace, list[Setting]]:
        """``first`` then ``second`` list their settings on an instance with one pooled
        connection; between the two, that connection is examined as it would reach the next
        request: which tenant it still acts for, and what a query naming none sees."""
        instance = self.instance(pool_size=1)
        try:
            first_seen = instance.configs.list_settings(first, first.tenant_id)
            trace = self._examine(instance, instance.directory.region_of(first.tenant_id))
            second_seen = instance.configs.list_settings(second, second.tenant_id)
            after = self._examine(instance, instance.directory.region_of(second.tenant_id))
        finally:
            instance.close()
        pids = trace.backend_pids + after.backend_pids
        return first_seen, ConnectionTrace(
            pids, trace.tenant_left_on_it, trace.rows_seen_without_tenant
        ), second_seen

    def refresh_caches(
        self, tenant_ids: list[str]
    ) -> tuple[dict[str, int], ConnectionTrace]:
        """The background job refreshes these tenants' caches on an instance with one pooled
        connection per store, which is then examined as it would reach the next user."""
        instance = self.instance(pool_size=1)
        try:
            counts = instance.cache_refresher.refresh(tenant_ids)
            homes = {instance.directory.region_of(t) for t in tenant_ids}
            traces = [self._examine(instance, home) for home in sorted(homes)]
        finally:
            instance.close()
        left = next((t.tenant_left_on_it for t in traces if t.tenant_left_on_it), "")
        return counts, ConnectionTrace(
            tuple(p for t in traces for p in t.backend_pids), left,
            sum(t.rows_seen_without_tenant for t in traces),
        )

    @staticmethod
    def _examine(instance: TenancyPlatform, home: Region) -> ConnectionTrace:
        with instance.region_pools[home].connection() as conn:
            pid = int(conn.info.backend_pid)
            left = session.current_tenant(conn)
            with conn.transaction():
                row = conn.execute(f"SELECT count(*) FROM {keys.TENANT_CONFIG_TABLE}").fetchone()
        return ConnectionTrace((pid,), left, int(row[0]) if row else 0)
