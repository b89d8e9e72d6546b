"""Tenant configuration: its owner's changes, other tenants' attempts, the cache, regions,
secrets, the audit trail, and the raw queries that show what the database itself enforces."""

from behave import given, then, when

from harness.dsl.tenant_config.words import tenant_names

# -- Given ---------------------------------------------------------------------------------


@given(
    "{names} are tenants hosted in the {where} region,"
    " each with {api_keys:Count} API keys, {charges:Count} billed requests"
    " and {runs:Count} agent runs"
)
def step_tenants_with_accounts(context, names, where, api_keys, charges, runs):
    context.dsl.tenant_accounts.tenants_with_accounts(
        tenant_names(names), where, api_keys, charges, runs
    )


@given("{names} are tenants hosted in the {where} region, each with {count:Count} settings")
@given("{names} is a tenant hosted in the {where} region, with {count:Count} settings")
def step_tenants_with_settings(context, names, where, count):
    context.dsl.tenant_config.tenants_in_region(tenant_names(names), where, count)


@given("{names} are tenants hosted in the {where} region")
@given("{names} is a tenant hosted in the {where} region")
def step_tenants(context, names, where):
    context.dsl.tenant_config.tenants_in_region(tenant_names(names), where)


@given("{name}'s configuration has these settings:")
def step_has_settings(context, name):
    context.dsl.tenant_config.has_settings(name, [row.as_dict() for row in context.table])


@given('{name} has read its setting "{setting}"')
def step_has_read(context, name, setting):
    context.dsl.tenant_config.has_read(name, setting)


@given("{caller} has stored its LLM provider's API key")
def step_has_stored_key(context, caller):
    context.dsl.tenant_config.stored_api_key(caller)


@given("the stored record of {source}'s key has been copied into {target}'s configuration")
def step_key_copied(context, source, target):
    context.dsl.tenant_stores.key_copied(source, target)


@given('{source}\'s cached "{setting}" has found its way into {target}\'s cache')
def step_cached_entry_moved(context, source, setting, target):
    context.dsl.tenant_stores.cached_entry_moved(source, setting, target)


@given("the cached configuration of {names} has been lost")
def step_caches_lost(context, names):
    context.dsl.tenant_stores.caches_lost(tenant_names(names))


# -- When ----------------------------------------------------------------------------------


@when('{name} changes its setting "{setting}" to "{value}"')
def step_change(context, name, setting, value):
    context.dsl.tenant_config.change(name, setting, value)


@when('{name} removes its setting "{setting}"')
def step_remove(context, name, setting):
    context.dsl.tenant_config.remove(name, setting)


@when('{name} reads its setting "{setting}"')
def step_read(context, name, setting):
    context.dsl.tenant_config.read(name, setting)


@when("{attacker} tries to poison {victim}'s cached configuration {how}")
def step_poison(context, attacker, victim, how):
    context.dsl.cross_tenant.try_poison_cache(attacker, victim, how)


@when("{attacker} tries to {action} in {victim}'s configuration")
def step_try_action(context, attacker, action, victim):
    context.dsl.cross_tenant.try_action(attacker, action, victim)


@when("{who} tries to {rewrite} the audit records of {name}")
def step_rewrite_audit(context, who, rewrite, name):
    context.dsl.tenant_stores.try_rewrite_audit(who, rewrite, name)


@when(
    "{attacker} makes {count:Count} random attempts of each of these shapes"
    " on {victim}'s configuration:"
)
def step_fuzz(context, attacker, count, victim):
    shapes = [row["attack shape"] for row in context.table]
    context.dsl.cross_tenant.fuzz(attacker, victim, count, shapes)


@when("{who} reads every one of the {table} without naming a tenant, in {name}'s session")
def step_unfiltered_in_session(context, who, table, name):
    context.dsl.tenant_stores.unfiltered_query(who, table, name)


@when(
    "{who} reads every one of the {table} without naming a tenant,"
    " outside any tenant's session"
)
def step_unfiltered_no_session(context, who, table):
    context.dsl.tenant_stores.unfiltered_query(who, table, None)


@when("the platform, acting for {actor}, tries to {change} on {name}'s account")
def step_try_account_change(context, actor, change, name):
    context.dsl.tenant_accounts.try_change(actor, change, name)


@then("the database refuses it, and {name}'s account is unchanged")
def step_account_unchanged(context, name):
    context.dsl.tenant_accounts.refused_and_unchanged(name)


@when(
    "{first} lists its settings and then {second} lists its own,"
    " on a platform with a single database connection"
)
def step_back_to_back(context, first, second):
    context.dsl.tenant_stores.back_to_back(first, second)


@when(
    "the background job refreshes the cached configuration of {names},"
    " on a single database connection"
)
def step_refresh_job(context, names):
    context.dsl.tenant_stores.refresh_job(tenant_names(names))


@when("{name} stores 2 settings, one of them its LLM provider's API key, and reads them back")
def step_store_and_read_back(context, name):
    context.dsl.tenant_config.store_and_read_back(name)


@when("{caller} stores its LLM provider's API key")
def step_store_key(context, caller):
    context.dsl.tenant_config.stored_api_key(caller)


@when("{caller} asks for {owner}'s LLM provider's API key")
def step_ask_for_key(context, caller, owner):
    context.dsl.tenant_config.ask_for_key(caller, owner)


# -- Then ----------------------------------------------------------------------------------


@then("{name}'s configuration reads:")
def step_configuration_reads(context, name):
    context.dsl.tenant_config.configuration_reads(name, [r.as_dict() for r in context.table])


@then("{name}'s audit trail shows, each stamped with the time it happened:")
def step_audit_shows(context, name):
    context.dsl.tenant_config.audit_shows(name, [r.as_dict() for r in context.table])


@then("the attempt is refused, and {attacker} learns nothing of {victim}'s settings")
def step_all_refused(context, attacker, victim):
    context.dsl.cross_tenant.all_refused(attacker, victim)


@then("the change is refused")
def step_change_refused(context):
    context.dsl.cross_tenant.change_refused()


@then("the attempt is refused")
def step_rewrite_refused(context):
    context.dsl.tenant_stores.rewrite_refused()


@then("{name}'s audit trail is unchanged")
def step_audit_unchanged(context, name):
    context.dsl.tenant_stores.audit_unchanged(name)


@then("{name}'s configuration is unchanged")
def step_unchanged(context, name):
    context.dsl.tenant_config.unchanged(name)


@then("it gets {count:Count} records, all of them {name}'s")
def step_rows_seen(context, count, name):
    context.dsl.tenant_stores.rows_seen(count, name)


@then("it gets no records at all")
def step_no_rows(context):
    context.dsl.tenant_stores.no_rows()


@then("both requests were served by the same connection")
def step_same_connection(context):
    context.dsl.tenant_stores.same_connection()


@then(
    "between the two requests that connection acted for no tenant,"
    " and a query naming none saw no records"
)
def step_clean_between(context):
    context.dsl.tenant_stores.connection_clean("between the two requests")


@then("after the job that connection acts for no tenant, and a query naming none sees no records")
def step_clean_after_job(context):
    context.dsl.tenant_stores.connection_clean("after the job")


@then("{name} saw its {count:Count} settings and nothing of {other}'s")
def step_saw_only_own(context, name, count, other):
    context.dsl.tenant_stores.saw_only_own(name, count, other)


@then("each tenant's cached configuration holds exactly its own {count:Count} settings")
def step_caches_hold_own(context, count):
    context.dsl.tenant_stores.caches_hold_own(count)


@then('{name}\'s setting "{setting}" still reads "{value}"')
def step_still_reads(context, name, setting, value):
    context.dsl.tenant_config.reads_value(name, setting, value)


@then('{name} is told it has no setting "{setting}"')
def step_not_found(context, name, setting):
    context.dsl.tenant_config.told_not_found(name, setting)


@then('{name} gets "{value}"')
def step_gets(context, name, value):
    context.dsl.tenant_config.gets_value(name, value)


@then("{name}'s cached configuration holds only what {writer} wrote")
def step_cache_only_own(context, name, writer):
    context.dsl.tenant_config.cache_only_own(name, writer)


@then("the stores hold this much of {name}:")
def step_holdings(context, name):
    context.dsl.tenant_stores.holdings(name, [r.as_dict() for r in context.table])


@then("the stored record of {name}'s key does not contain the key in any readable form")
def step_key_not_in_store(context, name):
    context.dsl.tenant_stores.key_not_readable_in_store(name)


@then(
    "{name}'s cached configuration does not contain the key in any readable form either"
)
def step_key_not_in_cache(context, name):
    context.dsl.tenant_stores.key_not_readable_in_cache(name)


@then("{caller} is answered with {answer}")
def step_answered_with(context, caller, answer):
    context.dsl.tenant_config.answered_with(caller, answer)


@then("none of the {count:Count} attempts returned anything of {victim}'s")
def step_fuzz_outcome(context, count, victim):
    context.dsl.cross_tenant.fuzz_outcome(victim, count)


@then("every attempt aimed at {victim} was refused and is on record in {attacker}'s audit trail")
def step_fuzz_audited(context, victim, attacker):
    context.dsl.cross_tenant.fuzz_audited(attacker, victim)
