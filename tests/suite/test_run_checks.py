"""What a run checks before anything starts, and what every way of selecting scenarios gets:
the same checks, the same revenue summary over the whole suite, the real duration."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.behave_runner import REPO

TIERS = "features/phase1/subscription_tier_enforcement.feature"
AGENT_RUNS = "features/phase1/agent_orchestration_revenue_path.feature"


def behave(
    *args: str, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = 180
) -> tuple[int, str]:
    completed = subprocess.run(
        [sys.executable, "-m", "behave", "--no-junit", *args], cwd=cwd,
        capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    return completed.returncode, completed.stdout + completed.stderr


def stale_summary(reports: Path) -> Path:
    summary = reports / "revenue-summary.json"
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text('{"from": "an earlier run"}')
    return summary


def assert_stopped_before_anything_ran(code: int, output: str) -> None:
    assert code == 2, output
    assert "\nservices: " not in output, output
    assert "ABORTED" not in output, output
    assert not re.search(r"\d+ (features?|rules?|scenarios?) passed", output), output


def test_a_misspelt_setting_stops_the_run_with_only_a_suggestion(tmp_path: Path) -> None:
    summary = stale_summary(tmp_path)
    code, output = behave("-D", "servces=embedded", "-D", f"reports_dir={tmp_path}")
    assert_stopped_before_anything_ran(code, output)
    assert "unknown suite setting servces: did you mean services?" in output
    assert not summary.exists(), "an earlier run's summary survived"


def test_a_bad_setting_in_the_environment_is_not_hidden_by_the_configuration_file() -> None:
    code, output = behave(env={"APEX_SERVICES": "nonsense"})
    assert_stopped_before_anything_ran(code, output)
    assert "services: Input should be 'auto', 'docker', 'embedded' or 'external'" in output


@pytest.mark.parametrize(
    ("tags", "says"),
    [
        ("@nonexistent", "--tags '@nonexistent' selects no scenario"),
        ("~@L4", "'~@x' is the v1 form of 'not @x'"),
    ],
)
def test_a_tag_selection_that_selects_nothing_is_an_error(
    tmp_path: Path, tags: str, says: str
) -> None:
    summary = stale_summary(tmp_path)
    code, output = behave("--tags", tags, "-D", f"reports_dir={tmp_path}")
    assert_stopped_before_anything_ran(code, output)
    assert says in output
    assert not summary.exists(), "an earlier run's summary survived"


def test_a_worker_of_a_parallel_run_may_get_nothing(tmp_path: Path) -> None:
    code, output = behave(
        "--tags", "@nonexistent", "-f", "plain", "-D", "services=embedded",
        "-D", f"reports_dir={tmp_path}", "-D", f"allure_results={tmp_path / 'allure'}",
        env={"APEX_ALLOW_EMPTY_RUN": "1"},
    )
    assert code == 0, output
    assert "note: --tags '@nonexistent' selects no scenario" in output
    summary = json.loads((tmp_path / "revenue-summary.json").read_text())
    assert summary["mrr"]["not_run"] == summary["mrr"]["total"] >= 747_000


def test_a_selection_by_line_gets_the_tag_vocabulary_check(tmp_path: Path) -> None:
    for name in ("steps", "environment.py"):
        (tmp_path / name).symlink_to(REPO / name)
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "x.feature").write_text(
        "@phase1 @L3 @mrr:1 @flaky\nFeature: X\n\n"
        "  Scenario: S\n    Given Acme is on the free tier\n"
    )
    code, output = behave(
        "features/x.feature:4", "-D", "services=embedded", "-D", f"reports_dir={tmp_path}",
        cwd=tmp_path,
    )
    assert_stopped_before_anything_ran(code, output)
    assert "unknown tag(s) @flaky" in output


def test_a_selection_by_line_gets_the_whole_suite_summary_header_once_and_its_duration(
    tmp_path: Path,
) -> None:
    summary = stale_summary(tmp_path)
    code, output = behave(
        f"{AGENT_RUNS}:28", "-f", "apex_pretty", "-D", "services=embedded",
        "-D", f"reports_dir={tmp_path}", "-D", f"allure_results={tmp_path / 'allure'}",
    )
    assert code == 0, output[-3000:]
    assert output.count("Feature: Agent orchestration revenue path") == 1, output[:3000]
    assert "Took 0min 0.000s" not in output
    assert re.search(r"Took 0min [1-9]\d*\.\d{3}s", output), output[-500:]
    data = json.loads(summary.read_text())
    assert data["mrr"] == {
        "protected": 200_000, "at_risk": 0, "not_run": 722_000, "total": 922_000
    }
    assert len(data["features"]) == 5


def test_a_tag_selection_counts_the_features_it_left_out_as_not_run(tmp_path: Path) -> None:
    code, output = behave(
        "--tags", "not @L4", "--name", "An upgrade lifts the quota at once", "-f", "plain",
        "-D", "services=embedded", "-D", f"reports_dir={tmp_path}",
        "-D", f"allure_results={tmp_path / 'allure'}",
    )
    assert code == 0, output[-3000:]
    data = json.loads((tmp_path / "revenue-summary.json").read_text())
    not_run = {f["feature"]: f["mrr"] for f in data["features"] if f["verdict"] == "not_run"}
    assert not_run["Agent orchestration revenue path"] == 200_000
    assert data["mrr"]["total"] == 922_000


def test_the_console_formatter_is_the_one_that_prints_each_header_once() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["behave"]
    assert config["default_format"] == "apex_pretty"
    assert config["formatters"]["apex_pretty"].endswith(":ApexPrettyFormatter")


def test_a_run_that_executed_nothing_fails(tmp_path: Path) -> None:
    # Selected, but skipped: tenant configuration has no network driver.
    code, output = behave(
        "features/phase1/tenant_config_isolation.feature", "-f", "plain",
        "-D", "services=embedded", "-D", "assembly=network", "-D", f"reports_dir={tmp_path}",
        "-D", f"allure_results={tmp_path / 'allure'}",
    )
    assert code != 0, output[-3000:]
    assert "no scenario ran: a run that executes nothing is not a pass" in output
    assert json.loads((tmp_path / "revenue-summary.json").read_text())["mrr"]["protected"] == 0
