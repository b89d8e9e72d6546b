"""Tenants, tiers and the catalog."""

from behave import given, then, when

# Parameter types (Count, Money) are registered by environment.py before steps load.


@given("{name} is on the {tier} tier")
def step_on_tier(context, name, tier):
    context.dsl.subscriptions.tenant_on_tier(name, tier)


@given("{name} is on the {tier} tier with {used:Count} of its {quota:Count} monthly requests used")
def step_on_tier_with_quota_used(context, name, tier, used, quota):
    context.dsl.subscriptions.tenant_on_tier(name, tier, requests_used=used, quota=quota)


@given(
    "{name} is on the {tier} tier with {used:Count} of its {quota:Count} monthly requests billed"
)
def step_on_tier_with_requests_billed(context, name, tier, used, quota):
    context.dsl.subscriptions.tenant_with_requests_billed(name, tier, used, quota)


@given("the quota store no longer holds {name}")
def step_forgotten_by_quota_store(context, name):
    context.dsl.subscriptions.forgotten_by_quota_store(name)


@given("{name} is on the {tier} tier with {used:Count} requests used this billing period")
def step_on_tier_with_requests_used(context, name, tier, used):
    context.dsl.subscriptions.tenant_on_tier(name, tier, requests_used=used)


@given("{name} is on the {tier} tier with {runs:Count} runs in progress")
def step_on_tier_with_runs(context, name, tier, runs):
    context.dsl.requests.tenant_holding_slots(name, tier, runs)


@given("{name} has just upgraded to the {tier} tier")
@given("{name} has just downgraded to the {tier} tier")
def step_changed_tier(context, name, tier):
    context.dsl.subscriptions.change_tier(name, tier)


@when('{name} asks to move to the "{tier}" tier')
def step_asks_to_move(context, name, tier):
    context.dsl.subscriptions.try_change_tier(name, tier)


@when("a customer looks at the tiers on offer")
def step_look_at_catalog(context):
    context.dsl.subscriptions.look_at_catalog()


@then("the catalog offers exactly these tiers:")
def step_catalog_offers(context):
    context.dsl.subscriptions.catalog_offers([dict(row.as_dict()) for row in context.table])


@then("it is rejected as an unknown tier, the error listing the tiers on offer")
def step_unknown_tier(context):
    context.dsl.subscriptions.rejected_as_unknown_tier()


@then("{name} is still on the {tier} tier")
def step_still_on_tier(context, name, tier):
    context.dsl.subscriptions.still_on_tier(name, tier)
