"""Agent state recovery: a worker dies mid-run, another takes the run over; the store is
restarted, loses its data or stops answering, and nothing is lost or billed twice."""

from behave import given, then, when


@given("the workers hold each run on a {seconds:Count}-second lease, renewed while they work")
def step_job_lease(context, seconds):
    context.dsl.recovery.job_lease_is(seconds)


@given(
    "a run holds its slot on a {seconds:Count}-second lease of the platform's clock,"
    " renewed every {every:Count} seconds while it works"
)
def step_slot_lease(context, seconds, every):
    context.dsl.recovery.slot_lease_is(seconds, every)


@when("{name}'s {agent} step takes {minutes:Count} minutes by the platform's clock")
def step_takes_minutes(context, name, agent, minutes):
    context.dsl.recovery.step_takes(name, agent, minutes)


@then(
    "{name}'s run held its slot all through the {minutes:Count} minutes,"
    " its lease renewed {times:Count} times"
)
def step_slot_held_throughout(context, name, minutes, times):
    context.dsl.recovery_checks.slot_held_throughout(name, minutes, times)


@when(
    "the worker running {name}'s run is killed during the {agent} step, the client's connection"
    " dropping with it, and the client reconnects at once"
)
def step_worker_killed_client_back(context, name, agent):
    context.dsl.recovery.worker_killed_client_back(name, agent)


@when("the worker running {name}'s run is killed during the {agent} step")
def step_worker_killed(context, name, agent):
    context.dsl.recovery.worker_killed_during(name, agent)


@then(
    "another worker takes {name}'s run over within {total:Count} seconds of the kill:"
    " the {lease:Count}-second lease plus {slack:Count} seconds"
)
def step_taken_over(context, name, total, lease, slack):
    context.dsl.recovery_checks.taken_over_within(name, total, lease, slack)


@then("{name} heard every event of the run once, in order, without a gap")
def step_every_event_once(context, name):
    context.dsl.recovery_checks.heard_every_event_once(name)


@then("the model was asked on {name}'s behalf:")
def step_model_asked_per_agent(context, name):
    rows = [row.as_dict() for row in context.table]
    context.dsl.recovery_checks.model_asked_per_agent(name, rows)


# -- store faults -----------------------------------------------------------------------------


@given("{name} has a run in progress, waiting on the model")
def step_run_waiting(context, name):
    context.dsl.store_faults.run_waiting_on_model(name)


@given("the usage analytics has stopped taking events")
def step_analytics_stopped(context):
    context.dsl.store_faults.analytics_stopped()


@given("{name} has received the complete report of a run")
def step_run_completed(context, name):
    context.dsl.store_faults.run_completed(name)


@given("the usage record of {name}'s run is on its way to the usage analytics")
def step_usage_record_on_its_way(context, name):
    context.dsl.store_faults.usage_record_on_its_way(name)


@given("the store has lost all its data")
def step_store_lost_data(context):
    context.dsl.store_faults.store_lost_data()


@when("the store is restarted with its data during {name}'s {agent} step")
def step_store_restarted(context, name, agent):
    context.dsl.store_faults.store_fault_during("restarted", name, agent)


@when("the store loses all its data during {name}'s {agent} step")
def step_store_data_lost(context, name, agent):
    context.dsl.store_faults.store_fault_during("data lost", name, agent)


@when("the store stops answering for {seconds:Count} seconds during {name}'s {agent} step")
def step_store_silent(context, seconds, name, agent):
    context.dsl.store_faults.store_silent_during(seconds, name, agent)


@when("the store loses all its data, and the usage analytics starts again")
def step_store_lost_then_analytics(context):
    context.dsl.store_faults.store_lost_data_then_analytics_resumed()


@then("no platform process reported ready before the store was rebuilt")
def step_not_ready_before_rebuilt(context):
    context.dsl.recovery_checks.not_ready_before_rebuilt()


@then("every platform process kept running through the fault")
def step_processes_kept_running(context):
    context.dsl.recovery_checks.processes_kept_running()


# -- the platform's copies of usage records ------------------------------------------------------


@given(
    "{name} has received the complete report of a run,"
    " its usage record confirmed by the usage analytics"
)
def step_run_completed_confirmed(context, name):
    context.dsl.usage_copies.run_completed_and_confirmed(name)


@given("a second passes")
def step_a_second_passes(context):
    context.dsl.usage_copies.a_second_passes()


@when("{days:Count} days pass")
def step_days_pass(context, days):
    context.dsl.usage_copies.days_pass(days)


@when("the usage analytics starts again")
def step_analytics_starts_again(context):
    context.dsl.usage_copies.analytics_started_again()


@then("the platform no longer keeps a copy of {name}'s usage record")
def step_copy_removed(context, name):
    context.dsl.usage_copies.copy_removed(name)


@then("the platform still keeps a copy of {name}'s usage record, confirmed by the usage analytics")
def step_copy_kept_confirmed(context, name):
    context.dsl.usage_copies.copy_kept(name, confirmed=True)


@then("the platform still keeps a copy of {name}'s usage record, waiting for the usage analytics")
def step_copy_kept_waiting(context, name):
    context.dsl.usage_copies.copy_kept(name, confirmed=False)


# -- a worker paused past its lease -------------------------------------------------------------


@when(
    "the worker running {name}'s run is paused during the {agent} step,"
    " and another worker finishes the run"
)
def step_worker_paused(context, name, agent):
    context.dsl.recovery.worker_paused_during(name, agent)


@when("the paused worker wakes up")
def step_paused_worker_wakes(context):
    context.dsl.recovery.paused_worker_wakes()


@then("the worker that woke up gave {name}'s run up")
def step_woken_worker_gave_up(context, name):
    context.dsl.recovery_checks.woken_worker_gave_up(name)
