"""Agent state recovery: a worker dies mid-run, another takes the run over."""

from behave import given, then, when


@given("the workers hold each run on a {seconds:Count}-second lease, renewed while they work")
def step_job_lease(context, seconds):
    context.dsl.recovery.job_lease_is(seconds)


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
