"""The run's revenue summary: MRR protected by passing features, MRR at risk in features with a
failed or broken scenario, and MRR not exercised, per phase and in total. Every feature of the
suite is in it: one the run's selection left out, or an interrupted run never reached, is not
run; one the run was in when it was interrupted is not run either, unless a scenario had already
failed (the scenario the interruption cut short is not a failure)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from harness.reporting.tags import PHASES, FeatureTags

_FAILED = {"failed", "error", "hook_error", "undefined", "pending", "pending_warn"}


class Verdict(StrEnum):
    PROTECTED = "protected"
    AT_RISK = "at_risk"
    NOT_RUN = "not_run"


@dataclass(frozen=True, slots=True)
class FeatureOutcome:
    feature: str
    file: str
    phase: str
    level: str
    mrr: int
    verdict: Verdict
    passed: int
    failed: int
    interrupted: bool = False


def judge(feature: Any, *, interrupted: bool = False) -> tuple[Verdict, int, int]:
    """Verdict of a finished behave feature, with its passed and failed scenario counts. In an
    ``interrupted`` run, the scenario the interruption cut short does not count as failed, and
    a feature with no failure is not run (it was not exercised to the end)."""
    scenarios = [s for s in feature.walk_scenarios() if not (interrupted and _cut_short(s))]
    statuses = [str(getattr(s.status, "name", s.status)) for s in scenarios]
    passed = statuses.count("passed")
    failed = sum(1 for s in statuses if s in _FAILED)
    if failed or (feature.hook_failed and not interrupted):
        return Verdict.AT_RISK, passed, failed
    if interrupted:
        return Verdict.NOT_RUN, passed, failed
    return (Verdict.PROTECTED if passed else Verdict.NOT_RUN), passed, failed


def _cut_short(scenario: Any) -> bool:
    """The scenario the interruption stopped: behave reports it as an error, with the
    interruption as its message, or none when it came in a hook."""
    status = str(getattr(scenario.status, "name", scenario.status))
    if status not in {"error", "hook_error"}:
        return False
    messages = [getattr(scenario, "error_message", None)]
    messages += [getattr(step, "error_message", None) for step in getattr(scenario, "steps", [])]
    found = [str(m) for m in messages if m]
    return not found or any("KeyboardInterrupt" in m for m in found)


@dataclass
class RevenueSummary:
    outcomes: list[FeatureOutcome] = field(default_factory=list)
    #: the run was stopped (Ctrl-C, SIGTERM, the console's reader gone) before it finished
    interrupted: bool = False

    def record(
        self, feature: Any, tags: FeatureTags, *, interrupted: bool = False
    ) -> FeatureOutcome:
        verdict, passed, failed = judge(feature, interrupted=interrupted)
        outcome = FeatureOutcome(
            feature.name, str(feature.filename), tags.phase.tag, tags.level, tags.mrr,
            verdict, passed, failed, interrupted,
        )
        self.outcomes.append(outcome)
        return outcome

    def record_not_run(self, name: str, file: Path, tags: FeatureTags) -> FeatureOutcome:
        """A feature of the suite the run did not execute (left out, or never reached)."""
        outcome = FeatureOutcome(
            name, str(file), tags.phase.tag, tags.level, tags.mrr, Verdict.NOT_RUN, 0, 0
        )
        self.outcomes.append(outcome)
        return outcome

    def totals(self, outcomes: list[FeatureOutcome] | None = None) -> dict[str, int]:
        chosen = self.outcomes if outcomes is None else outcomes
        totals = {verdict.value: 0 for verdict in Verdict}
        for outcome in chosen:
            totals[outcome.verdict.value] += outcome.mrr
        totals["total"] = sum(o.mrr for o in chosen)
        return totals

    def to_dict(self) -> dict[str, Any]:
        phases = {}
        for tag, phase in PHASES.items():
            members = [o for o in self.outcomes if o.phase == tag]
            if members:
                phases[tag] = {"name": phase.epic, **self.totals(members)}
        return {
            "interrupted": self.interrupted,
            "mrr": self.totals(),
            "phases": phases,
            "features": [asdict(o) for o in self.outcomes],
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    def render_text(self) -> str:
        data = self.to_dict()
        lines = ["Revenue summary (monthly recurring revenue guarded by this run)"]
        if self.interrupted:
            lines[0] += ": INTERRUPTED, what it did not finish is counted as not run"
        lines.append(f"  {'phase':<44} {'protected':>12} {'at risk':>12} {'not run':>12}")
        for phase in data["phases"].values():
            lines.append(
                f"  {phase['name']:<44} {_usd(phase['protected']):>12} "
                f"{_usd(phase['at_risk']):>12} {_usd(phase['not_run']):>12}"
            )
        total = data["mrr"]
        lines.append(
            f"  {'total':<44} {_usd(total['protected']):>12} {_usd(total['at_risk']):>12} "
            f"{_usd(total['not_run']):>12}"
        )
        for outcome in self.outcomes:
            if outcome.verdict is Verdict.AT_RISK:
                lines.append(
                    f"  AT RISK: {outcome.feature} ({_usd(outcome.mrr)}): "
                    f"{outcome.failed} scenario(s) failed"
                )
            elif outcome.interrupted:
                lines.append(
                    f"  INTERRUPTED: {outcome.feature} ({_usd(outcome.mrr)}): stopped after "
                    f"{outcome.passed} scenario(s) passed"
                )
        return "\n".join(lines)

    def render_markdown(self) -> str:
        total = self.totals()
        # allurerc.mjs reads the totals and the phase rows back for the report's overview.
        phases = [
            "| phase | protected | at risk | not run |",
            "| --- | ---: | ---: | ---: |",
        ]
        phases += [
            f"| {p['name']} | {_usd(p['protected'])} | {_usd(p['at_risk'])} "
            f"| {_usd(p['not_run'])} |"
            for p in self.to_dict()["phases"].values()
        ]
        rows = [
            "| feature | phase | MRR | verdict | passed | failed |",
            "| --- | --- | ---: | --- | ---: | ---: |",
        ]
        rows += [
            f"| {o.feature} | {o.phase} | {_usd(o.mrr)} | {o.verdict.value.replace('_', ' ')} "
            f"| {o.passed} | {o.failed} |"
            for o in self.outcomes
        ]
        interrupted = "**The run was interrupted.**\n\n" if self.interrupted else ""
        return (
            interrupted
            + f"**MRR protected:** {_usd(total['protected'])}  \n"
            f"**MRR at risk:** {_usd(total['at_risk'])}  \n"
            f"**MRR not run:** {_usd(total['not_run'])}\n\n"
            + "\n".join(phases) + "\n\n" + "\n".join(rows) + "\n"
        )


def _usd(dollars: int) -> str:
    return f"${dollars:,}"
