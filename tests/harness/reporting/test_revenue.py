"""The revenue summary: MRR protected, at risk and not run, per phase."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from harness.reporting.revenue import RevenueSummary, Verdict, judge
from harness.reporting.tags import classify


def feature(name: str, *statuses: str, hook_failed: bool = False) -> SimpleNamespace:
    scenarios = [SimpleNamespace(status=status) for status in statuses]
    return SimpleNamespace(
        name=name, filename=f"features/{name}.feature", hook_failed=hook_failed,
        walk_scenarios=lambda: scenarios,
    )


def test_a_feature_is_protected_only_when_its_scenarios_passed() -> None:
    assert judge(feature("a", "passed", "passed"))[0] is Verdict.PROTECTED
    assert judge(feature("b", "passed", "skipped"))[0] is Verdict.PROTECTED
    assert judge(feature("c", "passed", "failed"))[0] is Verdict.AT_RISK
    assert judge(feature("d", "passed", "error"))[0] is Verdict.AT_RISK
    assert judge(feature("e", "passed", "hook_error"))[0] is Verdict.AT_RISK
    assert judge(feature("f", "passed", hook_failed=True))[0] is Verdict.AT_RISK
    assert judge(feature("g", "skipped", "untested"))[0] is Verdict.NOT_RUN


def test_totals_per_phase_and_overall(tmp_path: Path) -> None:
    summary = RevenueSummary()
    summary.record(feature("tiers", "passed"), classify(["phase1", "L3", "mrr:347000"], "t"))
    summary.record(feature("isolation", "failed"), classify(["phase1", "L3", "mrr:200000"], "i"))
    summary.record(feature("dlq", "skipped"), classify(["phase3", "L3", "mrr:75000"], "d"))
    data = summary.to_dict()
    assert data["mrr"] == {"protected": 347000, "at_risk": 200000, "not_run": 75000,
                           "total": 622000}
    assert data["phases"]["phase1"]["at_risk"] == 200000
    assert data["phases"]["phase3"]["not_run"] == 75000
    assert "phase2" not in data["phases"]

    summary.write(tmp_path / "summary.json")
    assert json.loads((tmp_path / "summary.json").read_text()) == data
    text = summary.render_text()
    assert "AT RISK: isolation ($200,000): 1 scenario(s) failed" in text
    assert "$347,000" in text
    markdown = summary.render_markdown()
    assert "**MRR at risk:** $200,000" in markdown
    assert "| isolation | phase1 | $200,000 | at risk | 0 | 1 |" in markdown


def interrupted_scenario(message: str | None) -> SimpleNamespace:
    return SimpleNamespace(status="error", error_message=message, steps=[])


def test_in_an_interrupted_run_the_scenario_cut_short_is_not_a_failure() -> None:
    cut = feature("a", "passed")
    cut.walk_scenarios = lambda: [
        SimpleNamespace(status="passed"), interrupted_scenario("ABORTED (KeyboardInterrupt)")
    ]
    assert judge(cut, interrupted=True) == (Verdict.NOT_RUN, 1, 0)
    in_a_hook = feature("b")
    in_a_hook.walk_scenarios = lambda: [SimpleNamespace(status="hook_error", steps=[])]
    assert judge(in_a_hook, interrupted=True)[0] is Verdict.NOT_RUN
    failed_before = feature("c", "failed")
    assert judge(failed_before, interrupted=True) == (Verdict.AT_RISK, 0, 1)
    broken = feature("d")
    broken.walk_scenarios = lambda: [interrupted_scenario("ZeroDivisionError")]
    assert judge(broken, interrupted=True)[0] is Verdict.AT_RISK


def test_an_interrupted_run_says_so_and_counts_what_it_did_not_finish_as_not_run() -> None:
    summary = RevenueSummary(interrupted=True)
    tags = classify(["phase1", "L4", "mrr:200000"], "a")
    summary.record(feature("agent runs", "passed"), tags, interrupted=True)
    summary.record_not_run("tiers", Path("features/tiers.feature"),
                           classify(["phase1", "L3", "mrr:347000"], "t"))
    assert summary.to_dict()["mrr"] == {"protected": 0, "at_risk": 0, "not_run": 547000,
                                        "total": 547000}
    text = summary.render_text()
    assert "INTERRUPTED" in text.splitlines()[0]
    assert "INTERRUPTED: agent runs ($200,000): stopped after 1 scenario(s) passed" in text
    assert "AT RISK" not in text
    assert summary.render_markdown().startswith("**The run was interrupted.**")
