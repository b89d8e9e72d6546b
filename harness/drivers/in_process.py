"""L3 driver: the platform's Python API in this process, on the real services."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from apex.analytics import AnalyticsTotals
from apex.billing import LedgerTotals
from apex.catalog import TIERS, Tier
from apex.clock import Clock
from apex.platform import AnalyticsWorker, Platform, PlatformConfig
from apex.requests import RequestResult
from harness.services import Services
from harness.services.link import CuttableLink


class InProcessDriver:
    """One platform instance (a replica) plus a view of the shared analytics store."""

    def __init__(self, platform: Platform, analytics: AnalyticsWorker) -> None:
        self._platform = platform
        self._analytics = analytics

    def close(self) -> None:
        self._platform.close()

    def subscribe(self, tenant_id: str, display_name: str, tier: str) -> None:
        self._platform.tenants.subscribe(tenant_id, display_name, tier)

    def change_tier(self, tenant_id: str, tier: str) -> None:
        self._platform.tenants.change_tier(tenant_id, tier)

    def current_tier(self, tenant_id: str) -> str:
        return self._platform.tenants.get(tenant_id).tier

    def tier_catalog(self) -> list[Tier]:
        return list(TIERS.values())

    def submit(self, tenant_id: str, request_id: str, units: int = 1) -> RequestResult:
        return self._platform.requests.submit(tenant_id, request_id, units)

    def finish_run(self, tenant_id: str, run_id: str) -> None:
        self._platform.requests.finish(tenant_id, run_id)

    def keep_alive(self, tenant_id: str, run_id: str) -> bool:
        return self._platform.enforcer.renew(tenant_id, run_id)

    def quota_used(self, tenant_id: str) -> int:
        return self._platform.enforcer.quota_used(tenant_id)

    def ledger_totals(self, tenant_id: str) -> LedgerTotals:
        return self._platform.ledger.totals(tenant_id)

    def analytics_totals(self, tenant_id: str) -> AnalyticsTotals:
        return self._analytics.queries.totals(tenant_id)


class InProcessPlatform:
    """Builds L3 platform instances (replicas) on the run's services."""

    def __init__(self, services: Services, clock: Clock) -> None:
        self._services = services
        self._clock = clock
        self.analytics = AnalyticsWorker(services.redis_url, services.clickhouse).start()
        self.primary = self.replica()

    def replica(self, redis_url: str | None = None) -> InProcessDriver:
        """A new platform instance sharing the stores; the caller closes it."""
        config = PlatformConfig(
            redis_url=redis_url or self._services.redis_url,
            postgres_dsn=self._services.postgres.app_dsn,
        )
        return InProcessDriver(Platform(config, self._clock).start(), self.analytics)

    def replica_behind_link(self) -> tuple[InProcessDriver, CuttableLink]:
        """A replica whose quota-store (Redis) traffic crosses a link the caller can cut."""
        parts = urlsplit(self._services.redis_url)
        link = CuttableLink(parts.hostname or "127.0.0.1", parts.port or 6379)
        userinfo, _, _host = parts.netloc.rpartition("@")
        netloc = f"{userinfo}@127.0.0.1:{link.port}" if userinfo else f"127.0.0.1:{link.port}"
        try:
            return self.replica(urlunsplit(parts._replace(netloc=netloc))), link
        except Exception:
            link.close()
            raise

    def close(self) -> None:
        self.primary.close()
        self.analytics.close()
