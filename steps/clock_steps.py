"""The test clock."""

from behave import given


@given("the clock has reached {moment}")
def step_clock_reached(context, moment):
    context.dsl.clock.reach(moment)
