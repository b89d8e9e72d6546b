"""Tenant configuration against real PostgreSQL and Redis (the session's embedded services)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis
from pydantic import SecretStr

from apex import keys
from apex.clock import FrozenClock
from apex.errors import InvalidInput
from apex.platform import Platform, PlatformSettings
from apex.tenancy import session
from apex.tenancy.errors import AccessDenied, RegionAlreadyPinned, SecretTampered
from apex.tenancy.model import MASKED, Outcome, Permission, Principal
from apex.tenancy.platform import TenancyPlatform
from apex.tenancy.provisioning import OWNER_ROLE
from apex.tenancy.regions import Region, RegionKeys, cache_url
from harness.services import Services
from harness.services.regions import region_admin_dsns, region_dsns

SECRET = "sk-proj-" + uuid.uuid4().hex


def _settings(services: Services, pool_size: int = 10) -> PlatformSettings:
    return PlatformSettings(
        redis_url=SecretStr(services.redis_url),
        postgres_dsn=SecretStr(services.postgres.app_dsn), pool_size=pool_size,
    )


@pytest.fixture(scope="module")
def platform(services: Services) -> Iterator[Platform]:
    from datetime import UTC, datetime

    built = Platform(
        _settings(services),
        FrozenClock(datetime(2026, 11, 3, 9, 0, tzinfo=UTC)),
    ).start()
    yield built
    built.close()


@pytest.fixture(scope="module")
def keyring() -> RegionKeys:
    return RegionKeys.generate()


def _tenancy(
    services: Services, clock: FrozenClock, keyring: RegionKeys, size: int = 4
) -> TenancyPlatform:
    return TenancyPlatform(
        _settings(services, pool_size=size), region_dsns(services.postgres), keyring, clock
    )


@pytest.fixture
def tenancy(
    services: Services, clock: FrozenClock, keyring: RegionKeys
) -> Iterator[TenancyPlatform]:
    built = _tenancy(services, clock, keyring)
    yield built
    built.close()


def _tenant(platform: Platform, tenancy: TenancyPlatform, home: Region = Region.EU) -> Principal:
    tenant_id = f"t-{uuid.uuid4().hex[:12]}"
    platform.tenants.subscribe(tenant_id, tenant_id, "enterprise")
    tenancy.directory.pin(tenant_id, home)
    return Principal(tenant_id, f"administrator@{tenant_id}", frozenset(Permission))


def test_a_tenant_reads_back_what_it_stored(platform: Platform, tenancy: TenancyPlatform) -> None:
    acme = _tenant(platform, tenancy)
    tenancy.configs.put(acme, acme.tenant_id, "default.model", "large")
    tenancy.configs.put(acme, acme.tenant_id, "default.model", "medium")
    setting = tenancy.configs.get(acme, acme.tenant_id, "default.model")
    assert (setting.value, setting.version) == ("medium", 2)


@pytest.mark.parametrize("operation", ["get", "list", "put", "delete"])
def test_another_tenants_configuration_is_refused_and_the_refusal_audited(
    platform: Platform, tenancy: TenancyPlatform, operation: str
) -> None:
    acme, globex = _tenant(platform, tenancy), _tenant(platform, tenancy)
    tenancy.configs.put(acme, acme.tenant_id, "default.model", "large")
    calls = {
        "get": lambda: tenancy.configs.get(globex, acme.tenant_id, "default.model"),
        "list": lambda: tenancy.configs.list_settings(globex, acme.tenant_id),
        "put": lambda: tenancy.configs.put(globex, acme.tenant_id, "default.model", "x"),
        "delete": lambda: tenancy.configs.delete(globex, acme.tenant_id, "default.model"),
    }
    with pytest.raises(AccessDenied):
        calls[operation]()
    trail = tenancy.configs.audit_trail(globex)
    assert [(r.target_tenant, r.outcome) for r in trail] == [(acme.tenant_id, Outcome.REFUSED)]
    assert tenancy.configs.get(acme, acme.tenant_id, "default.model").value == "large"


@pytest.mark.parametrize(
    "crafted", ["*", "%", "../{id}", "{id}' OR '1'='1", "{id}*", " {id}", "{id}\x00", "{{{id}}}"]
)
def test_crafted_tenant_ids_are_rejected_before_any_store_is_touched(
    platform: Platform, tenancy: TenancyPlatform, crafted: str
) -> None:
    acme, globex = _tenant(platform, tenancy), _tenant(platform, tenancy)
    with pytest.raises(InvalidInput):
        tenancy.configs.list_settings(globex, crafted.format(id=acme.tenant_id))
    assert [r.outcome for r in tenancy.configs.audit_trail(globex)] == [Outcome.REFUSED]


def test_a_secret_is_stored_sealed_and_shown_only_to_a_caller_allowed_to_reveal_it(
    services: Services, platform: Platform, tenancy: TenancyPlatform
) -> None:
    acme = _tenant(platform, tenancy)
    viewer = Principal(acme.tenant_id, "viewer", frozenset({Permission.READ}))
    tenancy.configs.put(acme, acme.tenant_id, "llm.key", SECRET, secret=True)
    assert tenancy.configs.get(acme, acme.tenant_id, "llm.key").value == SECRET
    assert tenancy.configs.get(viewer, acme.tenant_id, "llm.key").value == MASKED
    with psycopg.connect(region_admin_dsns(services.postgres)[Region.EU]) as conn:
        row = conn.execute(
            "SELECT value, ciphertext FROM tenant_config WHERE tenant_id = %s",
            (acme.tenant_id,),
        ).fetchone()
    assert row is not None and row[0] is None and SECRET.encode() not in bytes(row[1])
    cache = redis.Redis.from_url(cache_url(services.redis_url, Region.EU))
    try:
        assert SECRET not in str(cache.hgetall(keys.tenant_config_cache(acme.tenant_id)))
    finally:
        cache.close()


def test_a_secret_copied_into_another_tenants_record_is_not_decrypted(
    services: Services, platform: Platform, tenancy: TenancyPlatform
) -> None:
    acme, globex = _tenant(platform, tenancy), _tenant(platform, tenancy)
    tenancy.configs.put(acme, acme.tenant_id, "llm.key", SECRET, secret=True)
    with psycopg.connect(region_admin_dsns(services.postgres)[Region.EU]) as conn:
        conn.execute(
            "INSERT INTO tenant_config SELECT %s, name, kind, value, nonce, ciphertext, key_id,"
            " version, updated_by, updated_at FROM tenant_config WHERE tenant_id = %s",
            (globex.tenant_id, acme.tenant_id),
        )
    with pytest.raises(SecretTampered):
        tenancy.configs.get(globex, globex.tenant_id, "llm.key")
    assert tenancy.configs.audit_trail(globex)[-1].outcome is Outcome.REFUSED


def test_a_pooled_connection_carries_no_tenant_into_the_next_request(
    services: Services, clock: FrozenClock, keyring: RegionKeys, platform: Platform
) -> None:
    single = _tenancy(services, clock, keyring, size=1)
    try:
        acme = _tenant(platform, single)
        single.configs.put(acme, acme.tenant_id, "default.model", "large")
        with single.region_pools[Region.EU].connection() as conn:
            assert session.current_tenant(conn) == ""
            with conn.transaction():
                seen = conn.execute("SELECT count(*) FROM tenant_config").fetchone()
        assert seen == (0,)
    finally:
        single.close()


@pytest.mark.parametrize("home", list(Region))
def test_a_tenants_configuration_and_audit_stay_in_its_region(
    services: Services, platform: Platform, tenancy: TenancyPlatform, home: Region
) -> None:
    acme = _tenant(platform, tenancy, home)
    tenancy.configs.put(acme, acme.tenant_id, "default.model", "large")
    for region, dsn in region_admin_dsns(services.postgres).items():
        with psycopg.connect(dsn) as conn:
            counts = [
                conn.execute(
                    f"SELECT count(*) FROM {table} WHERE tenant_id = %s", (acme.tenant_id,)
                ).fetchone()
                for table in ("tenant_config", "config_audit")
            ]
        assert counts == ([(1,), (1,)] if region is home else [(0,), (0,)]), region


def test_a_tenants_region_never_changes(platform: Platform, tenancy: TenancyPlatform) -> None:
    acme = _tenant(platform, tenancy, Region.EU)
    tenancy.directory.pin(acme.tenant_id, Region.EU)
    with pytest.raises(RegionAlreadyPinned):
        tenancy.directory.pin(acme.tenant_id, Region.US)


@pytest.mark.parametrize("as_owner", [False, True], ids=["platform role", "table owner"])
@pytest.mark.parametrize(
    "statement",
    ["UPDATE config_audit SET outcome = 'allowed'", "DELETE FROM config_audit",
     "TRUNCATE config_audit"],
)
def test_the_audit_trail_cannot_be_rewritten(
    services: Services, platform: Platform, tenancy: TenancyPlatform, statement: str,
    as_owner: bool,
) -> None:
    acme = _tenant(platform, tenancy)
    tenancy.configs.put(acme, acme.tenant_id, "default.model", "large")
    dsn = (region_admin_dsns if as_owner else region_dsns)(services.postgres)[Region.EU]
    with psycopg.connect(dsn) as conn:
        if as_owner:
            conn.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
        session.act_for(conn, acme.tenant_id)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
    assert len(tenancy.configs.audit_trail(acme)) == 1


def test_a_cached_entry_of_another_tenant_is_discarded_not_served(
    services: Services, platform: Platform, tenancy: TenancyPlatform
) -> None:
    acme, globex = _tenant(platform, tenancy), _tenant(platform, tenancy)
    tenancy.configs.put(acme, acme.tenant_id, "default.model", "large")
    tenancy.configs.put(globex, globex.tenant_id, "default.model", "small")
    cache = redis.Redis.from_url(cache_url(services.redis_url, Region.EU))
    try:
        planted = cache.hget(keys.tenant_config_cache(globex.tenant_id), "default.model")
        cache.hset(keys.tenant_config_cache(acme.tenant_id), "default.model", planted or b"")
    finally:
        cache.close()
    assert tenancy.configs.get(acme, acme.tenant_id, "default.model").value == "large"


def test_no_value_or_secret_is_logged(
    platform: Platform, tenancy: TenancyPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    acme, globex = _tenant(platform, tenancy), _tenant(platform, tenancy)
    tenancy.configs.put(acme, acme.tenant_id, "llm.key", SECRET, secret=True)
    tenancy.configs.get(acme, acme.tenant_id, "llm.key")
    with pytest.raises(AccessDenied) as refused:
        tenancy.configs.get(globex, acme.tenant_id, "llm.key")
    assert SECRET not in caplog.text and SECRET not in str(refused.value)
