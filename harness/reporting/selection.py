"""What a run selected, checked before anything starts, and what it executed, checked at the end.

A selection (tag expression, ``--name``, ``file.feature:LINE``) that picks no scenario stops the
run with a message that says so; a run that executed no scenario fails. A worker of a parallel
run may legitimately get nothing: the ``allow_empty_run`` setting (``APEX_ALLOW_EMPTY_RUN=1``,
set by the parallel runner for its workers) turns both into a note, and the parallel runner
judges the run as a whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.reporting.tags import feature_files

#: Statuses of a scenario that was executed (whatever its outcome).
EXECUTED = {"passed", "failed", "error", "hook_error", "cleanup_error"}


class EmptyRun(HarnessError):
    """A selection picked no scenario, or a run executed none."""


def suite_feature_files(suite_features: Path, run_features: Iterable[Any]) -> list[Path]:
    """Every feature file of the suite (those under ``suite_features``) and of this run, however
    the run selected them (folders, files, ``file.feature:LINE``)."""
    run_files = [Path(str(f.filename)) for f in run_features]
    return feature_files([suite_features, *run_files] if suite_features.is_dir() else run_files)


def selected_scenarios(features: Iterable[Any], config: Any) -> int:
    """How many scenarios the run's options select (tags, names, lines), before it runs."""
    return sum(
        1
        for feature in features
        for scenario in feature.walk_scenarios()
        if scenario.should_run(config)
    )


def executed_scenarios(features: Iterable[Any]) -> int:
    return sum(
        1
        for feature in features
        for scenario in feature.walk_scenarios()
        if str(getattr(scenario.status, "name", scenario.status)) in EXECUTED
    )


#: behave's v1 tag forms, recognised by their sign, and what to write instead.
_V1_FORMS = {
    "~": "'~@x' is the v1 form of 'not @x'",
    ",": "'@a,@b' is the v1 form of '@a or @b'",
}


def nothing_selected(tag_options: Sequence[str], names: Sequence[str]) -> str:
    """Why a selection picked nothing, naming the v1 tag form when one was used."""
    chosen = [f"--tags {t!r}" for t in tag_options] + [f"--name {n!r}" for n in names]
    what = " and ".join(chosen) if chosen else "the given paths"
    message = f"{what} selects no scenario: nothing would run"
    v1 = [form for sign, form in _V1_FORMS.items() if any(sign in t for t in tag_options)]
    if v1:
        message += (
            f"; {' and '.join(v1)}: this suite reads v2 tag expressions only (README, \"Tags\")"
        )
    return message
