"""The Allure formatter the suite needs, as a subclass of allure-behave's (2.16.2, pinned).

What the stock formatter gets wrong with behave 1.3, and what this one does instead:

* It wraps only ``feature.scenarios``, which no longer holds scenarios under ``Rule:``, so they
  wrote no result, their steps leaked into the next test, and a table, docstring or attachment
  under a Rule raised ``KeyError: None`` and aborted the run. Here every scenario is wrapped
  (``walk_scenarios``: rules and outline rows included) and leftover steps are cleared.
* Hook errors came out as skipped (before_scenario), passed (after_scenario) or no result at all
  (before_feature). Here they are ``broken`` with behave's ``HOOK-ERROR ...`` message, and
  scenarios a failing before_feature/before_rule kept from running get a broken result too.
* ``allure.dynamic.label/parameter/title`` were silent no-ops; here they work.
* Labels come from the closed tag vocabulary: epic = phase, feature, story = rule, severity by
  phase, ``mrr`` in dollars, plus the suites hierarchy; each result shows the MRR at stake as a
  parameter. The ``feature`` (and ``suite``) label reads as the reviewer's first view should:
  the capability, its MRR in dollars and its verdict ("Agent runs · $200,000 MRR · at risk").
  A verdict is known only when the feature ends, so a feature's results are held in memory and
  written at its end (or when the run closes, if it was interrupted).
* The output folder is emptied when the run starts (``history/`` kept), so results of an earlier
  run never mix into this one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Any, ClassVar

import allure_commons
from allure_behave.formatter import AllureFormatter
from allure_behave.listener import AllureListener
from allure_behave.utils import scenario_status, scenario_status_details
from allure_commons.model2 import Label, Parameter, Status, StatusDetails, TestResult
from allure_commons.types import LabelType
from allure_commons.utils import now
from behave.model import Rule, Scenario

from harness.errors import HarnessError, TagError
from harness.reporting.redaction import REDACTOR
from harness.reporting.revenue import Verdict, judge
from harness.reporting.tags import classify, level_that_ran

#: Kept when the results folder is emptied at the start of a run.
KEEP_IN_RESULTS = {"history", ".gitkeep", "README.md"}


def rule_of(scenario: Scenario) -> Rule | None:
    parent = getattr(scenario, "parent", None)
    while parent is not None and not isinstance(parent, Rule):
        parent = getattr(parent, "parent", None)
    return parent


def format_mrr(dollars: int) -> str:
    return f"${dollars:,}"


def feature_heading(name: str, mrr: int, verdict: Verdict) -> str:
    """A feature as the report's tree and categories name it: capability, MRR, verdict."""
    return f"{name} · {format_mrr(mrr)} MRR · {verdict.value.replace('_', ' ')}"


def empty_results_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.iterdir():
        if entry.name in KEEP_IN_RESULTS:
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


class ApexAllureListener(AllureListener):  # type: ignore[misc]
    current_scenario_uuid: Any
    current_step_uuid: Any

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.reported: set[int] = set()
        #: Results of the current feature, written when its verdict is known.
        self.held: list[TestResult] = []

    def start_scenario(self, scenario: Scenario) -> None:
        # Steps queued for a scenario that never reported (excluded, aborted) must not leak.
        self.steps.clear()
        super().start_scenario(scenario)
        test = self.logger.get_test(self.current_scenario_uuid)
        rule = rule_of(scenario)
        test.labels = [label for label in test.labels if label.name != LabelType.SEVERITY]
        test.labels.extend(_revenue_labels(scenario, rule, self._assembly()))
        try:
            mrr = classify(scenario.feature.tags, scenario.feature.name).mrr
            test.parameters = [
                *(test.parameters or []),
                Parameter(name="MRR at stake", value=format_mrr(mrr), excluded=True),
            ]
        except TagError:
            pass  # the run was refused before any scenario for such a feature
        if rule is not None:
            test.titlePath = [*test.titlePath, rule.name]

    def _assembly(self) -> str | None:
        """The ``assembly`` setting, read as the suite's settings read it."""
        chosen = self.behave_config.userdata.get("assembly") or os.environ.get("APEX_ASSEMBLY")
        return str(chosen) if chosen else None

    def stop_scenario(self, scenario: Scenario) -> None:
        uuid = self.current_scenario_uuid
        if scenario.status == "skipped" and not self.behave_config.show_skipped:
            self.logger.drop_test(uuid)
            self.group_context.exit()
        else:
            status, details = scenario_outcome(scenario)
            self.flush_steps()
            test = self.logger.get_test(uuid)
            test.stop = now()  # type: ignore[no-untyped-call]
            test.status = status
            test.statusDetails = details
            fail_parents_of_failed_steps(test.steps)
            _failures_in_words(test, test.steps)
            self.held.append(test)
            self.logger.drop_test(uuid)  # out of the logger's open items; written at the end
            self.group_context.append_test(uuid)
            self.group_context.exit()
            self.reported.add(id(scenario))
        self.steps.clear()
        self.current_step_uuid = None
        self.current_scenario_uuid = None

    def write_held(self, feature: Any, *, interrupted: bool = False) -> None:
        """Write the feature's held results, their feature label carrying its MRR and verdict
        (as the revenue summary judges it: ``judge``; an ``interrupted`` feature never ended)."""
        held, self.held = self.held, []
        heading = None
        with contextlib.suppress(TagError):  # such a run was refused before any scenario
            heading = feature_heading(
                feature.name, classify(feature.tags, feature.name).mrr,
                judge(feature, interrupted=interrupted)[0],
            )
        for test in held:
            for label in test.labels:
                if heading is not None and label.name in (LabelType.FEATURE, LabelType.SUITE):
                    label.value = heading
            allure_commons.plugin_manager.hook.report_result(result=test)

    # Hooks the stock listener lacks, so allure.dynamic.* works from steps and hooks.
    @allure_commons.hookimpl
    def add_label(self, label_type: str, labels: Any) -> None:
        test = self.logger.get_test(None)
        if test is not None:
            test.labels.extend(Label(name=label_type, value=str(v)) for v in labels)

    @allure_commons.hookimpl
    def add_parameter(self, name: str, value: Any, excluded: Any, mode: Any) -> None:
        test = self.logger.get_test(None)
        if test is not None:
            parameter = Parameter(name=name, value=REDACTOR.redact(str(value)), excluded=excluded)
            test.parameters = [*(test.parameters or []), parameter]

    @allure_commons.hookimpl
    def add_title(self, test_title: str) -> None:
        test = self.logger.get_test(None)
        if test is not None:
            test.name = test_title


def _revenue_labels(scenario: Scenario, rule: Rule | None, assembly: str | None) -> list[Label]:
    try:
        tags = classify(scenario.feature.tags, scenario.feature.name)
    except TagError:
        return [Label(name=LabelType.SEVERITY, value="normal")]
    labels = [
        Label(name=LabelType.EPIC, value=tags.phase.epic),
        Label(name=LabelType.SEVERITY, value=tags.phase.severity),
        Label(name="mrr", value=format_mrr(tags.mrr)),
        Label(name="phase", value=tags.phase.tag),
        Label(name="level", value=level_that_ran(tags.level, assembly)),
        Label(name=LabelType.PARENT_SUITE, value=tags.phase.epic),
        Label(name=LabelType.SUITE, value=scenario.feature.name),
    ]
    if rule is not None:
        labels.append(Label(name=LabelType.STORY, value=rule.name))
        labels.append(Label(name=LabelType.SUB_SUITE, value=rule.name))
    return labels


def fail_parents_of_failed_steps(steps: list[Any]) -> str | None:
    """A step is never shown passed around a failed or broken step: the parent takes the first
    such child's status and details. Returns the worst status found among ``steps``."""
    worst = None
    for step in steps:
        child = fail_parents_of_failed_steps(step.steps or [])
        if child is not None and step.status not in _FAILING:
            failed = next(s for s in step.steps if s.status in _FAILING)
            step.status, step.statusDetails = failed.status, failed.statusDetails
        if worst is None and step.status in _FAILING:
            worst = step.status
    return worst


_FAILING = (Status.FAILED, Status.BROKEN)
#: The name allure-behave puts before a failed expectation's message: AssertionError, or the
#: harness's subclass of it (``harness.errors.NotSatisfied``).
_EXCEPTION_NAME = re.compile(r"^(?:[a-z_]\w*\.)*(?:AssertionError|NotSatisfied): ")


def _failures_in_words(*items: Any) -> None:
    """A failed expectation (an AssertionError: status failed, not broken) reads as the DSL
    wrote it, in the feature's words, without the exception's class name before it; an error
    (broken) keeps its type, which says what went wrong."""
    for item in items:
        if isinstance(item, list):
            _failures_in_words(*item)
            continue
        details = item.statusDetails
        if item.status == Status.FAILED and details is not None and details.message:
            details.message = _EXCEPTION_NAME.sub("", details.message, count=1)
        _failures_in_words(*(getattr(item, "steps", None) or []))


def _interrupted(feature: Any) -> bool:
    """Whether the run was stopped inside ``feature`` (Ctrl-C, or a stop the suite turned into
    one): behave then ends the feature with the interruption as a scenario's error."""
    for scenario in feature.walk_scenarios():
        for owner in (scenario, *getattr(scenario, "steps", [])):
            if "KeyboardInterrupt" in str(getattr(owner, "error_message", None) or ""):
                return True
    return False


def scenario_outcome(scenario: Scenario) -> tuple[str, StatusDetails | None]:
    """Allure status and details of a finished scenario, hook failures included."""
    for owner in (scenario, rule_of(scenario), scenario.feature):
        if owner is not None and owner.hook_failed:
            message = owner.error_message or f"HOOK-ERROR around {owner.keyword}: {owner.name}"
            return Status.BROKEN, StatusDetails(message=REDACTOR.redact(message))
    status = scenario_status(scenario) or Status.BROKEN
    details = scenario_status_details(scenario)
    if details is not None and details.message:
        details.message = REDACTOR.redact(details.message)
    return status, details


class ApexAllureFormatter(AllureFormatter):  # type: ignore[misc]
    name = "apex_allure"
    description = "Allure results with revenue labels (see harness/reporting)"
    listener: Any
    #: Whether an instance is writing results in this process. A second one (the config's plus
    #: ``-f apex_allure`` on the command line) would register a second listener with allure
    #: and corrupt both outputs, so it is refused.
    _active: ClassVar[bool] = False

    def __init__(self, stream_opener: Any, config: Any) -> None:
        if ApexAllureFormatter._active:
            raise HarnessError(
                "the apex_allure formatter is already active (pyproject.toml [tool.behave] "
                "lists it); to write results elsewhere use -D allure_results=<folder>, "
                "not -f apex_allure -o <folder>"
            )
        # -D allure_results=<folder> (or APEX_ALLURE_RESULTS) moves the results folder.
        target = config.userdata.get("allure_results") or os.environ.get("APEX_ALLURE_RESULTS")
        if target:
            stream_opener.name = target
        empty_results_folder(Path(stream_opener.name))
        super().__init__(stream_opener, config)
        ApexAllureFormatter._active = True
        # Replace the stock listener with ours, keeping its registration with allure.
        allure_commons.plugin_manager.unregister(self.listener)
        self.listener = ApexAllureListener(config)
        allure_commons.plugin_manager.register(self.listener)
        self._feature: Any = None

    def close(self) -> None:
        try:
            if self._feature is not None:  # an interrupted run: its last feature never ended
                self.listener.write_held(self._feature, interrupted=True)
            super().close()
        finally:
            ApexAllureFormatter._active = False

    def feature(self, feature: Any) -> None:
        self._feature = feature
        self._wrap_scenario(feature.walk_scenarios())

    def eof(self) -> None:
        if self._feature is not None:
            self._report_unrun(self._feature)
            self.listener.write_held(self._feature, interrupted=_interrupted(self._feature))
            self._feature = None
        super().eof()

    def _report_unrun(self, feature: Any) -> None:
        """Scenarios a failing before_feature/before_rule kept from running: broken results."""
        expression = self.config.tag_expression
        for scenario in feature.walk_scenarios():
            if id(scenario) in self.listener.reported:
                continue
            rule = rule_of(scenario)
            blocked = feature.hook_failed or (rule is not None and rule.hook_failed)
            if blocked and scenario.should_run_with_tags(expression):
                self.listener.start_scenario(scenario)
                self.listener.stop_scenario(scenario)
