"""Deliberate defects in the platform, to prove the features catch them.

A mutant is applied by monkeypatching at interpreter start, in every Python process of a run:
``tests/mutant_site/sitecustomize.py`` calls :func:`apply` when ``SUITE_MUTANT`` names one (see
test_mutations.py). That reaches the L4 platform processes (gateways, workers), which the suite
starts as separate interpreters, as well as the behave process. The platform's code is never
changed on disk.

A mutant checks the shape of the code it patches and fails loudly when it has changed, so that a
refactoring cannot silently turn a mutant into a no-op (or into a different defect).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, cast

from apex import enforcement, keys
from apex.billing import BillingKind
from apex.charges import Charge, Charges
from apex.clock import billing_period, epoch_millis
from apex.enforcement import Admission, Decision, TierEnforcer
from apex.gateway.protocol import ResumeRun
from apex.gateway.session import GatewaySession
from apex.orchestration.supervisor import Progress, RunOutcome
from apex.orchestration.worker import OrchestrationWorker, _RunEvents
from apex.requests import RefusalReason, RequestResult, RequestService
from apex.runs import RunIntake, RunJob


def _patch_lua(script_name: str, old: str, new: str) -> None:
    """The enforcer loads ``script_name`` with ``old`` replaced by ``new``."""
    original = enforcement._script

    def script(name: str) -> str:
        text = original(name)
        if name != script_name:
            return text
        patched = text.replace(old, new)
        assert patched != text, f"{script_name} changed: update this mutant"
        return patched

    enforcement._script = script


def quota_off_by_one() -> None:
    """The quota check lets one request too many through."""
    _patch_lua("admit.lua", "used + units > limit", "used + units > limit + 1")


def refund_keeps_the_quota() -> None:
    """A refund frees the slot but does not give the quota unit back (refund.lua)."""
    _patch_lua("refund.lua", "redis.call('DECRBY', KEYS[1], tonumber(ARGV[2]))", "")


def renewal_revives_expired_leases() -> None:
    """renew.lua: the expiry check is lost, so a worker back after its lease ran out gets its
    slot back (as a plain ZADD XX would) while the slot may already be someone else's."""
    _patch_lua("renew.lua", "if not expiry or tonumber(expiry) <= tonumber(ARGV[1]) then",
               "if not expiry then")


def check_then_increment() -> None:
    """Admission read and written in separate round trips instead of one atomic script."""

    def admit(self: TierEnforcer, tenant_id: str, request_id: str, units: int = 1) -> Admission:
        r = self._redis
        now = self._clock.now()
        period = billing_period(now)
        tier_raw: Any = r.get(keys.tenant_tier(tenant_id))
        tier = tier_raw.decode()
        limits_raw: Any = r.hget(keys.TIER_LIMITS, tier)
        limit, max_running = (int(v) for v in limits_raw.decode().split(":"))
        r.zremrangebyscore(keys.run_leases(tenant_id), "-inf", epoch_millis(now))
        running = r.zcard(keys.run_leases(tenant_id))
        used = int(r.get(keys.quota_used(tenant_id, period)) or 0)
        decision = Decision.ADMITTED
        if limit >= 0 and used + units > limit:
            decision = Decision.QUOTA_EXHAUSTED
        elif running >= max_running:
            decision = Decision.CONCURRENCY_LIMIT
        else:
            used = r.incrby(keys.quota_used(tenant_id, period), units)
            expiry = epoch_millis(now) + int(self.lease.total_seconds() * 1000)
            r.zadd(keys.run_leases(tenant_id), {request_id: expiry})
            running += 1
        return Admission(
            decision, tenant_id, request_id, tier, period, units, used, limit, running,
            max_running,
        )

    TierEnforcer.admit = admit  # type: ignore[method-assign]


def bill_refused_requests() -> None:
    """A request refused for quota or concurrency is billed anyway (at no charge, but a ledger
    row and an analytics record all the same)."""
    _require_source(RequestService.__init__, "self._charges = charges")
    _require_source(Charges.__init__, "self._clock = clock")
    original = RequestService.submit

    def submit(self: RequestService, tenant_id: str, request_id: str, units: int = 1) -> Any:
        result: RequestResult = original(self, tenant_id, request_id, units)
        if not result.admitted and result.reason in (
            RefusalReason.QUOTA_EXHAUSTED, RefusalReason.CONCURRENCY_LIMIT,
        ):
            charges: Charges = self._charges
            self._charges.record(
                Charge(
                    tenant_id, BillingKind.REQUEST, request_id,
                    billing_period(charges._clock.now()), result.tier or "free", units, 0,
                )
            )
        return result

    RequestService.submit = submit  # type: ignore[method-assign]


def _require_parameters(function: Callable[..., Any], names: list[str]) -> None:
    """The patched function still takes exactly these parameters."""
    found = list(inspect.signature(function).parameters)
    assert found == names, (
        f"{function.__qualname__} takes {found}, the mutant expects {names}: update the mutant"
    )


def _require_fields(cls: type, names: set[str]) -> None:
    """The dataclass still has these fields."""
    missing = names - {f.name for f in fields(cls)}
    assert not missing, f"{cls.__qualname__} has no {sorted(missing)}: update the mutant"


def _require_source(function: Callable[..., Any], *snippets: str) -> None:
    """The patched code still does what the mutant relies on (attributes it reads, calls it
    wraps), so that a refactoring fails here rather than in a platform process's log."""
    source = inspect.getsource(function)
    for snippet in snippets:
        assert snippet in source, (
            f"{function.__qualname__} no longer contains {snippet!r}: update the mutant"
        )


def _stashed_job_key(tenant_id: str, run_id: str) -> str:
    """Where the ``reconnect_runs_again`` mutant keeps a queued job (its own Redis key)."""
    return f"{keys.PREFIX}:mutant:{tenant_id}:{run_id}:job"


def reconnect_runs_again() -> None:
    """Double charge on reconnect: a client's ``run.resume`` queues its run's job again under a
    new run id (``<request id>-again``), without admission, so the work runs and is billed a
    second time while the client follows the original run.

    The gateway keeps no job after queueing it, and the client may reconnect to any replica, so
    queueing also stashes the encoded job in Redis, where every gateway process can read it
    back. The second run needs a record of its own in the run log to be executed: the mutant
    claims it and marks it admitted, as a gateway that skipped admission would."""
    _require_parameters(RunIntake.enqueue, ["self", "job"])
    _require_source(RunIntake.__init__, "self._redis = client")
    _require_parameters(GatewaySession._dispatch, ["self", "message"])
    _require_source(GatewaySession.__init__, "self.tenant_id = tenant_id", "self._desk = desk")
    _require_source(GatewaySession._dispatch, "isinstance(message, ResumeRun)")
    _require_fields(RunJob, {"tenant_id", "run_id"})
    _require_fields(ResumeRun, {"request_id"})
    original_enqueue = RunIntake.enqueue
    original_dispatch = GatewaySession._dispatch

    async def enqueue(self: RunIntake, job: RunJob) -> None:
        stash = _stashed_job_key(job.tenant_id, job.run_id)
        await self._redis.set(stash, job.encode()["job"], ex=3600)
        await original_enqueue(self, job)

    async def dispatch(self: GatewaySession, message: Any) -> None:
        # Queued before the gateway answers, not after: a client that has its answer (and the
        # replayed result) could otherwise check its bill before the second job even exists,
        # and no check can wait for work nobody has queued yet.
        desk = self._desk
        if isinstance(message, ResumeRun):
            stashed = await desk._intake._redis.get(
                _stashed_job_key(self.tenant_id, message.request_id)
            )
            if stashed is not None:
                job = RunJob.decode({b"job": stashed})
                again = replace(job, run_id=f"{job.run_id}-again")
                await asyncio.to_thread(desk.runs.claim, job.tenant_id, again.run_id, job.task)
                await asyncio.to_thread(desk.runs.admitted, again)
                await original_enqueue(desk._intake, again)
        await original_dispatch(self, message)

    RunIntake.enqueue = enqueue  # type: ignore[method-assign]
    GatewaySession._dispatch = dispatch  # type: ignore[method-assign]


#: Attribute of a run's ``_RunEvents`` where ``bill_failed_runs`` adds up its finished calls' cost.
_FINISHED_COST = "_mutant_finished_cost"


@dataclass(frozen=True)
class _PartialOutcome:
    """What ``OrchestrationWorker._bill`` reads of a run's outcome: its model cost."""

    cost_micros: int


def bill_failed_runs() -> None:
    """Charging failed runs: a run whose model went down mid-way is billed the cost (plus
    margin) of the model calls that did finish, instead of nothing. Everything else stays as
    the platform does it: the quota unit and slot are refunded, the client is told the run
    failed (and, falsely now, that it was not charged).

    The worker learns each finished call's cost from the supervisor's progress reports
    (``_RunEvents.progress``), so that is where the mutant adds them up."""
    _require_parameters(_RunEvents.progress, ["self", "progress"])
    _require_parameters(OrchestrationWorker._fail, ["self", "job", "events", "exc"])
    _require_parameters(OrchestrationWorker._bill, ["self", "job", "outcome"])
    _require_source(OrchestrationWorker.execute, "events.progress", "self._fail(job, events, exc)")
    _require_source(OrchestrationWorker._bill, "outcome.cost_micros")
    _require_fields(Progress, {"state", "cost_micros"})
    original_progress = _RunEvents.progress
    original_fail = OrchestrationWorker._fail

    def counting_progress(self: _RunEvents, progress: Progress) -> None:
        if progress.state == "finished" and progress.cost_micros is not None:
            setattr(self, _FINISHED_COST, getattr(self, _FINISHED_COST, 0) + progress.cost_micros)
        original_progress(self, progress)

    def fail(self: OrchestrationWorker, job: RunJob, events: _RunEvents, exc: Exception) -> None:
        finished: int = getattr(events, _FINISHED_COST, 0)
        if finished:
            self._bill(job, cast(RunOutcome, _PartialOutcome(finished)))
        original_fail(self, job, events, exc)

    _RunEvents.progress = counting_progress  # type: ignore[method-assign]
    OrchestrationWorker._fail = fail  # type: ignore[method-assign]


MUTANTS: dict[str, Callable[[], None]] = {
    "quota_off_by_one": quota_off_by_one,
    "refund_keeps_the_quota": refund_keeps_the_quota,
    "renewal_revives_expired_leases": renewal_revives_expired_leases,
    "check_then_increment": check_then_increment,
    "bill_refused_requests": bill_refused_requests,
    "reconnect_runs_again": reconnect_runs_again,
    "bill_failed_runs": bill_failed_runs,
}


def apply(name: str) -> None:
    """Break the platform in this process the way mutant ``name`` does."""
    assert name in MUTANTS, f"no mutant {name!r}; known: {sorted(MUTANTS)}"
    MUTANTS[name]()


# -- Tenant configuration (features/phase1/tenant_config_isolation.feature) ----------------------
#
# Each is a defect of a few lines that a refactoring of ``apex/tenancy`` (or of the region
# schema) might bring in. Their imports are here, not at the top, so that this section stands
# on its own while the sections above are re-targeted.

import re  # noqa: E402
import types  # noqa: E402

from apex import migrations  # noqa: E402
from apex.tenancy import cache as tenancy_cache  # noqa: E402
from apex.tenancy import cipher as tenancy_cipher  # noqa: E402
from apex.tenancy import session as tenancy_session  # noqa: E402
from apex.tenancy.cache import ConfigCache  # noqa: E402
from apex.tenancy.directory import TenantDirectory  # noqa: E402
from apex.tenancy.model import Permission, Principal  # noqa: E402
from apex.tenancy.regions import Region  # noqa: E402
from apex.tenancy.service import TenantConfigService  # noqa: E402


def cache_key_ignores_tenant() -> None:
    """The configuration cache keys its hashes by region only: every tenant of a region shares
    one hash, so a tenant's cached settings overwrite (and are found as) another's. (Entries
    still say whose they are, and a foreign one is discarded when read.)"""
    _require_parameters(tenancy_cache.keys.tenant_config_cache, ["tenant_id"])
    for method in (ConfigCache.get, ConfigCache.put, ConfigCache.forget):
        _require_source(method, "keys.tenant_config_cache(")
    shared = tenancy_cache.keys.tenant_config_cache("shared")
    # Only the cache module's view of the key names changes: the suite's probes, which read
    # the cache where the tenant's hash should be, keep the real names.
    tenancy_cache.keys = types.SimpleNamespace(  # type: ignore[assignment]
        **{**vars(tenancy_cache.keys), "tenant_config_cache": lambda tenant_id: shared}
    )


def cache_serves_foreign_entries() -> None:
    """The cache stops checking whose an entry is: an entry found under a tenant's hash is
    served to that tenant, even when it says it is another tenant's."""
    _require_parameters(ConfigCache.get, ["self", "home", "tenant_id", "name"])
    _require_source(
        ConfigCache.get, "entry.tenant_id != tenant_id", "client.hdel(key, name)", "return entry"
    )

    def get(self: ConfigCache, home: Region, tenant_id: str, name: str) -> Any:
        client = self._clients[home]
        key = tenancy_cache.keys.tenant_config_cache(tenant_id)
        raw = client.hget(key, name)
        if raw is None:
            return None
        entry = tenancy_cache._decode(raw)
        if entry is None or entry.name != name:  # the mutant: no entry.tenant_id check
            client.hdel(key, name)
            return None
        return entry

    ConfigCache.get = get  # type: ignore[method-assign]


def cache_shared_and_trusted() -> None:
    """Both cache defects at once: one hash for all the tenants of a region, and entries served
    without checking whose they are, so one tenant's cached value is served to another. (Either
    alone is caught by other scenarios; this is what the reads of a cached setting guard.)"""
    cache_key_ignores_tenant()
    cache_serves_foreign_entries()


def refusals_not_audited() -> None:
    """A refused attempt (another tenant's id, a malformed name, a missing permission) is
    refused but no longer written to the audit trail."""
    _require_parameters(
        TenantConfigService._refuse,
        ["self", "caller", "home", "action", "tenant_id", "name", "reason"],
    )
    _require_source(TenantConfigService._admit, "self._refuse(")

    def refuse(self: TenantConfigService, *args: Any) -> None:
        pass

    TenantConfigService._refuse = refuse  # type: ignore[method-assign]


def viewer_sees_secrets() -> None:
    """Secrets are revealed to any caller who may read the configuration, not only to those
    who may reveal secrets: a viewer gets a provider's API key in plain text."""
    _require_parameters(TenantConfigService._shown, ["self", "caller", "home", "row"])
    _require_source(TenantConfigService._shown, "caller.may(Permission.REVEAL_SECRETS)")
    original = TenantConfigService._shown

    def shown(self: TenantConfigService, caller: Principal, home: Region, row: Any) -> Any:
        if caller.may(Permission.READ):
            caller = replace(caller, permissions=caller.permissions | {Permission.REVEAL_SECRETS})
        return original(self, caller, home, row)

    TenantConfigService._shown = shown  # type: ignore[method-assign]


def viewer_may_write() -> None:
    """Changes are checked against the permission to read, not to write: a viewer of the tenant
    may overwrite and delete its settings."""
    _require_parameters(
        TenantConfigService._admit, ["self", "caller", "action", "tenant_id", "name", "permission"]
    )
    _require_source(TenantConfigService.put, "Permission.WRITE")
    _require_source(TenantConfigService.delete, "Permission.WRITE")
    original = TenantConfigService._admit

    def admit(
        self: TenantConfigService, caller: Principal, action: Any, tenant_id: object,
        name: object, permission: Permission,
    ) -> Any:
        if permission is Permission.WRITE:
            permission = Permission.READ
        return original(self, caller, action, tenant_id, name, permission)

    TenantConfigService._admit = admit  # type: ignore[method-assign]


def secret_bound_without_tenant() -> None:
    """A secret's associated data leaves the tenant out: a sealed key copied into another
    tenant's record, under the same setting name in the same region, decrypts there."""
    _require_parameters(tenancy_cipher._associated, ["home", "tenant_id", "name"])
    _require_source(tenancy_cipher.SecretCipher.open, "_associated(home, tenant_id, name)")
    original = tenancy_cipher._associated

    def associated(home: Region, tenant_id: str, name: str) -> bytes:
        return original(home, "", name)

    tenancy_cipher._associated = associated


def tenant_set_for_whole_session() -> None:
    """The tenant a transaction acts for is set for the connection's whole session
    (``set_config(..., false)``) instead of the transaction: a pooled connection carries one
    tenant's identity into the next caller's work."""
    _require_parameters(tenancy_session.act_for, ["conn", "tenant_id"])
    _require_source(tenancy_session.act_for, "set_config(%s, %s, true)")
    _require_source(tenancy_session.tenant_transaction, "act_for(conn, tenant_id)")

    def act_for(conn: Any, tenant_id: str) -> None:
        conn.execute(
            "SELECT set_config(%s, %s, false)", (tenancy_session.keys.TENANT_SETTING, tenant_id)
        )

    tenancy_session.act_for = act_for


def region_ignores_pin() -> None:
    """Region routing ignores the tenant's pinned home and sends all its data to the EU: the
    pin is still recorded, but never read back."""
    _require_parameters(TenantDirectory.region_of, ["self", "tenant_id"])
    _require_source(TenantConfigService._admit, "self._directory.region_of(caller.tenant_id)")

    def region_of(self: TenantDirectory, tenant_id: str) -> Region:
        return Region.EU

    TenantDirectory.region_of = region_of  # type: ignore[method-assign]


def _patch_schema(engine: str, change: Callable[[str], str], what: str) -> None:
    """The databases of ``engine`` ("postgres": the main one, "region": each region's) get
    their schema files as ``change`` leaves them. (A run's embedded services apply the schema
    afresh, in the process that starts them.)"""
    _require_parameters(migrations.schema_files, ["engine"])
    original = migrations.schema_files

    def schema_files(requested: str) -> list[tuple[str, str]]:
        files = original(requested)
        if requested != engine:
            return files
        changed = [(name, change(text)) for name, text in files]
        assert changed != files, f"the {engine} schema no longer has {what}: update the mutant"
        return changed

    migrations.schema_files = schema_files


def _patch_region_schema(change: Callable[[str], str], what: str) -> None:
    _patch_schema("region", change, what)


def row_security_not_forced() -> None:
    """The region tables' row-level security is enabled but not FORCEd: it binds the platform's
    role, but the tables' owner (migrations, maintenance jobs) sees and changes every tenant's
    rows."""
    _patch_region_schema(
        lambda text: text.replace(" FORCE ROW LEVEL SECURITY;", " NO FORCE ROW LEVEL SECURITY;"),
        "FORCE ROW LEVEL SECURITY",
    )


def audit_triggers_dropped() -> None:
    """The audit trail's append-only triggers are lost (a squashed migration, say): the
    platform's role still may not change it (it has no grant), but the tables' owner may."""
    _patch_region_schema(
        lambda text: re.sub(r"CREATE TRIGGER config_audit_no_\w+.*?;", "", text, flags=re.S),
        "the config_audit_no_* triggers",
    )


def _patch_main_schema(change: Callable[[str], str], what: str) -> None:
    _patch_schema("postgres", change, what)


def _without_row_security(table: str) -> Callable[[str], str]:
    """Drops a table's ENABLE, FORCE and isolation policy: a squashed migration that lost them."""

    def change(text: str) -> str:
        text = text.replace(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;", "")
        text = text.replace(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;", "")
        return re.sub(rf"CREATE POLICY {table}_isolation ON {table}.*?;", "", text, flags=re.S)

    return change


def charges_not_isolated() -> None:
    """The ledger of charges has no row-level security: the platform's role reads and writes
    every tenant's charges, whatever tenant its transaction acts for."""
    _patch_main_schema(_without_row_security("billing_events"), "billing_events' policy")


def subscriptions_not_isolated() -> None:
    """The tenants table has no row-level security: any session sees every subscription and may
    change any tenant's tier."""
    _patch_main_schema(_without_row_security("tenants"), "tenants' policy")


def api_keys_policy_open() -> None:
    """The API keys' policy lets every row through (``USING (true)``), as a policy written for
    the handshake's lookup and applied to everyone would."""
    _patch_main_schema(
        lambda text: re.sub(
            r"(CREATE POLICY api_keys_isolation ON api_keys\s+)USING \(.*?\)\)\s+"
            r"WITH CHECK \(.*?\)\);",
            r"\1USING (true) WITH CHECK (true);", text, flags=re.S,
        ),
        "api_keys' isolation policy",
    )


def _granting(grant: str, widened: str) -> Callable[[str], str]:
    """A grant statement written wider than the schema means it (a copy-pasted line)."""

    def change(text: str) -> str:
        return text.replace(grant, widened)

    return change


def ledger_rewritable() -> None:
    """0002: the platform's role may also UPDATE and DELETE charges: a recorded charge can be
    corrected in place, or removed, leaving no trace."""
    _patch_main_schema(
        _granting("GRANT SELECT, INSERT ON billing_events TO apex_app;",
                  "GRANT SELECT, INSERT, UPDATE, DELETE ON billing_events TO apex_app;"),
        "the ledger's insert-only grant",
    )


def ledger_rounds_to_cents() -> None:
    """0001: the ledger's amount column keeps cents, not micro-dollars (``numeric(18, 2)``):
    every charge between two cents is silently rounded when it is stored."""
    _patch_main_schema(
        lambda text: text.replace("amount       numeric(18, 6)", "amount       numeric(18, 2)"),
        "the ledger's micro-dollar amount column",
    )


def region_pin_movable() -> None:
    """0003: the platform's role may UPDATE a tenant's region pin: its data could be declared
    somewhere else than where it is kept."""
    _patch_main_schema(
        _granting("GRANT SELECT, INSERT ON tenant_regions TO apex_app;",
                  "GRANT SELECT, INSERT, UPDATE ON tenant_regions TO apex_app;"),
        "tenant_regions' insert-only grant",
    )


def regions_not_isolated() -> None:
    """0003: the region pins have no row-level security: every session sees where every tenant
    lives."""
    _patch_main_schema(_without_row_security("tenant_regions"), "tenant_regions' policy")


def api_keys_rewritable() -> None:
    """0004: the platform's role may UPDATE every column of an API key, not only revoke it: a
    key's digest can be swapped for one whose key someone else knows."""
    _patch_main_schema(
        _granting("UPDATE (revoked_at) ON api_keys", "UPDATE ON api_keys"),
        "the API keys' revoke-only update grant",
    )


def revoked_keys_accepted() -> None:
    """0005: the handshake's key lookup forgets revocation: a revoked key still opens a
    connection and runs on its tenant's account."""
    _patch_main_schema(
        lambda text: text.replace(" AND k.revoked_at IS NULL", ""),
        "the lookup's revocation check",
    )


def runs_not_isolated() -> None:
    """0006: the agent runs have no row-level security: every session sees every tenant's
    runs (their tasks, their refusals)."""
    _patch_main_schema(_without_row_security("agent_runs"), "agent_runs' policy")


def run_log_rewritable() -> None:
    """0006: the platform's role may UPDATE a run's events: a delivered result can be changed
    after the fact."""
    _patch_main_schema(
        _granting("GRANT SELECT, INSERT ON run_events TO apex_app;",
                  "GRANT SELECT, INSERT, UPDATE ON run_events TO apex_app;"),
        "run_events' insert-only grant",
    )


def saved_steps_not_isolated() -> None:
    """0007: the saved agent steps have no row-level security: every session sees every
    tenant's model answers."""
    _patch_main_schema(_without_row_security("run_steps"), "run_steps' policy")


def saved_steps_rewritable() -> None:
    """0007: the platform's role may UPDATE a saved step: a take-over would resume a run from
    an answer rewritten after the fact."""
    _patch_main_schema(
        _granting("GRANT SELECT, INSERT ON run_steps TO apex_app;",
                  "GRANT SELECT, INSERT, UPDATE ON run_steps TO apex_app;"),
        "run_steps' insert-only grant",
    )


def analytics_collapses_events() -> None:
    """ClickHouse 0001: the usage table's sorting key (which ReplacingMergeTree deduplicates on)
    chosen for the reports' queries, (tenant, kind, period), instead of the event id: every
    event of a tenant's period after the first replaces the one before."""
    _patch_schema(
        "clickhouse",
        lambda text: text.replace("ORDER BY (tenant_id, event_id)",
                                  "ORDER BY (tenant_id, kind, period)"),
        "the usage events' sorting key",
    )


MUTANTS.update({
    "ledger_rewritable": ledger_rewritable,
    "ledger_rounds_to_cents": ledger_rounds_to_cents,
    "region_pin_movable": region_pin_movable,
    "regions_not_isolated": regions_not_isolated,
    "api_keys_rewritable": api_keys_rewritable,
    "revoked_keys_accepted": revoked_keys_accepted,
    "runs_not_isolated": runs_not_isolated,
    "run_log_rewritable": run_log_rewritable,
    "saved_steps_not_isolated": saved_steps_not_isolated,
    "saved_steps_rewritable": saved_steps_rewritable,
    "analytics_collapses_events": analytics_collapses_events,
})


MUTANTS.update({
    "charges_not_isolated": charges_not_isolated,
    "subscriptions_not_isolated": subscriptions_not_isolated,
    "api_keys_policy_open": api_keys_policy_open,
    "cache_key_ignores_tenant": cache_key_ignores_tenant,
    "cache_serves_foreign_entries": cache_serves_foreign_entries,
    "cache_shared_and_trusted": cache_shared_and_trusted,
    "refusals_not_audited": refusals_not_audited,
    "viewer_sees_secrets": viewer_sees_secrets,
    "viewer_may_write": viewer_may_write,
    "secret_bound_without_tenant": secret_bound_without_tenant,
    "tenant_set_for_whole_session": tenant_set_for_whole_session,
    "region_ignores_pin": region_ignores_pin,
    "row_security_not_forced": row_security_not_forced,
    "audit_triggers_dropped": audit_triggers_dropped,
})


# -- Agent state recovery (features/phase2/agent_state_recovery.feature) -------------------------
#
# Defects of a take-over: a worker resuming a run whose worker died. Their imports are here, so
# that this section stands on its own while other sections change.

from apex.orchestration import supervisor as recovery_supervisor  # noqa: E402
from apex.orchestration import worker as recovery_worker  # noqa: E402
from apex.streams.group import ConsumerGroup  # noqa: E402


def takeover_reruns_completed_steps() -> None:
    """A take-over starts the run again from its first step: the checkpoints are written but
    never read back, so the model is asked again for every step that had completed. (Events
    and charge stay keyed, so only the model's bill shows it.)"""
    checkpoints = recovery_worker._RunCheckpoints
    _require_parameters(checkpoints.completed, ["self"])
    _require_source(recovery_supervisor.Supervisor.run, "checkpoints.completed()")

    def completed(self: Any) -> dict[int, Any]:
        return {}

    checkpoints.completed = completed  # type: ignore[method-assign]


def takeover_charges_rerun_step() -> None:
    """A take-over bills the step the dead worker was in twice: the run's cost counts the call
    the dead worker made as well as the one the take-over made, so the tenant is charged more
    than for the same run uninterrupted."""
    supervisor = recovery_supervisor.Supervisor
    _require_parameters(
        supervisor.run, ["self", "tenant_id", "tier", "task", "report", "checkpoints"]
    )
    _require_fields(RunOutcome, {"report", "calls"})
    original = supervisor.run

    def run(
        self: Any, tenant_id: str, tier: str, task: str, report: Any, checkpoints: Any = None
    ) -> RunOutcome:
        before = len(checkpoints.completed()) if checkpoints is not None else 0
        outcome: RunOutcome = original(self, tenant_id, tier, task, report, checkpoints)
        if 0 < before < len(outcome.calls):  # a resumed run: bill its interrupted step again
            outcome = replace(outcome, calls=(*outcome.calls, outcome.calls[before]))
        return outcome

    supervisor.run = run  # type: ignore[method-assign]


def claim_never_reclaims() -> None:
    """A job whose worker died is never claimed by another: the consumer reads only new jobs,
    so a dead worker's run stays running, its client waiting, its slot held."""
    _require_parameters(ConsumerGroup._claim_stale, ["self", "count"])
    _require_source(ConsumerGroup.read, "self._claim_stale(count)")

    def claim_stale(self: ConsumerGroup, count: int) -> list[Any]:
        return []

    ConsumerGroup._claim_stale = claim_stale  # type: ignore[method-assign]


def woken_worker_keeps_working() -> None:
    """A worker never asks whether it still holds its run before an effect: one paused past
    its lease wakes and goes on with a run another worker has finished, asking the model for
    the steps left."""
    events = recovery_worker._RunEvents
    _require_parameters(events.still_held, ["self"])
    _require_source(events.emit, "self.still_held()")

    def still_held(self: Any) -> None:
        return None

    events.still_held = still_held  # type: ignore[method-assign]


MUTANTS.update({
    "woken_worker_keeps_working": woken_worker_keeps_working,
    "takeover_reruns_completed_steps": takeover_reruns_completed_steps,
    "takeover_charges_rerun_step": takeover_charges_rerun_step,
    "claim_never_reclaims": claim_never_reclaims,
})


# -- Store faults and the usage outbox (features/phase2/agent_state_recovery.feature) -----------
#
# Defects of the recovery from a store (Redis) that lost its data, and of the outbox that
# carries usage events to analytics. Their imports are here, so that this section stands on its
# own while other sections change.

from apex import charges as outbox_charges  # noqa: E402
from apex.billing import BillingEvent  # noqa: E402
from apex.platform import Platform  # noqa: E402
from apex.recovery import StoreRecovery  # noqa: E402
from apex.usage import UsageEvent, UsagePublisher, event_id  # noqa: E402


def usage_published_outside_the_ledger_transaction() -> None:
    """The charge stores its ledger row, then publishes the usage event straight to the stream
    (as before the outbox): nothing records that the event still has to reach analytics, so an
    event the store loses before the sink took it is lost for good."""
    _require_parameters(outbox_charges.Charges.record, ["self", "charge"])
    _require_source(outbox_charges.Charges.record, "also=lambda conn: UsageOutbox.add(conn, usage)")
    _require_source(Platform.__init__, "self.charges = Charges(self.ledger, clock)")
    built = Platform.__init__

    def init(self: Platform, settings: Any, clock: Any) -> None:
        built(self, settings, clock)
        self.charges._publisher = UsagePublisher(self.redis)  # type: ignore[attr-defined]

    def record(self: Any, charge: Charge) -> None:
        now = self._clock.now()
        self._ledger.record(BillingEvent(
            charge.tenant_id, charge.kind, charge.reference_id, charge.period, charge.tier,
            charge.units, charge.amount_micros, now,
        ))
        self._publisher.publish_many([UsageEvent(
            event_id(charge.tenant_id, charge.kind.value, charge.reference_id),
            charge.tenant_id, charge.kind.value, charge.reference_id, charge.period, charge.tier,
            charge.units, charge.amount_micros, epoch_millis(now),
        )])

    Platform.__init__ = init  # type: ignore[method-assign]
    outbox_charges.Charges.record = record  # type: ignore[method-assign]


def quota_not_rebuilt_after_data_loss() -> None:
    """restore.lua: a tenant the store lost gets its tier back, but not its quota counter, which
    starts again at zero: a tenant near the end of its quota gets it all again."""
    _patch_lua("restore.lua", "redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[3]))", "")


def health_ready_before_the_rebuild() -> None:
    """Health answers ready as soon as the stores answer, without waiting for the store to be
    rebuilt (the catalog, the consumer groups, the published clock)."""
    _require_parameters(StoreRecovery.ready, ["self"])
    _require_source(StoreRecovery.ready, "self._has_generation()")

    def ready(self: StoreRecovery) -> bool:
        return True

    StoreRecovery.ready = ready  # type: ignore[method-assign]


def outbox_forgets_events_the_store_lost() -> None:
    """0009: the relay takes only events never relayed, not those relayed into a store that has
    since lost them: a usage event lost on its way never reaches analytics."""
    _patch_main_schema(
        lambda text: text.replace(
            "o.relayed_in IS DISTINCT FROM generation", "o.relayed_in IS NULL"
        ),
        "the outbox relay's re-relay of lost events",
    )


def outbox_copy_removed_on_its_last_day() -> None:
    """0010: a confirmed copy is removed once it is as old as the retention, not older: the
    7 days promised are 7 days less an instant."""
    _patch_main_schema(
        lambda text: text.replace(
            "d.delivered_at < confirmed_before", "d.delivered_at <= confirmed_before"
        ),
        "the outbox purge's cut-off",
    )


def outbox_removes_unconfirmed_copies() -> None:
    """0010: the retention counted from the charge (the event's own instant) rather than from
    the analytics' confirmation: a record the analytics never confirmed loses its copy, the
    one thing that would hand it on again."""
    _patch_main_schema(
        lambda text: text.replace(
            "d.delivered_at IS NOT NULL AND d.delivered_at < confirmed_before",
            "d.occurred_at_ms < extract(epoch FROM confirmed_before) * 1000",
        ),
        "the outbox purge's choice of rows",
    )


MUTANTS.update({
    "outbox_copy_removed_on_its_last_day": outbox_copy_removed_on_its_last_day,
    "outbox_removes_unconfirmed_copies": outbox_removes_unconfirmed_copies,
})


MUTANTS.update({
    "usage_published_outside_the_ledger_transaction": (
        usage_published_outside_the_ledger_transaction
    ),
    "quota_not_rebuilt_after_data_loss": quota_not_rebuilt_after_data_loss,
    "health_ready_before_the_rebuild": health_ready_before_the_rebuild,
    "outbox_forgets_events_the_store_lost": outbox_forgets_events_the_store_lost,
})


# -- Message processing dead-letter queue -------------------------------------------------------

import textwrap  # noqa: E402

from apex.analytics import AnalyticsSink  # noqa: E402
from apex.dlq import policy as dlq_policy  # noqa: E402
from apex.dlq import router as dlq_router  # noqa: E402
from apex.dlq import store as dlq_store  # noqa: E402


def _rewrite_method(cls: type, name: str, *changes: tuple[str, str]) -> None:
    """``cls.name`` recompiled from its source with each (old, new) replaced (a condition
    lost, a comparison changed), in its own module's namespace."""
    function = getattr(cls, name)
    source = textwrap.dedent(inspect.getsource(function))
    for old, new in changes:
        assert old in source, f"{cls.__qualname__}.{name} no longer has {old!r}: update the mutant"
        source = source.replace(old, new)
    namespace: dict[str, Any] = {}
    exec(  # the future import keeps annotations lazy, as in the module
        "from __future__ import annotations\n" + source,
        vars(inspect.getmodule(function)), namespace,
    )
    setattr(cls, name, namespace[name])


def dlq_one_delivery_too_many() -> None:
    """The attempt count is off by one: a queue allowing 3 deliveries counts 3 retries, so a
    message that fails every time is delivered 4 times before it is set aside."""
    policy = dlq_policy.DeliveryPolicy
    _rewrite_method(
        policy, "decide", ("deliveries >= self.max_deliveries", "deliveries > self.max_deliveries")
    )
    _rewrite_method(
        policy, "exhausted",
        ("deliveries > self.max_deliveries", "deliveries > self.max_deliveries + 1"),
    )


def dlq_drops_instead_of_dead_lettering() -> None:
    """After its last delivery a message is taken off its queue and never stored: lost."""
    router = dlq_router.DeadLetterRouter
    _require_source(router._dead_letter, "self._dead_letters.dead_letter(", "self._stream.remove(")

    def dead_letter(self: Any, consumer: Any, message: Any, *_args: Any) -> Any:
        self._stream.remove(consumer.stream, consumer.group, message.entry_id, delete=True)
        return dlq_store.Stored("00000000-0000-0000-0000-000000000000", True)

    router._dead_letter = dead_letter  # type: ignore[method-assign]


def dlq_redrive_not_idempotent() -> None:
    """A redrive claims a dead letter whatever its state (and forgets the earlier redrive):
    redriving it again puts the message back on its queue again."""
    _rewrite_method(
        dlq_store.DeadLetters, "_claim", (" AND state = 'dead' AND", " AND"),
        ("redrives = redrives + 1\"",
         "redrives = redrives + 1, redriven_at = NULL, redriven_entry = NULL\""),
    )


def dlq_letters_not_isolated() -> None:
    """0008_dead_letters.sql loses its row-level security: a transaction acting for one
    tenant sees every tenant's dead letters (an operator's list of one tenant shows all)."""
    _patch_main_schema(_without_row_security("dead_letters"), "dead_letters' row security")


def dlq_dead_workers_attempt_not_counted() -> None:
    """A delivery whose worker died is not counted as an attempt: the next worker to receive
    the message after its last allowed delivery runs it once more instead of setting it aside
    (the lazy receive count the feature names)."""
    _rewrite_method(
        dlq_policy.DeliveryPolicy, "exhausted",
        ("return deliveries > self.max_deliveries", "return False"),
    )


def dlq_usage_refusals_dropped() -> None:
    """The analytics sink acknowledges a usage record ClickHouse refused instead of retrying it
    and setting it aside: the record is lost, and nothing tells the operator."""
    _rewrite_method(
        AnalyticsSink, "_insert_alone",
        ("router.failed(self._group, delivery, exc, event.tenant_id)",
         "self._group.ack(delivery.entry_id)"),
    )


MUTANTS.update({
    "dlq_usage_refusals_dropped": dlq_usage_refusals_dropped,
    "dlq_dead_workers_attempt_not_counted": dlq_dead_workers_attempt_not_counted,
    "dlq_one_delivery_too_many": dlq_one_delivery_too_many,
    "dlq_drops_instead_of_dead_lettering": dlq_drops_instead_of_dead_lettering,
    "dlq_redrive_not_idempotent": dlq_redrive_not_idempotent,
    "dlq_letters_not_isolated": dlq_letters_not_isolated,
})
