"""The platform as processes, as the run's composition starts them: nothing before a feature
runs in the network assembly, then started healthy, stopped and reaped with nothing left behind;
a process that cannot start stops the start with its own words, and every later feature that
needs it gets the same answer."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

import psutil
import pytest

from harness.assembly import Assembly, RunComposition
from harness.errors import ServiceStartError
from harness.services import Services
from harness.services import platform_processes as processes
from harness.services.clock import PublishedClock
from harness.settings import SuiteSettings
from tests.sinks import queries_only

L3_FEATURE = ["phase1", "L3", "mrr:347000"]
L4_FEATURE = ["phase1", "L4", "mrr:200000"]


def composition(services: Services) -> RunComposition:
    clock = PublishedClock(datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
    settings = SuiteSettings.load({"services": "embedded"})
    return RunComposition(settings, services, clock, start_sink=queries_only)


def family(pid: int) -> list[psutil.Process]:
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_feature_in_process_starts_no_platform_process(services: Services) -> None:
    run = composition(services)
    try:
        drivers = run.drivers_for(L3_FEATURE, Assembly.IN_PROCESS)
        assert run.processes is None
        assert drivers.agent_runs is None and "agent runs" in drivers.missing
        assert drivers.tiers is not None and drivers.tenant_config is not None
    finally:
        run.close()


def test_the_processes_start_healthy_and_stop_leaving_nothing_behind(services: Services) -> None:
    run = composition(services)
    try:
        drivers = run.drivers_for(L4_FEATURE, Assembly.NETWORK)
        assert drivers.agent_runs is not None and drivers.tenant_config is None
        assert run.processes is not None
        children = list(run.processes.processes)
        modules = sorted(p.module for p in children)
        assert modules == ["apex.gateway"] * 2 + ["apex.orchestration"] * 2
        started = [proc for p in children for proc in family(p.popen.pid)]
        ports = [p.port for p in children]
        assert all(port_open(port) for port in ports)
        for child in children:  # each leads its own process group
            assert os.getpgid(child.popen.pid) == child.popen.pid
    finally:
        run.close()
    _gone, alive = psutil.wait_procs(started, timeout=5)
    assert not alive, f"left running: {alive}"
    assert all(child.popen.returncode is not None for child in children), "not reaped"
    assert not any(port_open(port) for port in ports)
    run.close()  # a second close is harmless


def test_a_process_that_cannot_start_stops_the_start_and_says_why(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_environment = processes.PlatformSettings.as_environment

    def below_what_the_platform_accepts(settings: processes.PlatformSettings) -> dict[str, str]:
        return {**as_environment(settings), "APEX_PLATFORM_MAX_MESSAGE_BYTES": "1"}

    monkeypatch.setattr(
        processes.PlatformSettings, "as_environment", below_what_the_platform_accepts
    )
    run = composition(services)
    try:
        with pytest.raises(ServiceStartError) as raised:
            run.drivers_for(L4_FEATURE, Assembly.NETWORK)
        assert "exited with code" in str(raised.value)
        assert "APEX_PLATFORM_MAX_MESSAGE_BYTES" in str(raised.value)
        with pytest.raises(ServiceStartError):  # the next L4 feature gets the same answer
            run.drivers_for(L4_FEATURE, Assembly.NETWORK)
        assert run.processes is not None
        pids = [p.popen.pid for p in run.processes.processes]
    finally:
        run.close()
    assert not [pid for pid in pids if psutil.pid_exists(pid)]
