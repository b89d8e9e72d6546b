"""The closed tag vocabulary."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import TagError
from harness.reporting.tags import OPTIONAL_TAGS, check_feature_files, classify
from tests.behave_runner import REPO


def test_a_feature_with_phase_level_and_mrr_is_classified() -> None:
    tags = classify(["phase1", "L3", "mrr:347000", "replicas"], "f")
    assert (tags.phase.number, tags.level, tags.mrr) == (1, "L3", 347000)
    assert tags.phase.epic == "Phase 1: Revenue foundations"
    assert tags.extra == frozenset({"replicas"})


@pytest.mark.parametrize(
    ("tags", "problem"),
    [
        (["L3", "mrr:1"], "exactly one phase"),
        (["phase1", "phase2", "L3", "mrr:1"], "exactly one phase"),
        (["phase1", "mrr:1"], "exactly one level"),
        (["phase1", "L3"], "exactly one MRR"),
        (["phase1", "L3", "mrr:12k"], "unknown tag(s) @mrr:12k"),
        (["phase1", "L3", "mrr:1", "critical"], "unknown tag(s) @critical"),
    ],
)
def test_a_feature_breaking_the_vocabulary_is_refused_with_the_reason(
    tags: list[str], problem: str
) -> None:
    with pytest.raises(TagError, match=r"features/x\.feature") as raised:
        classify(tags, "features/x.feature")
    assert problem in str(raised.value)


def test_every_product_feature_uses_the_vocabulary() -> None:
    found = check_feature_files([REPO / "features"])
    assert found, "no feature files found"


def test_a_scenario_may_not_carry_feature_level_tags(tmp_path: Path) -> None:
    feature = tmp_path / "bad.feature"
    feature.write_text(
        "@phase1 @L3 @mrr:10\nFeature: Bad\n\n  @phase2\n  Scenario: S\n    Given x\n"
    )
    with pytest.raises(TagError, match=r"bad.feature:5 \(Scenario: S\).*@phase2"):
        check_feature_files([tmp_path])


def test_the_readme_documents_every_tag() -> None:
    readme = (REPO / "README.md").read_text()
    for tag in [*OPTIONAL_TAGS, "phase1", "L3", "L4", "mrr:<dollars>"]:
        assert f"`@{tag}" in readme, f"README does not document @{tag}"


def test_an_unknown_tag_stops_the_run_before_any_scenario(tmp_path: Path) -> None:
    from tests.behave_runner import run_behave

    # The repo's own hooks and steps, beside a feature with a tag outside the vocabulary.
    (tmp_path / "steps").symlink_to(REPO / "steps")
    (tmp_path / "environment.py").symlink_to(REPO / "environment.py")
    features = tmp_path / "features"
    features.mkdir()
    (features / "x.feature").write_text(
        "@phase1 @L3 @mrr:10 @urgent\nFeature: X\n\n  Scenario: S\n    Given a step\n"
    )
    run = run_behave(
        [str(features), "-D", "services=embedded", "--no-junit", "-f", "plain"],
        cwd=tmp_path, results_dir=tmp_path / "unused",
    )
    assert run.returncode != 0
    assert "unknown tag(s) @urgent" in run.output
    assert "the run did not start" in run.output
    assert "scenarios passed" not in run.output, "counts of a run that did not happen"
