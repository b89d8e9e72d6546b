"""What a selection that picks nothing is told."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from harness.reporting.selection import executed_scenarios, nothing_selected, suite_feature_files


def test_a_v1_tag_form_is_named_with_its_v2_spelling() -> None:
    message = nothing_selected(["~@L4"], [])
    assert message.startswith("--tags '~@L4' selects no scenario")
    assert "'~@x' is the v1 form of 'not @x'" in message
    assert "'@a or @b'" in nothing_selected(["@L3,@L4"], [])
    assert "v1" not in nothing_selected(["@nonexistent"], ["a name"])
    assert "--name 'a name'" in nothing_selected([], ["a name"])


def test_only_scenarios_that_ran_count_as_executed() -> None:
    scenarios = [SimpleNamespace(status=s) for s in ("skipped", "untested")]
    features = [SimpleNamespace(walk_scenarios=lambda: scenarios)]
    assert executed_scenarios(features) == 0
    scenarios.append(SimpleNamespace(status="failed"))
    assert executed_scenarios(features) == 1


def test_the_suite_is_its_feature_folder_and_whatever_the_run_names(tmp_path: Path) -> None:
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "a.feature").write_text("")
    (tmp_path / "elsewhere.feature").write_text("")
    run = [SimpleNamespace(filename=str(tmp_path / "elsewhere.feature"))]
    assert suite_feature_files(tmp_path / "features", run) == [
        (tmp_path / "elsewhere.feature").resolve(), (tmp_path / "features" / "a.feature").resolve()
    ]
