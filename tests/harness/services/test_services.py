"""Service modes: embedded servers start, answer and leave nothing; the docker path fails fast
and clearly without an engine; external mode reaches whatever the environment names."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from harness.errors import ServiceStartError
from harness.services import Services, resolve_mode, start_services
from harness.services.probe import docker_available
from harness.settings import ServiceMode, SuiteSettings


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def our_server_processes(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if marker in cmdline and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def test_embedded_services_answer_then_leave_no_process_or_directory() -> None:
    settings = SuiteSettings.load({"services": "embedded"})
    with start_services(settings) as services:
        assert services.mode is ServiceMode.EMBEDDED
        assert redis.Redis.from_url(services.redis_url).ping()
        with psycopg.connect(services.postgres.app_dsn) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("apex_app",)
        client = services.clickhouse()
        # chDB is one engine per process: other tests of this process may have written rows
        [(rows,)] = client.query("SELECT count() FROM usage_events").result_rows
        assert isinstance(rows, int)
        assert set(services.versions) == {"Redis", "PostgreSQL", "ClickHouse"}
        pg_dir = Path(str(psycopg.conninfo.conninfo_to_dict(services.postgres.admin_dsn)["host"]))
        root = pg_dir.parent
        assert root.name.startswith("apex-services-")
        assert our_server_processes(str(root)), "the servers should be running now"
    assert not root.exists(), "the temporary data directory was left behind"
    assert our_server_processes(str(root)) == []
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(services.redis_url, socket_connect_timeout=0.5).ping()


def test_the_platform_role_owns_nothing_and_cannot_bypass_row_security(
    services: Services,
) -> None:
    with psycopg.connect(services.postgres.app_dsn) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles"
            " WHERE rolname = current_user"
        ).fetchone()
        owned = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tableowner = current_user"
        ).fetchone()
    assert row == (False, False, False)
    assert owned == (0,)


def test_auto_picks_embedded_when_no_docker_engine_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{closed_port()}")
    started = time.monotonic()
    assert not docker_available(timeout=1.0)
    assert resolve_mode(SuiteSettings.load({"docker_probe_timeout": "1"})) is ServiceMode.EMBEDDED
    assert time.monotonic() - started < 5


def test_docker_mode_without_an_engine_stops_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{closed_port()}")
    with (
        pytest.raises(ServiceStartError) as raised,
        start_services(SuiteSettings.load({"services": "docker"})),
    ):
        pass
    message = str(raised.value)
    assert message.startswith("Redis did not start: its container did not start")
    assert "-D services=embedded" in message


def test_external_mode_names_the_missing_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("APEX_REDIS_URL", "APEX_POSTGRES_DSN", "APEX_CLICKHOUSE_URL"):
        monkeypatch.delenv(name, raising=False)
    with (
        pytest.raises(
            ServiceStartError, match="APEX_REDIS_URL, APEX_POSTGRES_DSN, APEX_CLICKHOUSE_URL"
        ),
        start_services(SuiteSettings.load({"services": "external"})),
    ):
        pass


def test_external_mode_runs_on_services_named_by_the_environment(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APEX_REDIS_URL", services.redis_url)
    monkeypatch.setenv("APEX_POSTGRES_DSN", services.postgres.admin_dsn)
    monkeypatch.setenv("APEX_CLICKHOUSE_URL", "chdb://memory")
    monkeypatch.setenv("APEX_APP_PASSWORD", services.postgres.app_password)
    with start_services(SuiteSettings.load({"services": "external"})) as external:
        assert external.mode is ServiceMode.EXTERNAL
        assert external.redis_url == services.redis_url
        assert external.postgres.app_dsn == services.postgres.app_dsn
        with psycopg.connect(external.postgres.app_dsn) as conn:
            assert conn.execute("SELECT count(*) >= 0 FROM billing_events").fetchone() == (True,)


def test_external_mode_without_the_app_roles_password_stops_naming_the_setting(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """apex_app keeps the password it was created with (another run may be connected as it):
    a run on a server it did not start must be told that password, never reset it."""
    monkeypatch.setenv("APEX_REDIS_URL", services.redis_url)
    monkeypatch.setenv("APEX_POSTGRES_DSN", services.postgres.admin_dsn)
    monkeypatch.setenv("APEX_CLICKHOUSE_URL", "chdb://memory")
    monkeypatch.delenv("APEX_APP_PASSWORD", raising=False)
    with (
        pytest.raises(ServiceStartError, match="APEX_APP_PASSWORD is not set"),
        start_services(SuiteSettings.load({"services": "external"})),
    ):
        pass


def test_an_unreachable_external_database_stops_the_run_without_leaking_its_password(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APEX_REDIS_URL", services.redis_url)
    monkeypatch.setenv(
        "APEX_POSTGRES_DSN",
        f"postgresql://admin:s3cret-Pa55word@127.0.0.1:{closed_port()}/apex?connect_timeout=2",
    )
    monkeypatch.setenv("APEX_CLICKHOUSE_URL", "chdb://memory")
    with (
        pytest.raises(ServiceStartError) as raised,
        start_services(SuiteSettings.load({"services": "external"})),
    ):
        pass
    assert str(raised.value).startswith("PostgreSQL did not start")
    assert "s3cret-Pa55word" not in str(raised.value)


def test_bad_settings_are_refused_before_anything_starts() -> None:
    from harness.errors import SettingsError

    with pytest.raises(SettingsError, match="services"):
        SuiteSettings.load({"services": "kubernetes"})
    with pytest.raises(SettingsError, match="eventually_timeout"):
        SuiteSettings.load({"eventually_timeout": "-1"})
    with pytest.raises(SettingsError, match="servises"):
        SuiteSettings.load({"servises": "embedded"})


def test_an_unreachable_external_redis_stops_the_run_naming_redis(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APEX_REDIS_URL", f"redis://:r3dis-Pa55word@127.0.0.1:{closed_port()}/0")
    monkeypatch.setenv("APEX_POSTGRES_DSN", services.postgres.admin_dsn)
    monkeypatch.setenv("APEX_CLICKHOUSE_URL", "chdb://memory")
    monkeypatch.setenv("APEX_APP_PASSWORD", services.postgres.app_password)
    with (
        pytest.raises(ServiceStartError) as raised,
        start_services(SuiteSettings.load({"services": "external"})),
    ):
        pass
    assert str(raised.value).startswith("Redis did not start: it does not answer")
    assert "r3dis-Pa55word" not in str(raised.value)

