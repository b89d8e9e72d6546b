"""The run's revenue summary: MRR protected by passing features, MRR at risk in features with a
failed or broken scenario, and MRR not exercised, per phase and in total."""

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


def judge(feature: Any) -> tuple[Verdict, int, int]:
    """Verdict of a finished behave feature, with its passed and failed scenario counts."""
    statuses = [str(getattr(s.status, "name", s.status)) for s in feature.walk_scenarios()]
    passed = statuses.count("passed")
    failed = sum(1 for s in statuses if s in _FAILED)
    if failed or feature.hook_failed:
        return Verdict.AT_RISK, passed, failed
    return (Verdict.PROTECTED if passed else Verdict.NOT_RUN), passed, failed


@dataclass
class RevenueSummary:
    outcomes: list[FeatureOutcome] = field(default_factory=list)

    def record(self, feature: Any, tags: FeatureTags) -> FeatureOutcome:
        verdict, passed, failed = judge(feature)
        outcome = FeatureOutcome(
            feature.name, str(feature.filename), tags.phase.tag, tags.level, tags.mrr,
            verdict, passed, failed,
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
        return (
            f"**MRR protected:** {_usd(total['protected'])}  \n"
            f"**MRR at risk:** {_usd(total['at_risk'])}  \n"
            f"**MRR not run:** {_usd(total['not_run'])}\n\n"
            + "\n".join(phases) + "\n\n" + "\n".join(rows) + "\n"
        )


def _usd(dollars: int) -> str:
    return f"${dollars:,}"
