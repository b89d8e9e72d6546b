"""Tier enforcement in this process: the reference platform's Python API (``apex.platform``) on
the run's real stores. Everything this capability's drivers know of ``apex`` is here and in
``backdoor.py``: the platform's outcomes and errors become the contract's."""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import SecretStr

from apex.analytics import AnalyticsQueries
from apex.catalog import TIERS, UNLIMITED, ModelSize, Tier
from apex.clock import Clock
from apex.errors import InvalidInput
from apex.errors import UnknownTenant as PlatformUnknownTenant
from apex.errors import UnknownTier as PlatformUnknownTier
from apex.platform import Platform, PlatformSettings
from apex.requests import RequestResult
from harness.drivers.tiers.contract import (
    Admission,
    InvalidRequest,
    NotSubscribed,
    RefusalReason,
    Store,
    StoreLink,
    TierInstance,
    TierTerms,
    Totals,
    UnknownTier,
)
from harness.services.link import CuttableLink

#: The platform's refusal reasons (as it publishes them on the wire) in the contract's words.
_REASONS = {
    "quota_exhausted": RefusalReason.QUOTA_USED,
    "concurrency_limit": RefusalReason.SLOTS_FULL,
    "service_unavailable": RefusalReason.UNAVAILABLE,
}


def admission(result: RequestResult) -> Admission:
    """The platform's answer to a request, in the contract's words."""
    return Admission(
        request_id=result.request_id, admitted=result.admitted,
        reason=(
            _REASONS.get(str(result.reason.value), RefusalReason.OTHER)
            if result.reason is not None else None
        ),
        message=result.message, retryable=result.retryable, offer=result.offer,
    )


def terms(tier: Tier) -> TierTerms:
    def limit(value: int) -> int | None:
        return None if value == UNLIMITED else value

    return TierTerms(
        name=tier.name, requests_per_month=limit(tier.requests_per_month),
        concurrent_runs=limit(tier.concurrent_runs),
        tool_calls_per_day=limit(tier.tool_calls_per_day),
        llm_budget_per_day_micros=limit(tier.llm_budget_per_day_micros),
        models=tuple(size.value for size in ModelSize if size in tier.models),
        price_per_request_micros=tier.metered_price_per_request_micros,
    )


class InProcessTierInstance:
    """One platform instance (a replica) plus a view of the shared analytics store."""

    def __init__(self, platform: Platform, analytics: AnalyticsQueries) -> None:
        self._platform = platform
        self._analytics = analytics

    def close(self) -> None:
        self._platform.close()

    def subscribe(self, tenant_id: str, display_name: str, tier: str) -> None:
        self._platform.tenants.subscribe(tenant_id, display_name, tier)

    def change_tier(self, tenant_id: str, tier: str) -> None:
        try:
            self._platform.tenants.change_tier(tenant_id, tier)
        except PlatformUnknownTier as exc:
            raise UnknownTier(str(exc)) from None

    def current_tier(self, tenant_id: str) -> str:
        return self._platform.tenants.get(tenant_id).tier

    def submit(self, tenant_id: str, request_id: str, units: int = 1) -> Admission:
        try:
            return admission(self._platform.requests.submit(tenant_id, request_id, units))
        except InvalidInput as exc:
            raise InvalidRequest(str(exc)) from None
        except PlatformUnknownTenant as exc:
            raise NotSubscribed(str(exc)) from None

    def release_slot(self, tenant_id: str, request_id: str) -> None:
        self._platform.requests.finish(tenant_id, request_id)

    def renew_slot(self, tenant_id: str, request_id: str) -> bool:
        return self._platform.enforcer.renew(tenant_id, request_id)

    def quota_used(self, tenant_id: str) -> int:
        return self._platform.enforcer.quota_used(tenant_id)

    def slots_held(self, tenant_id: str) -> int:
        return self._platform.enforcer.running(tenant_id)

    def ledger_totals(self, tenant_id: str) -> Totals:
        t = self._platform.ledger.totals(tenant_id)
        return Totals(t.events, t.units, t.amount_micros)

    def analytics_totals(self, tenant_id: str) -> Totals:
        t = self._analytics.totals(tenant_id)
        return Totals(t.events, t.units, t.amount_micros)


class InProcessTiersDriver(InProcessTierInstance):
    """The capability on the run's stores: a primary instance, and replicas on demand."""

    def __init__(
        self, redis_url: str, postgres_dsn: str, clock: Clock, analytics: AnalyticsQueries
    ) -> None:
        self._redis_url = redis_url
        self._postgres_dsn = postgres_dsn
        self._clock = clock
        super().__init__(self._start(), analytics)

    def _start(
        self, redis_url: str | None = None, postgres_dsn: str | None = None,
        **settings: Any,
    ) -> Platform:
        configured = PlatformSettings(
            redis_url=SecretStr(redis_url or self._redis_url),
            postgres_dsn=SecretStr(postgres_dsn or self._postgres_dsn), **settings,
        )
        return Platform(configured, self._clock).start()

    def tier_catalog(self) -> list[TierTerms]:
        return [terms(tier) for tier in sorted(TIERS.values(), key=lambda t: t.rank)]

    def another_instance(self) -> TierInstance:
        return InProcessTierInstance(self._start(), self._analytics)

    def instance_with_cuttable_store(self, store: Store) -> tuple[TierInstance, StoreLink]:
        if store == "quota store":
            parts = urlsplit(self._redis_url)
            link = CuttableLink(parts.hostname or "127.0.0.1", parts.port or 6379)
            userinfo, _, _host = parts.netloc.rpartition("@")
            netloc = f"{userinfo}@127.0.0.1:{link.port}" if userinfo else f"127.0.0.1:{link.port}"
            start = partial(self._start, redis_url=urlunsplit(parts._replace(netloc=netloc)))
        else:
            link = _link_to_postgres(self._postgres_dsn)
            start = partial(
                self._start,
                postgres_dsn=make_conninfo(self._postgres_dsn, host="127.0.0.1", port=link.port),
                postgres_wait_ms=_LEDGER_WAIT_MS,
            )
        try:
            platform = start()
        except Exception:
            link.close()
            raise
        return InProcessTierInstance(platform, self._analytics), link


#: How long the instance cut off from its ledger waits for a database connection before the
#: ledger counts as unreachable (the platform's default is seconds; a scenario need not wait).
_LEDGER_WAIT_MS = 300


def _link_to_postgres(dsn: str) -> CuttableLink:
    """A cuttable relay to the PostgreSQL server ``dsn`` names: its TCP address, or the Unix
    socket in the directory ``host`` names (the embedded server's)."""
    params = conninfo_to_dict(dsn)
    host, port = str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)
    if host.startswith("/"):
        return CuttableLink(f"{host}/.s.PGSQL.{port}")
    return CuttableLink(host, port)
