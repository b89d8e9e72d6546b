"""The platform as processes: started healthy, stopped and reaped with nothing left behind,
and a process that cannot start stops the start with its own words."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

import psutil
import pytest

from apex.analytics import AnalyticsQueries, ClickHouseGateway
from harness.drivers.published_clock import PublishedClock
from harness.errors import ServiceStartError
from harness.services import Services
from harness.services import platform_processes as processes
from harness.services.platform_processes import L4Platform
from harness.settings import SuiteSettings


@pytest.fixture(scope="module")
def analytics(services: Services) -> AnalyticsQueries:
    # Queries only, no sink: the shared in-process ClickHouse is left as other tests expect.
    return AnalyticsQueries(ClickHouseGateway(services.clickhouse))


def l4(services: Services, analytics: AnalyticsQueries) -> L4Platform:
    clock = PublishedClock(datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
    settings = SuiteSettings.load({"services": "embedded"})
    return L4Platform(settings, services, clock, analytics)


def family(pid: int) -> list[psutil.Process]:
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_nothing_starts_until_an_l4_feature_needs_it(
    services: Services, analytics: AnalyticsQueries
) -> None:
    platform = l4(services, analytics)
    platform.start_for(["phase1", "L3", "mrr:347000"])
    assert platform.system is None and platform.processes == []
    platform.close()


def test_the_processes_start_healthy_and_stop_leaving_nothing_behind(
    services: Services, analytics: AnalyticsQueries
) -> None:
    platform = l4(services, analytics)
    try:
        platform.start_for(["phase1", "L4", "mrr:200000"])
        assert platform.system is not None
        assert platform.startup_seconds is not None and platform.startup_seconds < 30
        modules = sorted(p.module for p in platform.processes)
        assert modules == ["apex.gateway"] * 2 + ["apex.orchestration"] * 2
        children = list(platform.processes)
        started = [proc for p in children for proc in family(p.popen.pid)]
        ports = [p.port for p in children]
        assert all(port_open(port) for port in ports)
        for child in children:  # each leads its own process group
            assert os.getpgid(child.popen.pid) == child.popen.pid
    finally:
        platform.close()
    _gone, alive = psutil.wait_procs(started, timeout=5)
    assert not alive, f"left running: {alive}"
    assert all(child.popen.returncode is not None for child in children), "not reaped"
    assert not any(port_open(port) for port in ports)
    platform.close()  # a second close is harmless


def test_a_process_that_cannot_start_stops_the_start_and_says_why(
    services: Services, analytics: AnalyticsQueries, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processes, "MAX_MESSAGE_BYTES", 1)  # below what the platform accepts
    platform = l4(services, analytics)
    try:
        with pytest.raises(ServiceStartError) as raised:
            platform.start_for(["L4"])
        assert "exited with code" in str(raised.value)
        assert "APEX_PLATFORM_MAX_MESSAGE_BYTES" in str(raised.value)
        with pytest.raises(ServiceStartError):  # the next L4 feature gets the same answer
            platform.start_for(["L4"])
        pids = [p.popen.pid for p in platform.processes]
    finally:
        platform.close()
    assert not [pid for pid in pids if psutil.pid_exists(pid)]
