"""behave hooks: settings, tag vocabulary, services, platform, per-scenario DSL, revenue summary.

Context attributes (set here, read by steps through ``context.dsl`` only):

==================  =========  ==============================================================
attribute           lifetime   what
==================  =========  ==============================================================
settings            run        SuiteSettings (userdata ``-D`` over ``APEX_*`` env)
feature_tags        run        validated phase/level/MRR of every feature file
services            run        Services: Redis URL, PostgreSQL endpoint, ClickHouse factory
clock               run        the test clock the platform reads (published to Redis for L4)
platform            run        InProcessPlatform: the L3 assembly (replicas, analytics sink)
backdoor            run        BackDoor: trusted seeding for Given-steps
l4                  run        L4Platform: agent-run platform (processes, or in-process), at the
                               first @L4 feature
tenant_config       run        TenantConfigDriver: tenant configuration, its stores and probes
revenue             run        RevenueSummary, filled after each feature
dsl                 scenario   Dsl over a fresh World (aliases, results, cleanups)
==================  =========  ==============================================================
"""

from __future__ import annotations

import contextlib
import signal
from datetime import UTC, datetime
from pathlib import Path

from behave import fixture, use_fixture

from harness.drivers.backdoor import BackDoor
from harness.drivers.in_process import InProcessPlatform
from harness.drivers.published_clock import PublishedClock
from harness.drivers.tenant_config import TenantConfigDriver
from harness.dsl.facade import Dsl
from harness.dsl.parameters import register_parameter_types
from harness.dsl.world import World
from harness.reporting import announce
from harness.reporting.revenue import RevenueSummary
from harness.reporting.run_info import environment_properties, write_environment, write_executor
from harness.reporting.tags import check_feature_files
from harness.services import start_services
from harness.services.platform_processes import L4Platform
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
    context.platform = use_fixture(
        closed_at_end, context, InProcessPlatform(context.services, context.clock)
    )
    context.backdoor = use_fixture(
        closed_at_end, context, BackDoor(context.services.redis_url, context.clock)
    )
    context.tenant_config = use_fixture(
        closed_at_end, context, TenantConfigDriver(context.services, context.clock)
    )
    context.l4 = use_fixture(
        closed_at_end, context,
        L4Platform(
            context.settings, context.services, context.clock, context.platform.analytics.queries
        ),
    )
    context.revenue = RevenueSummary()


def before_feature(context, feature):
    context.l4.start_for(feature.tags)


def before_scenario(context, scenario):
    skip_reason = context.l4.skip_reason(scenario.effective_tags)
    if skip_reason:
        scenario.skip(reason=skip_reason)
    world = World(
        platform=context.platform,
        backdoor=context.backdoor,
        clock=context.clock,
        add_cleanup=context.add_cleanup,
        eventually_timeout=context.settings.eventually_timeout,
        tenant_config=context.tenant_config,
        agent_runs=context.l4.system,
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
