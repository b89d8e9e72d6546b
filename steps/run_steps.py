"""Agent runs and their slots (runs at once)."""

from behave import given, then, when

from harness.dsl.requests import reason_named


@given("one of {name}'s runs has finished")
def step_run_finished(context, name):
    context.dsl.requests.one_run_finished(name)


@given("the worker of one of {name}'s runs has crashed")
def step_worker_crashed(context, name):
    context.dsl.requests.worker_crashed(name)


@given("{seconds:Count} seconds have passed, the other run's worker staying alive")
def step_seconds_passed(context, seconds):
    context.dsl.requests.time_passes(seconds)


@when("{name} starts {count:Count} runs at the same time")
def step_start_runs_at_once(context, name, count):
    context.dsl.requests.start_runs_at_once(name, count)


@when("{name} starts {count:Count} runs")
@when("{name} starts {count:Count} run")
def step_start_runs(context, name, count):
    context.dsl.requests.start_runs(name, count)


@then("{count:Count} runs are admitted")
@then("{count:Count} run is admitted")
def step_runs_admitted(context, count):
    context.dsl.requests.admitted_count(count)


@then("{count:Count} runs are refused because {reason}")
def step_runs_refused(context, count, reason):
    context.dsl.requests.refused_count(count, reason_named(reason))
