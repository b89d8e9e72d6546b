"""External mode: services someone else runs (a staging stack, CI service containers, or
``docker compose -f docker/docker-compose.yml up``), addressed by environment variables:

    APEX_REDIS_URL       redis://host:6379/0
    APEX_POSTGRES_DSN    postgresql://user:password@host:5432/db  (a role that may create roles)
    APEX_CLICKHOUSE_URL  http://user:password@host:8123/db
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from harness.errors import ServiceStartError
from harness.services import RawServices
from harness.settings import SuiteSettings


@contextlib.contextmanager
def external_services(settings: SuiteSettings) -> Iterator[RawServices]:
    missing = [
        env
        for env, value in (
            ("APEX_REDIS_URL", settings.redis_url),
            ("APEX_POSTGRES_DSN", settings.postgres_dsn),
            ("APEX_CLICKHOUSE_URL", settings.clickhouse_url),
        )
        if value is None
    ]
    if missing:
        raise ServiceStartError(
            "External services", f"{', '.join(missing)} not set",
            "Set them (see README, 'Service modes') or use -D services=embedded.",
        )
    assert settings.redis_url and settings.postgres_dsn and settings.clickhouse_url
    clickhouse_url = settings.clickhouse_url.get_secret_value()

    def factory() -> Any:
        import clickhouse_connect

        return clickhouse_connect.get_client(dsn=clickhouse_url)

    yield RawServices(
        redis_url=settings.redis_url.get_secret_value(),
        postgres_admin_dsn=settings.postgres_dsn.get_secret_value(),
        clickhouse=factory,
    )
