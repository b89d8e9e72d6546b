"""The Allure results of a deliberately failing feature (``tests/fixtures/report``), as a reviewer
reads them: the feature named with its MRR in dollars and its verdict, a failure message in the
feature's words with the request ids, the objects in the failing step's attachment, and every
business step around a failed one failed too."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from allure_commons import model2
from allure_commons.model2 import Status, StatusDetails

from harness.reporting.allure_formatter import fail_parents_of_failed_steps
from tests.behave_runner import FORMATTER, REPO, BehaveRun, run_behave

FIXTURE = REPO / "tests" / "fixtures" / "report"
FAILING = "The free tier is expected to admit a request beyond its quota"
HEADING = "Report self-test: a capability that loses revenue · $150,000 MRR · at risk"


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> BehaveRun:
    work = tmp_path_factory.mktemp("failing-feature")
    results = work / "results"
    return run_behave(
        [str(FIXTURE), "-f", FORMATTER, "-o", str(results), "-f", "null", "--no-junit",
         "-D", "services=embedded", "-D", f"reports_dir={work / 'reports'}"],
        cwd=work, results_dir=results,
    )


@pytest.fixture(scope="module")
def result(failed_run: BehaveRun) -> dict[str, Any]:
    assert failed_run.returncode == 1, failed_run.output[-3000:]
    return failed_run.by_name()[FAILING]


def labels(result: dict[str, Any], name: str) -> list[str]:
    return [label["value"] for label in result["labels"] if label["name"] == name]


def steps_named(steps: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    found = [s for s in steps if s["name"] == name]
    for step in steps:
        found += steps_named(step.get("steps", []), name)
    return found


def walk(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [step for s in steps for step in (s, *walk(s.get("steps", [])))]


def test_the_feature_is_named_with_its_mrr_in_dollars_and_its_verdict(
    result: dict[str, Any],
) -> None:
    assert labels(result, "feature") == [HEADING]
    assert labels(result, "suite") == [HEADING]
    assert labels(result, "mrr") == ["$150,000"]
    assert labels(result, "epic") == ["Phase 2: Delivery and agent safety"]


def test_the_failure_says_what_was_expected_and_what_happened_with_the_request_ids(
    result: dict[str, Any], failed_run: BehaveRun
) -> None:
    message = result["statusDetails"]["message"]
    assert re.fullmatch(
        r"expected 2 requests admitted, 1 were: "
        r"request 1: (\S+) was admitted; "
        r"request 2: (\S+) was refused \(the monthly quota is used\)\s*",
        message,
    ), message
    messages = [s["statusDetails"]["message"] for s in walk(result["steps"])
                if s.get("statusDetails")]
    assert messages and all(m.startswith("expected 2 requests admitted") for m in messages)
    # The objects are in the failing step's attachment, not in the message.
    (failing,) = steps_named(result["steps"], "2 requests are admitted")
    (attached,) = failing["attachments"]
    everywhere = [a for s in walk(result["steps"]) for a in s.get("attachments", [])]
    assert everywhere == [attached], "the evidence is attached once, by the failed check"
    seen = json.loads((failed_run.results_dir / attached["source"]).read_text())
    request_ids = re.findall(r"request \d: (\S+) was", message)
    assert [r["request_id"] for r in seen["results"]] == request_ids
    assert [r["admitted"] for r in seen["results"]] == [True, False]


def test_a_business_step_around_a_failed_one_is_failed(result: dict[str, Any]) -> None:
    (then,) = steps_named(result["steps"], "Then all 2 requests are admitted")
    (outer,) = steps_named(then["steps"], "all 2 requests are admitted")
    assert outer["status"] == "failed"
    assert [(s["name"], s["status"]) for s in outer["steps"]] == [
        ("2 requests are admitted", "failed")
    ]


def test_no_step_is_shown_passed_around_a_failed_or_broken_one() -> None:
    inner = model2.TestStepResult(name="5 requests are refused", status=Status.FAILED,
                           statusDetails=StatusDetails(message="expected 5 refused"))
    middle = model2.TestStepResult(name="each check", status=Status.PASSED, steps=[inner])
    outer = model2.TestStepResult(name="all 5 requests are refused", status=Status.PASSED,
                           steps=[middle])
    calm = model2.TestStepResult(name="Acme makes 5 requests", status=Status.PASSED)
    assert fail_parents_of_failed_steps([calm, outer]) == Status.FAILED
    assert (outer.status, middle.status, calm.status) == (
        Status.FAILED, Status.FAILED, Status.PASSED
    )
    assert outer.statusDetails.message == "expected 5 refused"


def test_results_are_written_once_per_scenario(failed_run: BehaveRun) -> None:
    assert [r["name"] for r in failed_run.results] == [FAILING]


INTERRUPTED_FEATURE = """@phase2 @L3 @mrr:150000 @fixture
Feature: Interrupted capability

  Scenario: Finished before the interruption
    Given a step that passes

  Scenario: Cut short
    Given the run is interrupted here

  Scenario: Never reached
    Given a step that passes
"""
INTERRUPTING_STEPS = """import os, signal
from behave import given

@given("a step that passes")
def passes(context):
    pass

@given("the run is interrupted here")
def interrupted(context):
    os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would
"""


def test_an_interrupted_feature_still_writes_its_results_labelled_not_run(
    tmp_path: Path,
) -> None:
    (tmp_path / "features" / "steps").mkdir(parents=True)
    (tmp_path / "features" / "interrupted.feature").write_text(INTERRUPTED_FEATURE)
    (tmp_path / "features" / "steps" / "steps.py").write_text(INTERRUPTING_STEPS)
    run = run_behave(
        [str(tmp_path / "features"), "-f", FORMATTER, "-o", str(tmp_path / "results"),
         "-f", "null", "--no-junit"],
        cwd=tmp_path, results_dir=tmp_path / "results",
    )
    assert "ABORTED" in run.output, run.output
    written = run.by_name()
    assert written["Finished before the interruption"]["status"] == "passed", run.output
    for result in written.values():
        assert labels(result, "feature") == [
            "Interrupted capability · $150,000 MRR · not run"
        ], run.output
