"""Runs at once: the slots of a tier that requests in progress hold (a request in progress
is what the product calls a run here)."""

from behave import given, then, when

from harness.dsl.tiers.requests import reason_named


@given("one of {name}'s runs has finished")
def step_slot_released(context, name):
    context.dsl.requests.release_one_slot(name)


@given("the worker of one of {name}'s runs has crashed")
def step_slot_abandoned(context, name):
    context.dsl.requests.abandon_one_slot(name)


@given("{seconds:Seconds} seconds have passed, the other run's worker staying alive")
def step_seconds_passed_slots_renewed(context, seconds):
    context.dsl.requests.time_passes(seconds)


@when("the crashed worker comes back and renews its run's slot")
def step_late_renewal(context):
    context.dsl.requests.late_renewal()


@when("{name} starts {count:Count} runs at the same time")
def step_take_slots_at_once(context, name, count):
    context.dsl.requests.take_slots_at_once(name, count)


@when("{name} starts {count:Count} runs")
@when("{name} starts {count:Count} run")
def step_take_slots(context, name, count):
    context.dsl.requests.take_slots(name, count)


@then("{count:Count} runs are admitted")
@then("{count:Count} run is admitted")
def step_slots_admitted(context, count):
    context.dsl.requests.admitted_count(count)


@then("the renewal is refused, the slot being gone")
def step_late_renewal_refused(context):
    context.dsl.requests.late_renewal_refused()


@then("{name} has {count:Count} run in progress")
@then("{name} has {count:Count} runs in progress")
def step_in_progress(context, name, count):
    context.dsl.requests.in_progress(name, count)


@then("{count:Count} runs are refused because {reason}")
def step_slots_refused(context, count, reason):
    context.dsl.requests.refused_count(count, reason_named(reason))
