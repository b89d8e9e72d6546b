"""behave hooks: settings, tag vocabulary, services, the run's composition, the assembly of
each feature, per-scenario DSL, revenue summary.

Context attributes (set here, read by steps through ``context.dsl`` only):

==================  =========  ==============================================================
attribute           lifetime   what
==================  =========  ==============================================================
settings            run        SuiteSettings (userdata ``-D`` over ``APEX_*`` env)
feature_tags        run        validated phase/level/MRR of every feature file
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
import signal
from datetime import UTC, datetime
from pathlib import Path

from behave import fixture, use_fixture

from harness.assembly import RunComposition
from harness.dsl.common.parameters import register_parameter_types
from harness.dsl.common.world import World
from harness.dsl.facade import Dsl
from harness.reporting import announce
from harness.reporting.revenue import RevenueSummary
from harness.reporting.run_info import environment_properties, write_environment, write_executor
from harness.reporting.tags import check_feature_files
from harness.services import start_services
from harness.services.clock import PublishedClock
from harness.settings import SuiteSettings

register_parameter_types()

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


def before_all(context):
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    context.settings = SuiteSettings.load(context.config.userdata)
    announce(context.settings.describe())
    context.feature_tags = {
        path.resolve(): tags
        for path, tags in check_feature_files(Path(p) for p in context.config.paths).items()
    }
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
    skip_reason = context.run.scenario_skip_reason([str(t) for t in scenario.effective_tags])
    if skip_reason:
        scenario.skip(reason=skip_reason)
    world = World(
        drivers=context.drivers,
        add_cleanup=context.add_cleanup,
        eventually_timeout=context.settings.eventually_timeout,
    )
    context.dsl = Dsl(world)


def after_scenario(context, scenario):
    leftovers = context.dsl.world.leftovers()
    if leftovers and scenario.status == "passed":
        raise AssertionError("scenario left work unexamined: " + "; ".join(leftovers))


def after_feature(context, feature):
    tags = context.feature_tags.get(Path(feature.filename).resolve())
    if tags is not None:
        context.revenue.record(feature, tags)


def after_all(context):
    revenue = getattr(context, "revenue", None)
    if revenue is None or not revenue.outcomes:
        return
    announce(revenue.render_text())
    revenue.write(Path(context.settings.reports_dir) / "revenue-summary.json")
    _attach_summary(revenue)


def _attach_summary(revenue: RevenueSummary) -> None:
    """The summary as a run-level Allure attachment (shown by both report generators)."""
    from allure_commons import plugin_manager

    plugin_manager.hook.global_attach_data(
        body=revenue.render_markdown(), name="Revenue summary",
        attachment_type="text/markdown", extension="md",
    )
