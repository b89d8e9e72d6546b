"""Real backing services for a run, whatever their origin.

``start_services(settings)`` is a context manager: it starts (or reaches) Redis, PostgreSQL and
ClickHouse in the chosen mode, applies the schemas once, yields one :class:`Services` object,
and stops everything it started on exit, whether the run passed, failed or was interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from apex import migrations
from harness.errors import ServiceStartError
from harness.reporting.redaction import REDACTOR
from harness.services.probe import docker_available
from harness.services.regions import start_regions
from harness.settings import ServiceMode, SuiteSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PostgresEndpoint:
    #: DSN of a role that may create schemas (superuser in embedded and docker modes).
    admin_dsn: str
    #: password of the platform's non-owner role (see ``_app_password``).
    app_password: str = field(repr=False)

    @property
    def app_dsn(self) -> str:
        """DSN the platform connects with: the non-owner ``apex_app`` role."""
        return make_conninfo(
            self.admin_dsn, user=migrations.APP_ROLE, password=self.app_password
        )

    def dsn_for(self, *, user: str | None = None, dbname: str | None = None) -> str:
        overrides = {k: v for k, v in (("user", user), ("dbname", dbname)) if v is not None}
        if user == migrations.APP_ROLE:
            overrides["password"] = self.app_password
        return make_conninfo(self.admin_dsn, **overrides)


class RedisControl(Protocol):
    """The run's Redis server as a fault scenario breaks it (``@store_faults``); only a server
    the suite started itself has one: ``EmbeddedRedis`` (the process), ``ContainerRedis`` (the
    container). ``seed``: name -> (value, expiry in milliseconds), the keys an emptied server
    holds before any client reaches it."""

    def restart(
        self, *, keep_data: bool, seed: Mapping[str, tuple[str, int]] | None = None
    ) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def ensure_running(self) -> None: ...


@dataclass(frozen=True)
class Services:
    mode: ServiceMode
    redis_url: str
    postgres: PostgresEndpoint
    #: Returns a clickhouse-connect client. In embedded mode every client shares the one
    #: in-process chDB engine, so only this process can reach ClickHouse.
    clickhouse: Callable[[], Any] = field(repr=False)
    versions: dict[str, str] = field(default_factory=dict)
    #: the Redis server, to be restarted or paused by fault scenarios (embedded and docker
    #: modes; an external one is not the suite's to break)
    redis_control: RedisControl | None = field(default=None, repr=False)

    def describe(self) -> str:
        shown = ", ".join(f"{name} {version}" for name, version in self.versions.items())
        return f"services: {self.mode.value} mode ({shown})"


@dataclass(frozen=True)
class RawServices:
    """What a mode starts, before schemas: addresses and how to talk to ClickHouse."""

    redis_url: str
    postgres_admin_dsn: str
    clickhouse: Callable[[], Any]
    redis_control: RedisControl | None = None


def resolve_mode(settings: SuiteSettings) -> ServiceMode:
    if settings.services is not ServiceMode.AUTO:
        return settings.services
    if docker_available(timeout=settings.docker_probe_timeout):
        return ServiceMode.DOCKER
    return ServiceMode.EMBEDDED


@contextlib.contextmanager
def start_services(settings: SuiteSettings) -> Iterator[Services]:
    mode = resolve_mode(settings)
    with ExitStack() as stack:
        raw = stack.enter_context(_start_mode(mode, settings))
        for secret in _secrets_of(raw):
            REDACTOR.register(secret)
        app_password = _app_password(mode, settings)
        REDACTOR.register(app_password)
        _apply_schemas(raw, app_password)
        start_regions(raw.postgres_admin_dsn)
        services = Services(
            mode=mode,
            redis_url=raw.redis_url,
            postgres=PostgresEndpoint(raw.postgres_admin_dsn, app_password),
            clickhouse=raw.clickhouse,
            versions=_versions(raw),
            redis_control=raw.redis_control,
        )
        yield services


def _start_mode(mode: ServiceMode, settings: SuiteSettings) -> contextlib.AbstractContextManager[
    RawServices
]:
    if mode is ServiceMode.EMBEDDED:
        from harness.services.embedded import embedded_services

        return embedded_services()
    if mode is ServiceMode.DOCKER:
        from harness.services.docker import docker_services

        return docker_services()
    if mode is ServiceMode.EXTERNAL:
        from harness.services.external import external_services

        return external_services(settings)
    raise AssertionError(f"unresolved service mode {mode}")


def _app_password(mode: ServiceMode, settings: SuiteSettings) -> str:
    """The password ``apex_app`` connects with. The role is created once, with it, and never
    re-passworded (another run on the same server may be connected as it), so a server that
    outlives the run (external mode) needs it set; a server new to this run gets a fresh one."""
    if settings.app_password is not None:
        return settings.app_password.get_secret_value()
    if mode is ServiceMode.EXTERNAL:
        raise ServiceStartError(
            "PostgreSQL", "APEX_APP_PASSWORD is not set",
            "In external mode the platform's role apex_app keeps the password it was created"
            " with: set APEX_APP_PASSWORD (or -D app_password) to it, or to the one a new role"
            " should get.",
        )
    return secrets.token_urlsafe(24)


def _apply_schemas(raw: RawServices, app_password: str) -> None:
    try:
        migrations.ensure_app_role(raw.postgres_admin_dsn, app_password)
        migrations.apply_postgres(raw.postgres_admin_dsn)
    except psycopg.Error as exc:
        raise ServiceStartError(
            "PostgreSQL", f"schema could not be applied ({REDACTOR.redact(str(exc))})",
            "Check that the DSN's role may create roles and tables.",
        ) from None
    app_dsn = make_conninfo(
        raw.postgres_admin_dsn, user=migrations.APP_ROLE, password=app_password
    )
    try:
        psycopg.connect(app_dsn, connect_timeout=10).close()
    except psycopg.OperationalError as exc:
        raise ServiceStartError(
            "PostgreSQL", f"apex_app cannot log in ({REDACTOR.redact(str(exc))})",
            "The role keeps the password it was created with: set APEX_APP_PASSWORD to it, or"
            " have an administrator reset it (ALTER ROLE apex_app PASSWORD ...).",
        ) from None
    client = raw.clickhouse()
    try:
        migrations.apply_clickhouse(client)
    except Exception as exc:
        raise ServiceStartError(
            "ClickHouse", f"schema could not be applied ({REDACTOR.redact(str(exc))})",
            "Check that the ClickHouse user may create tables.",
        ) from None
    finally:
        client.close()


def _versions(raw: RawServices) -> dict[str, str]:
    """Each service's version, asked of the service itself (which also proves it answers)."""
    import redis

    client = redis.Redis.from_url(raw.redis_url, socket_connect_timeout=5)
    try:
        versions = {"Redis": str(client.info("server")["redis_version"])}
    except redis.RedisError as exc:
        raise ServiceStartError(
            "Redis", f"it does not answer ({REDACTOR.redact(str(exc))})",
            "Check the Redis URL and that the server is up.",
        ) from None
    finally:
        client.close()
    with psycopg.connect(raw.postgres_admin_dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        versions["PostgreSQL"] = str(row[0]).split()[0] if row else "unknown"
    ch = raw.clickhouse()
    try:
        versions["ClickHouse"] = str(ch.server_version)
    finally:
        ch.close()
    return versions


def _secrets_of(raw: RawServices) -> list[str]:
    found = []
    for dsn in (raw.postgres_admin_dsn,):
        with contextlib.suppress(psycopg.ProgrammingError):
            password = conninfo_to_dict(dsn).get("password")
            if password:
                found.append(str(password))
    from urllib.parse import urlsplit

    password = urlsplit(raw.redis_url).password
    if password:
        found.append(password)
    return found
