"""The billing ledger and usage analytics."""

from behave import then

from harness.dsl.common.parameters import parse_count, parse_money


@then("{name} has been billed for {count:Count} requests")
@then("{name} has been billed for {count:Count} request")
def step_billed_for(context, name, count):
    context.dsl.billing.billed_for(name, count)


@then(
    "the billing ledger and the usage analytics both show one charge to {name}"
    " for {count:Count} requests, {amount:Money} in all"
)
def step_one_charge_for_batch(context, name, count, amount):
    context.dsl.billing.one_charge_for_batch(name, count, amount)


@then("the billing ledger and the usage analytics both show:")
def step_ledger_and_analytics(context):
    expected = {
        row["tenant"]: (parse_count(row["requests"]), parse_money(row["amount"]))
        for row in context.table
    }
    context.dsl.billing.ledger_and_analytics_show(expected)
