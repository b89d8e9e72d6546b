"""Requests against the monthly quota, and malformed requests."""

from behave import given, then, when

from harness.dsl.tiers.requests import reason_named


@when("{name} makes {count:Count} requests")
@when("{name} makes {count:Count} request")
def step_makes_requests(context, name, count):
    context.dsl.requests.make_requests(name, count)


@when("{name} sends the same request {times:Count} times")
def step_same_request(context, name, times):
    context.dsl.requests.same_request_repeated(name, times)


@when("the tenants make these requests:")
def step_tenants_make_requests(context):
    counts = {row["tenant"]: int(row["requests"].replace(",", "")) for row in context.table}
    context.dsl.requests.requests_from_tenants(counts)


@given("the platform runs as {count:Count} instances sharing the same stores")
def step_instances(context, count):
    context.dsl.requests.platform_instances(count)


@when(
    "{count:Count} requests from {name} arrive at the same time, spread evenly over the instances"
)
def step_simultaneous_requests(context, count, name):
    context.dsl.requests.simultaneous_across_instances(name, count)


@given("{name}'s request has been admitted and billed")
def step_request_done(context, name):
    context.dsl.requests.request_done(name)


@when("{name} sends the same request again")
def step_earlier_request_again(context, name):
    context.dsl.requests.earlier_request_again(name)


@given("the {store} has become unreachable")
def step_store_unreachable(context, store):
    context.dsl.requests.store_unreachable(store)


@when('a request arrives for the tenant id "{raw_tenant_id}"')
def step_raw_tenant_request(context, raw_tenant_id):
    context.dsl.requests.raw_request(raw_tenant_id)


@when("a request arrives for a tenant id that has no subscription")
def step_request_unsubscribed(context):
    context.dsl.requests.request_for_unsubscribed()


@when("a request arrives from {name} as a batch of {size:Count}")
def step_batch_request(context, name, size):
    context.dsl.requests.batch_request(name, size)


@then("the first request is admitted")
def step_first_admitted(context):
    context.dsl.requests.nth_admitted(1)


@then("the second request is refused because the monthly quota is used, offering the {offer} tier")
def step_second_refused_with_offer(context, offer):
    context.dsl.requests.nth_refused_with_offer(2, offer)


@then("all {count:Count} requests are admitted")
def step_all_admitted(context, count):
    context.dsl.requests.all_admitted(count)


@then("the request is admitted")
def step_the_one_admitted(context):
    context.dsl.requests.all_admitted(1)


@then("all {count:Count} requests are refused because {reason}")
def step_all_refused(context, count, reason):
    context.dsl.requests.all_refused(count, reason_named(reason))


@then("the request is refused because {reason}")
def step_the_one_refused(context, reason):
    context.dsl.requests.all_refused(1, reason_named(reason))


@then("all {count:Count} requests are refused as temporarily unavailable, to be retried later")
def step_all_unavailable(context, count):
    context.dsl.requests.all_refused(count, reason_named("temporarily unavailable"))


@then("exactly {count:Count} requests are admitted")
def step_exactly_admitted(context, count):
    context.dsl.requests.admitted_count(count)


@then("{count:Count} requests are refused because {reason}")
def step_some_refused(context, count, reason):
    context.dsl.requests.refused_count(count, reason_named(reason))


@then("it is rejected because the tenant has no subscription, and nothing is counted")
def step_rejected_unsubscribed(context):
    context.dsl.requests.rejected_as_unsubscribed()


@then("it is rejected as invalid, the error naming the {problem}")
def step_rejected_invalid(context, problem):
    context.dsl.requests.rejected_as_invalid(problem)


@then("once the quota store is back, {name} has used {count:Count} requests this billing period")
def step_quota_used_after_outage(context, name, count):
    context.dsl.requests.quota_used_once_store_back(name, count)


# Registered after the more specific step above: behave takes the first pattern that matches.
@then("{name} has no requests in progress")
def step_nothing_in_progress(context, name):
    context.dsl.requests.nothing_in_progress(name)


@then("{name} has used {count:Count} requests this billing period")
def step_quota_used(context, name, count):
    context.dsl.requests.quota_used_is(name, count)


@then("{name} has used 1 request this billing period")
def step_quota_used_one(context, name):
    context.dsl.requests.quota_used_is(name, 1)


@then("the refusal says sending it again this billing period will not help")
def step_refusal_not_worth_retrying(context):
    context.dsl.requests.refusal_not_worth_retrying()


@then("each refusal says nothing was billed")
def step_refusals_say_nothing_billed(context):
    context.dsl.requests.refusals_say_nothing_billed()


@then("each refusal says to try again once a run has finished")
def step_refusals_say_retry(context):
    context.dsl.requests.refusals_say_retry()
