"""The closed tag vocabulary. A feature must carry one phase, one level and its MRR; any other
tag must be listed here. Checked for every feature before the first scenario runs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import TagError


@dataclass(frozen=True, slots=True)
class Phase:
    number: int
    name: str
    severity: str

    @property
    def tag(self) -> str:
        return f"phase{self.number}"

    @property
    def epic(self) -> str:
        return f"Phase {self.number}: {self.name}"


PHASES = {
    p.tag: p
    for p in (
        Phase(1, "Revenue foundations", "blocker"),
        Phase(2, "Delivery and agent safety", "critical"),
        Phase(3, "Resilience and cost control", "normal"),
        Phase(4, "Configuration and liveness", "minor"),
    )
}
LEVELS = {
    "L3": "platform services in the test process, backing services real",
    "L4": "platform as separate processes, driven over HTTP and WebSocket",
}
#: The level each assembly runs at (``harness.assembly``): the level a report shows.
ASSEMBLY_LEVELS = {"in_process": "L3", "network": "L4"}


def level_that_ran(declared: str, assembly: str | None) -> str:
    """The level a feature ran at: its tag's, unless the ``assembly`` setting chose one (an
    ``@L4`` feature run in-process ran at L3)."""
    return ASSEMBLY_LEVELS.get(assembly or "", declared)


#: Tags allowed beyond the required ones, with what they mean (the README lists them all).
OPTIONAL_TAGS = {
    "scripted_llm": "needs the scripted LLM server; skipped against a real LLM endpoint",
    "replicas": "the rule is about several platform replicas sharing the services",
    "fixture": "a self-test fixture feature (tests/fixtures), never part of the product suite",
    "faults": "kills platform processes; runs only on a stack the suite started itself "
    "(embedded, docker), skipped against an external one",
    "store_faults": "restarts or pauses the run's Redis server (with @faults); runs only where "
    "the suite started Redis itself (embedded, docker), skipped against an external one",
}
_MRR = re.compile(r"mrr:(\d{1,9})")


@dataclass(frozen=True, slots=True)
class FeatureTags:
    phase: Phase
    level: str
    mrr: int
    extra: frozenset[str]


def classify(tags: Iterable[str], where: str) -> FeatureTags:
    """Validate a feature's own tags; raise TagError naming the feature and the problem."""
    tags = [str(t) for t in tags]  # behave Tags are str subclasses that do not deep-copy
    phases = [PHASES[t] for t in tags if t in PHASES]
    levels = [t for t in tags if t in LEVELS]
    mrrs = [int(m.group(1)) for t in tags if (m := _MRR.fullmatch(t))]
    unknown = [
        t for t in tags
        if t not in PHASES and t not in LEVELS and t not in OPTIONAL_TAGS and not _MRR.fullmatch(t)
    ]
    problems = []
    if unknown:
        problems.append("unknown tag(s) " + ", ".join("@" + t for t in unknown))
    for kind, found, choices in (
        ("phase", phases, "@phase1..@phase4"),
        ("level", levels, "@L3 or @L4"),
        ("MRR", mrrs, "@mrr:<dollars>"),
    ):
        if len(found) != 1:
            problems.append(f"needs exactly one {kind} tag ({choices}), has {len(found)}")
    if problems:
        raise TagError(f"{where}: " + "; ".join(problems))
    extra = frozenset(t for t in tags if t in OPTIONAL_TAGS)
    return FeatureTags(phases[0], levels[0], mrrs[0], extra)


def check_inner_tags(tags: Iterable[str], where: str) -> None:
    """Rules and scenarios may carry only optional tags (phase, level and MRR are per feature)."""
    wrong = [t for t in tags if t not in OPTIONAL_TAGS]
    if wrong:
        raise TagError(
            f"{where}: tag(s) {', '.join('@' + t for t in wrong)} not allowed here; "
            f"rules and scenarios may carry only {', '.join('@' + t for t in OPTIONAL_TAGS)}"
        )


@dataclass(frozen=True, slots=True)
class SuiteFeature:
    """A feature file of the suite, as the revenue summary needs it whether it runs or not."""

    name: str
    tags: FeatureTags


def feature_files(paths: Iterable[Path]) -> list[Path]:
    """The feature files named by ``paths`` (files, or folders searched for ``*.feature``), each
    once, resolved."""
    return sorted({
        f.resolve() for p in paths for f in ([p] if p.is_file() else p.rglob("*.feature"))
    })


def read_feature_files(paths: Iterable[Path]) -> dict[Path, SuiteFeature]:
    """Parse every feature file under ``paths`` and check its tags; all problems at once."""
    from behave.parser import parse_file

    found: dict[Path, SuiteFeature] = {}
    problems: list[str] = []
    for file in feature_files(paths):
        feature = parse_file(str(file))
        if feature is None:
            continue
        try:
            tags = classify(feature.tags, f"{file} (Feature: {feature.name})")
            for rule in feature.rules:
                check_inner_tags(rule.tags, f"{file}:{rule.line} (Rule: {rule.name})")
            for scenario in feature.walk_scenarios(with_outlines=True):
                check_inner_tags(
                    scenario.tags, f"{file}:{scenario.line} (Scenario: {scenario.name})"
                )
            found[file] = SuiteFeature(str(feature.name), tags)
        except TagError as exc:
            problems.append(str(exc))
    if problems:
        raise TagError("tag vocabulary violated:\n  " + "\n  ".join(problems))
    return found


def check_feature_files(paths: Iterable[Path]) -> dict[Path, FeatureTags]:
    """The tags of every feature file under ``paths``, checked (:func:`read_feature_files`)."""
    return {path: feature.tags for path, feature in read_feature_files(paths).items()}
