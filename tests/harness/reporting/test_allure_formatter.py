"""The Allure formatter against fixture features holding every construct behave 1.3 runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.behave_runner import FORMATTER, REPO, BehaveRun, run_behave

FIXTURES = REPO / "tests" / "fixtures" / "formatter" / "features"

# name -> (status, number of steps, story or None, start of the failure message or None)
EXPECTED = {
    "Plain scenario": ("passed", 3, None, None),
    "Outline row 1 -- @1.1 Two rows": ("passed", 3, None, None),
    "Outline row 2 -- @1.2 Two rows": ("passed", 3, None, None),
    "Scenario inside a rule with a table": ("passed", 4, "Rules get results too", None),
    "Scenario inside a rule with a docstring and an attachment": (
        "passed", 5, "Rules get results too", None,
    ),
    "Failing scenario inside a rule": (
        "failed", 5, "Rules get results too", "expected 10 admitted",
    ),
    "Erroring step": (
        "broken", 2, "Errors are broken, not failed", "RuntimeError: the quota store",
    ),
    "before_scenario fails here": ("broken", 1, None, "HOOK-ERROR in before_scenario"),
    "after_scenario fails here": ("broken", 1, None, "HOOK-ERROR in after_scenario"),
    "Unaffected scenario": ("passed", 1, None, None),
    "Never runs one": ("broken", 0, None, "HOOK-ERROR in before_feature"),
    "Never runs two": ("broken", 0, "A rule that never runs", "HOOK-ERROR in before_feature"),
}


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory: pytest.TempPathFactory) -> BehaveRun:
    work = tmp_path_factory.mktemp("formatter")
    results = work / "results"
    # Run outside the repo so its [tool.behave] config (and allure-results/) stay out of it.
    return run_behave(
        [str(FIXTURES), "-f", FORMATTER, "-o", str(results), "-f", "null", "--no-junit"],
        cwd=work, results_dir=results,
    )


def labels(result: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for label in result["labels"]:
        found.setdefault(label["name"], []).append(label["value"])
    return found


def test_every_scenario_has_exactly_one_result(fixture_run: BehaveRun) -> None:
    assert sorted(fixture_run.by_name()) == sorted(EXPECTED), fixture_run.output


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_result_has_the_right_status_steps_and_story(
    fixture_run: BehaveRun, name: str
) -> None:
    status, steps, story, message = EXPECTED[name]
    result = fixture_run.by_name()[name]
    assert result["status"] == status
    assert len(result.get("steps", [])) == steps, [s["name"] for s in result.get("steps", [])]
    assert labels(result).get("story") == ([story] if story else None)
    if message:
        assert result["statusDetails"]["message"].startswith(message)


def test_rule_steps_do_not_leak_into_the_next_test(fixture_run: BehaveRun) -> None:
    for result in fixture_run.results:
        names = [step["name"] for step in result.get("steps", [])]
        assert len(names) == len(set(names)) or result["name"].startswith("Outline"), names


def test_labels_carry_phase_severity_and_mrr(fixture_run: BehaveRun) -> None:
    result = fixture_run.by_name()["Plain scenario"]
    found = labels(result)
    assert found["epic"] == ["Phase 2: Delivery and agent safety"]
    assert found["severity"] == ["critical"]
    assert found["mrr"] == ["$150,000"]
    # The tree's feature row: the capability, its MRR in dollars, its verdict (a scenario of
    # it fails, so the whole feature is at risk, this passing scenario's result included).
    assert found["feature"] == ["Formatter shapes · $150,000 MRR · at risk"]
    assert {"name": "MRR at stake", "value": "$150,000", "excluded": True} in result["parameters"]


def test_dynamic_labels_and_parameters_reach_the_result(fixture_run: BehaveRun) -> None:
    result = fixture_run.by_name()["Scenario inside a rule with a docstring and an attachment"]
    assert labels(result)["owner"] == ["billing-team"]
    assert {"name": "tenant", "value": "acme-1"} in [
        {k: p[k] for k in ("name", "value")} for p in result["parameters"]
    ]


def test_attachments_under_a_rule_are_written_with_secrets_masked(
    fixture_run: BehaveRun,
) -> None:
    attachments = list(fixture_run.results_dir.glob("*-attachment.json"))
    assert len(attachments) == 1
    assert "postgresql://app:***@db/apex" in attachments[0].read_text()
    for path in fixture_run.results_dir.iterdir():
        assert "hunter2-secret-value" not in path.read_text(errors="replace"), path.name


def test_results_of_an_earlier_run_are_removed_and_history_kept(tmp_path: Path) -> None:
    results = tmp_path / "results"
    (results / "history").mkdir(parents=True)
    (results / "history" / "history.json").write_text("{}")
    (results / "stale-result.json").write_text("{}")
    run_behave(
        [str(FIXTURES / "hooks.feature"), "-f", FORMATTER, "-o", str(results), "-f", "null",
         "--no-junit"],
        cwd=tmp_path, results_dir=results,
    )
    assert not (results / "stale-result.json").exists()
    assert (results / "history" / "history.json").exists()
    assert len(list(results.glob("*-result.json"))) == 3


def test_a_second_formatter_instance_is_refused_and_the_folder_moves_with_userdata(
    tmp_path: Path,
) -> None:
    """Two instances would register two allure listeners and corrupt both outputs; the one way
    to move the results is ``-D allure_results=<folder>``."""
    feature = str(FIXTURES / "hooks.feature")
    twice = run_behave(
        [feature, "-f", FORMATTER, "-o", str(tmp_path / "a"), "-f", FORMATTER, "-o",
         str(tmp_path / "b"), "--no-junit"],
        cwd=tmp_path, results_dir=tmp_path / "a",
    )
    assert twice.returncode != 0
    assert "formatter is already active" in twice.output
    assert "-D allure_results=<folder>" in twice.output

    moved = tmp_path / "moved"
    run = run_behave(
        [feature, "-f", FORMATTER, "-o", str(tmp_path / "ignored"), "-f", "null", "--no-junit",
         "-D", f"allure_results={moved}"],
        cwd=tmp_path, results_dir=moved,
    )
    assert len(run.results) == 3, run.output
    assert not (tmp_path / "ignored").exists()
