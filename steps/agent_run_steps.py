"""Agent runs: the AI-spend optimization a tenant asks for, its report, its bill."""

from behave import given, then, when

# Parameter types (Count, Money) are registered by environment.py before steps load. Patterns
# here are specific on purpose: behave takes the first registered match, and this module loads
# before the others.


@given("model calls are priced per million tokens:")
def step_price_list(context):
    context.dsl.agent_runs.price_list_is([row.as_dict() for row in context.table])


@given("a run is charged its model cost plus its tier's margin:")
def step_margins(context):
    context.dsl.agent_runs.margins_are([row.as_dict() for row in context.table])


@given("the model answers {name}'s agents with these token counts:")
def step_model_answers_agents(context, name):
    context.dsl.agent_runs.model_answers_agents(name, [row.as_dict() for row in context.table])


@given(
    "the model answers every call with {prompt:Count} prompt tokens"
    " and {completion:Count} completion tokens"
)
def step_model_answers_every_call(context, prompt, completion):
    context.dsl.agent_runs.model_answers_every_call(prompt, completion)


@given(
    "the model answers {calls:Count} calls for {name} with {prompt:Count} prompt tokens"
    " and {completion:Count} completion tokens, then goes down"
)
def step_model_then_down(context, calls, name, prompt, completion):
    context.dsl.agent_runs.model_answers_then_down(name, calls, prompt, completion)


@given("the model takes its time over {name}'s {agent} call")
def step_model_takes_its_time(context, name, agent):
    context.dsl.agent_runs.model_takes_its_time(name, agent)


@given("{name} is connected to the platform")
def step_connected(context, name):
    context.dsl.agent_runs.connected(name)


@given("{name} is on the {tier} tier, with a run waiting on the model")
def step_run_waiting(context, name, tier):
    context.dsl.agent_runs.tenant_with_waiting_run(name, tier)


@when("{name} asks for an AI-spend optimization")
def step_ask(context, name):
    context.dsl.agent_runs.ask_for_optimization(name)


@when("{first} and {second} each ask for an AI-spend optimization at the same time")
def step_ask_at_once(context, first, second):
    context.dsl.agent_runs.ask_at_once([first, second])


@when(
    "{name} sends the same optimization request twice at the same time,"
    " through {instances:Count} gateway instances"
)
def step_same_request_twice(context, name, instances):
    context.dsl.agent_runs.same_request_twice(name, instances)


@given("{name}'s optimization request was refused because {reason}")
def step_request_was_refused(context, name, reason):
    context.dsl.agent_runs.request_was_refused(name, reason)


@when("{name} sends the refused request again")
def step_send_refused_again(context, name):
    context.dsl.agent_runs.send_refused_request_again(name)


@when("{name}'s connection drops during the {agent} step and {name} reconnects {moment}")
def step_drop_and_reconnect(context, name, agent, moment):
    context.dsl.agent_runs.drop_and_reconnect(name, agent, moment)


@then("each of {name}'s connections is refused because {reason}")
def step_each_connection_refused(context, name, reason):
    context.dsl.agent_run_checks.each_connection_refused(name, reason)


@when("a client connects with {key}")
def step_connect_with_key(context, key):
    context.dsl.agent_runs.connect_with(key)


@when("{name} sends a malformed message: {malformation}")
def step_malformed(context, name, malformation):
    context.dsl.agent_runs.send_malformed(name, malformation)


@when("{name} sends a message of {kib:Count} KiB, over the {limit:Count} KiB limit")
def step_oversized(context, name, kib, limit):
    context.dsl.agent_runs.send_oversized(name, kib, limit)


@then("{name} receives the complete report, after progress from each agent in this order:")
def step_report_with_progress(context, name):
    rows = [row.as_dict() for row in context.table]
    context.dsl.agent_run_checks.receives_complete_report(name, rows)


# Registered before the generic report step: behave takes the first pattern that matches.
@then("once the model answers, {name} receives the complete report")
def step_report_once_model_answers(context, name):
    context.dsl.agent_runs.receives_report_once_model_answers(name)


@then("{name} receives the complete report")
def step_report(context, name):
    context.dsl.agent_run_checks.receives_complete_report(name)


@then(
    "{name} is billed once for the run: {cost:Money} of model cost plus {margin:Count}%,"
    " {charge:Money} in all"
)
def step_billed_once(context, name, cost, margin, charge):
    context.dsl.agent_run_checks.billed_once(name, cost, margin, charge)


@then("the model was asked only for the {size} model on {name}'s behalf")
def step_model_only(context, size, name):
    context.dsl.agent_run_checks.model_asked_only_for(name, size)


@then("the model was called {times:Count} times on {name}'s behalf, once per agent")
def step_model_called(context, times, name):
    context.dsl.agent_run_checks.model_called(name, times)


@then("the billing ledger and the usage analytics both show one run for each tenant:")
def step_ledger_and_analytics_runs(context):
    rows = [row.as_dict() for row in context.table]
    context.dsl.agent_run_checks.ledger_and_analytics_show_runs(rows)


@then(
    "{name} is told the run failed because the model is unavailable, and that it was not charged"
)
def step_told_failed(context, name):
    context.dsl.agent_run_checks.told_run_failed(name)


@then("{name} has been charged nothing")
def step_charged_nothing(context, name):
    context.dsl.agent_run_checks.charged_nothing(name)


@then("the usage analytics show nothing for {name}")
def step_analytics_nothing(context, name):
    context.dsl.agent_run_checks.analytics_show_nothing(name)


@then("{name} has no runs in progress")
def step_no_runs(context, name):
    context.dsl.agent_run_checks.no_runs_in_progress(name)


@then("{name} is told the run {state}")
def step_told_state(context, name, state):
    context.dsl.agent_run_checks.told_run_state(name, state)


@then("each of {name}'s connections receives the same complete report")
def step_same_report(context, name):
    context.dsl.agent_run_checks.each_connection_gets_same_report(name)


@then("the connection is refused as {reason}")
def step_refused(context, reason):
    context.dsl.agent_run_checks.refused_as(reason)


@then("{name} gets a protocol error saying {problem}")
def step_protocol_error(context, name, problem):
    context.dsl.agent_run_checks.protocol_error(name, problem)


@then("{name} still gets a complete report over the same connection")
def step_still_works(context, name):
    context.dsl.agent_runs.still_works_on_same_connection(name)


@then("{name}'s connection is closed because the message is too big")
def step_closed_too_big(context, name):
    context.dsl.agent_run_checks.closed_as_too_big(name)


@then("{name} can connect again and get a complete report")
def step_connect_again(context, name):
    context.dsl.agent_runs.connects_again_and_gets_report(name)
