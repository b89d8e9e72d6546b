"""Docker mode: Redis 7, PostgreSQL 16 and ClickHouse in containers through testcontainers.

Used only after ``probe.docker_available()`` said an engine answers (constructing a container
object already contacts the engine). Images are pinned; Ryuk removes the containers if this
process dies without stopping them. The Redis container is the run's to break: fault scenarios
restart and pause it through :class:`~harness.services.docker_redis.ContainerRedis`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from harness.errors import ServiceStartError
from harness.services import RawServices
from harness.services.children import free_port

REDIS_IMAGE = "redis:7.4.2-alpine"
POSTGRES_IMAGE = "postgres:16.6-alpine"
CLICKHOUSE_IMAGE = "clickhouse/clickhouse-server:24.8.14.39"
CLICKHOUSE_USER = "apex"
#: Redis as the embedded server runs: a dump written only when told to (``SHUTDOWN SAVE``), no
#: append-only file, which a restart would load instead of the dump a fault scenario put there.
REDIS_COMMAND = ["redis-server", "--save", "", "--appendonly", "no"]


@contextlib.contextmanager
def docker_services() -> Iterator[RawServices]:
    try:
        from testcontainers.community.clickhouse import ClickHouseContainer
        from testcontainers.community.postgres import PostgresContainer
        from testcontainers.community.redis import RedisContainer

        from harness.services.docker_redis import ContainerRedis  # the Docker SDK's errors
    except ImportError as exc:
        raise ServiceStartError(
            "Docker services", f"testcontainers is missing ({exc.name})",
            "Run ./run suite to install requirements, or use -D services=embedded.",
        ) from None
    with contextlib.ExitStack() as stack:
        # Its host port is fixed before its first start, so Docker binds the same one at every
        # start: a restarted store keeps the address the platform's processes were given.
        redis_c = _start(
            stack, "Redis",
            lambda: RedisContainer(REDIS_IMAGE)
            .with_bind_ports(6379, free_port())
            .with_command(REDIS_COMMAND),
        )
        url = redis_url(redis_c)
        control = ContainerRedis(
            redis_c.get_wrapped_container(), url, lambda: redis_url(redis_c)
        )
        stack.callback(control.close)
        pg_c = _start(
            stack, "PostgreSQL",
            lambda: PostgresContainer(POSTGRES_IMAGE, username="apex", dbname="apex", driver=None),
        )
        ch_c = _start(
            stack, "ClickHouse",
            lambda: ClickHouseContainer(CLICKHOUSE_IMAGE, username=CLICKHOUSE_USER),
        )
        yield RawServices(
            redis_url=url,
            postgres_admin_dsn=pg_c.get_connection_url(driver=None),
            clickhouse=clickhouse_factory(ch_c),
            redis_control=control,
        )


def redis_url(container: Any) -> str:
    host = container.get_container_host_ip()
    port = container.get_exposed_port(6379)
    return f"redis://{host}:{port}/0"


def clickhouse_factory(container: Any) -> Any:
    host = container.get_container_host_ip()
    port = int(container.get_exposed_port(8123))
    password = container.password

    def factory() -> Any:
        import clickhouse_connect

        return clickhouse_connect.get_client(
            host=host, port=port, username=CLICKHOUSE_USER, password=password
        )

    return factory


def _start(stack: contextlib.ExitStack, name: str, build: Any) -> Any:
    try:
        container = build()
        container.start()
    except Exception as exc:
        raise ServiceStartError(
            name, f"its container did not start ({type(exc).__name__}: {exc})",
            "Check `docker info`, pull the pinned image, or use -D services=embedded.",
        ) from None
    stack.callback(container.stop)
    return container
