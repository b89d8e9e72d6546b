"""The dead-letter queue: runs set aside after their attempts, and what the operator does."""

from behave import given, then, when


@given("each queue gives a message this many attempts before setting it aside:")
def step_attempts(context):
    context.dsl.dead_letters.attempts_are([row.as_dict() for row in context.table])


@given("a dead letter is kept {days:Count} days from when it was set aside")
def step_retention(context, days):
    context.dsl.dead_letters.retention_is(days)


@given("the model's answer to {name}'s {agent} call always holds a character no record can store")
def step_unstorable_always(context, name, agent):
    context.dsl.agent_runs.model_answer_unstorable(name, agent, always=True)


@given("the model's first answer to {name}'s {agent} call holds a character no record can store")
def step_unstorable_first(context, name, agent):
    context.dsl.agent_runs.model_answer_unstorable(name, agent, always=False)


@given("the model answers {name}'s {agent} calls in turn:")
def step_answers_in_turn(context, name, agent):
    rows = [row.as_dict() for row in context.table]
    context.dsl.agent_runs.model_answers_in_turn(name, agent, rows)


@when(
    "{name} asks for an AI-spend optimization, and the worker running it is killed while the"
    " model takes its time"
)
def step_worker_killed_mid_attempt(context, name):
    context.dsl.dead_letters.worker_killed_while_model_works(name)


@given("the model's answers to {name}'s {agent} call can be stored again")
def step_storable_again(context, name, agent):
    context.dsl.agent_runs.model_answer_storable(name, agent)


@given("{name}'s run was set aside after {attempts:Count} failed attempts")
def step_set_aside(context, name, attempts):
    context.dsl.dead_letters.runs_set_aside([name], attempts)


@given(
    "a run of {first}'s and a run of {second}'s were each set aside"
    " after {attempts:Count} failed attempts"
)
def step_both_set_aside(context, first, second, attempts):
    context.dsl.dead_letters.runs_set_aside([first, second], attempts)


@when("the operator lists {which}")
def step_list(context, which):
    context.dsl.dead_letters.operator_lists(which)


@when("the operator redrives {name}'s dead letter twice")
def step_redrive_twice(context, name):
    context.dsl.dead_letters.redrive(name, 2)


@when("the operator redrives {name}'s dead letter, before its cause is fixed")
def step_redrive_unfixed(context, name):
    context.dsl.dead_letters.redrive(name, 1)


@given("the usage analytics refuses every record of {name}'s")
def step_analytics_refuses(context, name):
    context.dsl.dead_letters.analytics_refuses(name)


@given("{name}'s usage record was set aside after {attempts:Count} failed attempts")
def step_usage_set_aside(context, name, attempts):
    context.dsl.dead_letters.usage_set_aside(name, attempts)


@given("the usage analytics takes {name}'s records again")
def step_analytics_accepts(context, name):
    context.dsl.dead_letters.analytics_accepts(name)


@when("the operator redrives every dead letter of the {queue}")
def step_redrive_every(context, queue):
    context.dsl.dead_letters.redrive_every(queue)


@then("the operator's redrive sent {name}'s dead letter through")
def step_redrive_sent(context, name):
    context.dsl.dead_letter_checks.redrive_sent(name)


@then(
    "the reconciliation finds {name}'s {charge:Money} charge missing from the usage analytics,"
    " its record in the dead-letter queue"
)
def step_reconciliation_names(context, name, charge):
    context.dsl.dead_letter_checks.reconciliation_names(name, charge)


@then("the reconciliation finds {name}'s ledger and usage analytics agreeing at {charge:Money}")
def step_reconciliation_balanced(context, name, charge):
    context.dsl.dead_letter_checks.reconciliation_balanced(name, charge)


@when("{days:Count} days pass and the operator purges expired dead letters")
def step_purge(context, days):
    context.dsl.dead_letters.purge_after(days)


@then(
    "{name} is told its run failed on an internal error on each of its {attempts:Count}"
    " attempts, and that it was not charged"
)
def step_told_set_aside(context, name, attempts):
    context.dsl.dead_letter_checks.told_set_aside(name, attempts)


@then("the dead-letter queue holds {name}'s {what}, set aside at the platform's current time:")
def step_holds(context, name, what):
    context.dsl.dead_letter_checks.holds(name, what, [row.as_dict() for row in context.table])


@then(
    "the dead-letter queue holds {name}'s run again, after {attempts:Count} more attempts,"
    " set aside {earlier:Count} time before"
)
def step_holds_again(context, name, attempts, earlier):
    context.dsl.dead_letter_checks.holds_run_again(name, attempts, earlier)


@then("the dead-letter queue holds nothing of {name}'s")
def step_holds_nothing(context, name):
    context.dsl.dead_letter_checks.holds_nothing_of(name)


@then("no job is left pending on the {queue} queue")
@then("no record is left pending on the {queue} queue")
def step_none_pending(context, queue):
    context.dsl.dead_letter_checks.none_pending(queue)


@then("the operator sees {what}")
def step_operator_sees(context, what):
    context.dsl.dead_letter_checks.operator_sees(what)


@then(
    "the first redrive sends {name}'s run through again, and the second finds it sent already"
)
def step_redrives_answered(context, name):
    context.dsl.dead_letter_checks.redrives_answered(name)


@then("{name} finds the complete report under the same request")
def step_finds_report(context, name):
    context.dsl.dead_letters.finds_report(name)


@then("{name}'s dead letter is {kept}")
def step_letter_kept(context, name, kept):
    context.dsl.dead_letter_checks.letter_kept(name, kept)
