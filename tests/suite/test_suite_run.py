"""The whole suite through behave, as an engineer or CI runs it, and what it leaves behind."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil
import pytest

from harness.waiting import eventually
from tests.behave_runner import REPO, read_results


@pytest.mark.slow
def test_the_whole_suite_passes_and_reports_every_scenario_once() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "behave", "-D", "services=embedded"],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-5000:]

    cases = []
    for report in (REPO / "reports" / "junit").glob("*.xml"):
        cases += ET.parse(report).getroot().iter("testcase")
    executed = [c for c in cases if c.find("skipped") is None]
    assert executed, "JUnit XML lists no executed scenario"
    assert all(c.find("failure") is None and c.find("error") is None for c in executed)

    results = read_results(REPO / "allure-results")
    keys = [(label_value(r, "feature"), r["name"]) for r in results]
    assert len(keys) == len(set(keys)), "a scenario was reported twice"
    assert len(results) == len(executed)
    assert {r["status"] for r in results} == {"passed"}
    assert all(label_value(r, "mrr") for r in results), "a result lacks its MRR label"

    summary = json.loads((REPO / "reports" / "revenue-summary.json").read_text())
    assert summary["mrr"]["at_risk"] == 0
    assert summary["mrr"]["protected"] == summary["mrr"]["total"] >= 347_000
    assert "Revenue summary" in output
    props = (REPO / "allure-results" / "environment.properties").read_text()
    assert "service.mode=embedded" in props

    # Secrets the run makes (tenants' provider keys, platform API keys, the scripted LLM's key)
    # have recognisable shapes; none may reach the console or any result or attachment.
    leaks = [f"console: {m}" for m in SECRET_SHAPES.findall(output)]
    for path in (REPO / "allure-results").iterdir():
        if path.is_file():
            leaks += [f"{path.name}: {m}" for m in SECRET_SHAPES.findall(path.read_text("latin-1"))]
    assert not leaks, leaks[:5]


#: What the suite's secrets look like: provider keys the tenant-configuration DSL stores,
#: gateway API keys (apex/gateway/api_keys.py), the scripted LLM server's key.
SECRET_SHAPES = re.compile(
    r"sk-proj-[A-Za-z0-9_-]{20,}|apex_[A-Za-z0-9_-]{43}|sk-scripted-[A-Za-z0-9_-]{16,}"
)


def label_value(result: dict, name: str) -> str | None:
    return next((lab["value"] for lab in result["labels"] if lab["name"] == name), None)


def start_behave(
    tmp_path: Path, console: str = "plain"
) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    """The suite's own features through behave in ``tmp_path``, its console read line by line."""
    for name in ("features", "steps", "environment.py"):
        (tmp_path / name).symlink_to(REPO / name)
    behave = subprocess.Popen(
        [sys.executable, "-m", "behave", "features", "-D", "services=embedded", "-f", console,
         "--no-junit", "-D", f"reports_dir={tmp_path / 'reports'}",
         "-D", f"allure_results={tmp_path / 'allure'}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    return behave, lines


def read_into(behave: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    threading.Thread(
        target=lambda: [lines.put(line) for line in behave.stdout or []], daemon=True
    ).start()


def wait_for_line(lines: queue.Queue[str], seen: list[str], wanted: str, count: int = 1) -> None:
    def appeared() -> None:
        while not lines.empty():
            seen.append(lines.get())
        assert sum(wanted in line for line in seen) >= count, seen[-5:]

    eventually(appeared, timeout=90, what=f"{count} line(s) with {wanted!r}")


def services_of(behave: subprocess.Popen[str]) -> tuple[list[psutil.Process], Path]:
    """The servers a run started (its children, and PostgreSQL's daemon) and their folder."""
    ours = psutil.Process(behave.pid).children(recursive=True)
    # redis-server rewrites its command line, but works in its --dir.
    root = next(Path(p.cwd()).parent for p in ours if "redis-server" in p.name())
    assert root.name.startswith("apex-services-"), root
    ours += [
        p for p in psutil.process_iter()
        if p.name() == "postgres" and any(str(root) in a for a in _cmdline(p))
    ]
    assert ours, "no server process found to watch"
    return ours, root


def assert_all_stopped(ours: list[psutil.Process], root: Path, why: str) -> None:
    alive = [p for p in ours if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"left running after {why}: {alive}"
    assert not root.exists(), f"left behind after {why}: {root}"


#: What a run may take to stop once told to (the platform processes, the embedded servers).
STOP_WITHIN = 10.0


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_stops_every_service_it_started(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    behave, lines = start_behave(tmp_path)
    read_into(behave, lines)
    try:
        wait_for_line(lines, [], "services:")
        ours, root = services_of(behave)
        behave.send_signal(stop_signal)
        behave.wait(timeout=60)
    finally:
        if behave.poll() is None:
            behave.kill()
            behave.wait()
    assert_all_stopped(ours, root, stop_signal.name)


@pytest.mark.slow
def test_a_run_stopped_mid_feature_stops_in_seconds_and_says_it_was_interrupted(
    tmp_path: Path,
) -> None:
    behave, lines = start_behave(tmp_path)
    read_into(behave, lines)
    seen: list[str] = []
    try:
        # the agent-run feature runs first: platform processes and model calls are in flight
        wait_for_line(lines, seen, "Scenario:", count=3)
        ours, root = services_of(behave)
        behave.send_signal(signal.SIGTERM)
        told = time.monotonic()
        behave.wait(timeout=60)
        took = time.monotonic() - told
    finally:
        if behave.poll() is None:
            behave.kill()
            behave.wait()
    assert_all_stopped(ours, root, "SIGTERM")
    assert took < STOP_WITHIN, f"took {took:.1f}s to stop"
    summary = json.loads((tmp_path / "reports" / "revenue-summary.json").read_text())
    assert summary["interrupted"] is True
    assert summary["mrr"]["at_risk"] == 0, summary
    assert summary["mrr"]["not_run"] == summary["mrr"]["total"] >= 747_000
    assert behave.returncode != 0


@pytest.mark.slow
def test_a_run_whose_reader_goes_away_stops_and_cleans_up(tmp_path: Path) -> None:
    # The README's entry point piped into a reader that stops early: once `head` has its lines,
    # the run must stop (and stop its services) instead of waiting forever.
    for name in ("features", "steps", "environment.py"):
        (tmp_path / name).symlink_to(REPO / name)
    (tmp_path / "tmp").mkdir()
    behave = (
        f"{sys.executable} -m behave features -D services=embedded --no-junit "
        f"-D reports_dir={tmp_path / 'reports'} -D allure_results={tmp_path / 'allure'}"
    )
    started = time.monotonic()
    completed = subprocess.run(
        ["bash", "-c", f"{behave} 2>&1 | grep -v '^\\s*$' | head -6"], cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path / "tmp")}, capture_output=True, text=True,
        timeout=120,
    )
    took = time.monotonic() - started
    assert len(completed.stdout.splitlines()) == 6, completed.stdout
    assert took < 60, f"the pipeline took {took:.0f}s"
    assert list((tmp_path / "tmp").glob("apex-services-*")) == [], "services left behind"


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def test_a_scenario_that_leaves_an_error_unexamined_fails(tmp_path: Path) -> None:
    (tmp_path / "steps").symlink_to(REPO / "steps")
    (tmp_path / "environment.py").symlink_to(REPO / "environment.py")
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "x.feature").write_text(
        "@phase1 @L3 @mrr:1\nFeature: X\n\n  Scenario: An error nobody looks at\n"
        "    Given Acme is on the free tier\n"
        '    When Acme asks to move to the "platinum" tier\n'
    )
    completed = subprocess.run(
        [sys.executable, "-m", "behave", "features", "-D", "services=embedded", "-f", "plain",
         "--no-junit", "-D", f"reports_dir={tmp_path / 'reports'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output
    assert "scenario left work unexamined: an error no Then examined: UnknownTier" in output
