"""behave hooks: settings, tag vocabulary, services, the run's composition, the assembly of
each feature, per-scenario DSL, revenue summary.

Context attributes (set here, read by steps through ``context.dsl`` only):

==================  =========  ==============================================================
attribute           lifetime   what
==================  =========  ==============================================================
started             run        when this behave process started (epoch seconds), for the real
                               duration behave's summary prints
settings            run        SuiteSettings (``-D`` over ``APEX_*`` env over pyproject userdata)
suite               run        SuiteFeature (name, validated phase/level/MRR) of every feature
                               file of the suite and of this run, by resolved path
services            run        Services: Redis URL, PostgreSQL endpoint, ClickHouse factory
clock               run        the test clock the platform reads (published to Redis for the
                               network assembly)
run                 run        RunComposition (harness/assembly): the run-level services (sink,
                               language model, platform processes, clock publishing) and the
                               drivers each assembly builds on them, started on first need
revenue             run        RevenueSummary, filled after each feature
drivers             feature    Drivers: every capability's drivers in the assembly the feature
                               runs in (``assembly`` setting, or its @L3/@L4 tag)
dsl                 scenario   Dsl over a fresh World (drivers, aliases, scenario state)
==================  =========  ==============================================================
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
from behave import fixture, use_fixture
from behave.reporter.summary import AbstractSummaryReporter

from harness.assembly import RunComposition
from harness.dsl.common.parameters import register_parameter_types
from harness.dsl.common.world import World
from harness.dsl.facade import Dsl
from harness.errors import HarnessError
from harness.reporting import announce
from harness.reporting.console import guard_console, reader_gone
from harness.reporting.revenue import RevenueSummary
from harness.reporting.run_info import environment_properties, write_environment, write_executor
from harness.reporting.selection import (
    EmptyRun,
    executed_scenarios,
    nothing_selected,
    selected_scenarios,
    suite_feature_files,
)
from harness.reporting.tags import read_feature_files
from harness.services import start_services
from harness.services.clock import PublishedClock
from harness.settings import SuiteSettings

register_parameter_types()

#: The suite's features: the revenue summary counts every one, whatever a run selects.
SUITE_FEATURES = Path(__file__).parent / "features"
REVENUE_SUMMARY = "revenue-summary.json"

#: The test clock starts here every run: a Tuesday early in a billing period.
CLOCK_START = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def _terminate_as_interrupt(signum, frame):
    # SIGTERM (CI cancelling, `kill`) takes the same path as Ctrl-C: behave aborts the run and
    # every fixture cleanup still stops the services.
    raise KeyboardInterrupt(f"signal {signum}")


@fixture
def running_services(context):
    with start_services(context.settings) as services:
        yield services


@fixture
def closed_at_end(context, resource):
    """A run-level resource, closed when the run ends: passed, failed or interrupted."""
    with contextlib.closing(resource):
        yield resource


def clear_junit_reports(config):
    """JUnit files are written per feature; remove an earlier run's, as for allure-results/."""
    if config.junit and config.junit_directory:
        for report in Path(config.junit_directory).glob("*.xml"):
            report.unlink()


def refuse_run(reports_dir: Path, problem: str) -> None:
    """Stop before anything started: the problem alone, no counts of a run that did not happen,
    a non-zero exit. An earlier run's summary goes too: it would describe another run."""
    (reports_dir / REVENUE_SUMMARY).unlink(missing_ok=True)
    sys.stdout.flush()
    sys.stderr.write(f"\nthe run did not start: {problem}\n")
    sys.stderr.flush()
    os._exit(2)  # nothing to clean up yet; behave would print an abort and false counts


def load_settings(config) -> SuiteSettings:
    command_line = dict(config.userdata_defines or [])
    configured = {k: v for k, v in config.userdata.items() if k not in command_line}
    return SuiteSettings.load(command_line, configured)


def _reports_dir_before_settings(config) -> Path:
    """Where the summary lives when the settings themselves are bad: best effort."""
    given = dict(config.userdata_defines or []).get("reports_dir")
    return Path(given or os.environ.get("APEX_REPORTS_DIR") or "reports")


def check_the_run(context) -> None:
    """Everything that can be wrong before a service starts: settings, tags, the selection."""
    config = context.config
    try:
        context.settings = load_settings(config)
    except HarnessError as exc:
        refuse_run(_reports_dir_before_settings(config), str(exc))
    reports_dir = Path(context.settings.reports_dir)
    (reports_dir / REVENUE_SUMMARY).unlink(missing_ok=True)
    features = context._runner.features
    try:
        context.suite = read_feature_files(suite_feature_files(SUITE_FEATURES, features))
        if not selected_scenarios(features, config):
            problem = nothing_selected(config.tags or [], config.name or [])
            if not context.settings.allow_empty_run:
                raise EmptyRun(problem)
            announce(f"note: {problem} (allow_empty_run)")
    except HarnessError as exc:
        refuse_run(reports_dir, str(exc))


def before_all(context):
    context.started = psutil.Process().create_time()
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    guard_console(*context._runner.formatters, *context.config.reporters)
    check_the_run(context)
    announce(context.settings.describe())
    clear_junit_reports(context.config)
    context.services = use_fixture(running_services, context)
    announce(context.services.describe())
    results = Path(context.settings.allure_results)
    write_environment(
        results, environment_properties(context.services.mode.value, context.services.versions)
    )
    write_executor(results)
    context.clock = PublishedClock(CLOCK_START)
    context.run = use_fixture(
        closed_at_end, context, RunComposition(context.settings, context.services, context.clock)
    )
    context.revenue = RevenueSummary()


def before_feature(context, feature):
    tags = [str(tag) for tag in feature.tags]
    choice = context.run.choose(tags)
    if choice.assembly is None:
        announce(f"skipped: {feature.name}: {choice.skip}")
        feature.skip(reason=choice.skip)
        return
    context.drivers = context.run.drivers_for(tags, choice.assembly)


def before_scenario(context, scenario):
    skip_reason = context.run.scenario_skip_reason(
        [str(t) for t in scenario.effective_tags], context.drivers
    )
    if skip_reason:
        scenario.skip(reason=skip_reason)
    world = World(
        drivers=context.drivers,
        add_cleanup=context.add_cleanup,
        eventually_timeout=context.settings.eventually_timeout,
    )
    context.dsl = Dsl(world)


def after_scenario(context, scenario):
    if scenario.status == "failed":
        _attach_platform_logs(context.run)
    dsl = getattr(context, "dsl", None)
    if dsl is None:  # interrupted before the scenario had one
        return
    leftovers = dsl.world.leftovers()
    if leftovers and scenario.status == "passed":
        raise AssertionError("scenario left work unexamined: " + "; ".join(leftovers))


def after_feature(context, feature):
    known = context.suite.get(Path(feature.filename).resolve())
    if known is not None:
        context.revenue.record(feature, known.tags, interrupted=_interrupted(context))


def after_all(context):
    _report_real_duration(context)
    revenue = getattr(context, "revenue", None)
    if revenue is None:
        return
    revenue.interrupted = _interrupted(context)
    recorded = {Path(o.file).resolve() for o in revenue.outcomes}
    for path, known in context.suite.items():
        if path not in recorded:
            revenue.record_not_run(known.name, path, known.tags)
    announce(revenue.render_text())
    revenue.write(Path(context.settings.reports_dir) / REVENUE_SUMMARY)
    _attach_summary(revenue)
    if revenue.interrupted:
        return
    if not executed_scenarios(context._runner.features) and not context.settings.allow_empty_run:
        raise EmptyRun("no scenario ran: a run that executes nothing is not a pass")


def _interrupted(context) -> bool:
    return bool(context.aborted) or reader_gone()


def _report_real_duration(context) -> None:
    # behave's summary adds up each feature's direct scenarios, and ours all sit under Rule:.
    elapsed = time.time() - context.started
    for reporter in context.config.reporters:
        if isinstance(reporter, AbstractSummaryReporter):
            reporter.duration = elapsed


def _attach_platform_logs(run: RunComposition) -> None:
    """A failed scenario carries the platform processes' recent logs (redacted), if any ran."""
    import allure

    for name, text in run.platform_logs().items():
        allure.attach(text, name=f"log of {name}", attachment_type=allure.attachment_type.TEXT)


def _attach_summary(revenue: RevenueSummary) -> None:
    """The summary as a run-level Allure attachment (shown by both report generators)."""
    from allure_commons import plugin_manager

    plugin_manager.hook.global_attach_data(
        body=revenue.render_markdown(), name="Revenue summary",
        attachment_type="text/markdown", extension="md",
    )
