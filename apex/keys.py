"""Every Redis key, stream and channel name, and every table name, in one place."""

from __future__ import annotations

PREFIX = "apex"

#: Hash: tier name -> "requests_per_month:concurrent_runs" (published from the catalog).
TIER_LIMITS = f"{PREFIX}:tiers"
#: Stream of usage events, consumed by the analytics sink.
USAGE_STREAM = f"{PREFIX}:usage"
USAGE_SINK_GROUP = "analytics-sink"


def tenant_tier(tenant_id: str) -> str:
    """String: the tier a tenant is on (enforcement copy of the subscription)."""
    return f"{PREFIX}:tenant:{{{tenant_id}}}:tier"


def quota_used(tenant_id: str, period: str) -> str:
    """Counter: requests admitted for a tenant in a billing period."""
    return f"{PREFIX}:tenant:{{{tenant_id}}}:quota:{period}"


def run_leases(tenant_id: str) -> str:
    """Sorted set: run id -> lease expiry (epoch ms) of the tenant's running runs."""
    return f"{PREFIX}:tenant:{{{tenant_id}}}:runs"


def admission(tenant_id: str, request_id: str) -> str:
    """String: the admission of a request id, so a retried request is decided once."""
    return f"{PREFIX}:tenant:{{{tenant_id}}}:admitted:{request_id}"


def test_clock(namespace: str) -> str:
    """String: the instant (epoch microseconds) a suite's test clock publishes for platform
    processes (``apex.clock.RedisClock``), one per deployment namespace."""
    return f"{PREFIX}:clock:{namespace}"


def run_jobs(namespace: str) -> str:
    """Stream: agent-run jobs from the gateways to the orchestration workers of a deployment."""
    return f"{PREFIX}:{namespace}:runs:jobs"


#: Consumer group of the orchestration workers on ``run_jobs``.
RUN_WORKERS_GROUP = "orchestration-workers"

#: String: the store's generation, a random id written (with the tier catalog, in one
#: transaction) once the platform has rebuilt what it keeps in Redis (``apex.recovery``). Missing
#: means the store is new or lost its data: not ready, nothing admitted until it is rebuilt.
STORE_GENERATION = f"{PREFIX}:store:generation"
#: String: held (with an expiry) by the one process rebuilding the store.
STORE_REBUILDING = f"{PREFIX}:store:rebuilding"


# PostgreSQL tables
TENANTS_TABLE = "tenants"
AGENT_RUNS_TABLE = "agent_runs"
RUN_EVENTS_TABLE = "run_events"
#: Checkpoints of a run's completed agent steps.
RUN_STEPS_TABLE = "run_steps"
API_KEYS_TABLE = "api_keys"
BILLING_EVENTS_TABLE = "billing_events"
#: Usage events written with their ledger rows, relayed to ``USAGE_STREAM`` (``apex.outbox``).
USAGE_OUTBOX_TABLE = "usage_outbox"
#: Function: the tenant of a live API-key digest, or NULL (the one read of ``api_keys`` made
#: before any tenant is known: the gateway's handshake).
API_KEY_LOOKUP_FUNCTION = "apex_tenant_for_key"
# ClickHouse tables
USAGE_EVENTS_TABLE = "usage_events"


# Tenant configuration (apex.tenancy)


def tenant_config_cache(tenant_id: str) -> str:
    """Hash: setting name -> cached entry (JSON, secrets sealed) of a tenant's configuration.

    Lives in the Redis database of the tenant's region; the tenant id is validated before it
    gets here, so nothing a caller sends can name another tenant's hash."""
    return f"{PREFIX}:tenant:{{{tenant_id}}}:config"


# Tenant configuration tables: TENANT_REGIONS in the main database, the others in each region's.
TENANT_REGIONS_TABLE = "tenant_regions"
TENANT_CONFIG_TABLE = "tenant_config"
CONFIG_AUDIT_TABLE = "config_audit"
#: The setting that carries the tenant a transaction acts for (read by every RLS policy).
TENANT_SETTING = "apex.tenant_id"


# The dead-letter queue (apex.dlq)

#: Table of dead letters (``apex/schema/postgres/0008_dead_letters.sql``).
DEAD_LETTERS_TABLE = "dead_letters"
#: Function: tenants with dead letters, with counts by state (the operators' census).
DEAD_LETTER_TENANTS_FUNCTION = "apex_dead_letter_tenants"
#: Function: the tenant of one dead letter.
DEAD_LETTER_TENANT_FUNCTION = "apex_dead_letter_tenant"
#: Function: tenants with at least one billing event.
BILLED_TENANTS_FUNCTION = "apex_billed_tenants"

#: Stream field a redriven message carries: the id of its first enqueue, which names it in the
#: dead-letter queue for good, so a redriven message that fails again returns to its own entry.
DLQ_MESSAGE_ID_FIELD = "dlq-message"

#: The tenant id of a dead letter whose tenant could not be read (it is kept, never dropped).
UNATTRIBUTED = ""


def dlq_failure_notes(stream: str, message_id: str) -> str:
    """Hash: the errors of a message's failed deliveries while it is retried (delivery number ->
    error), next to the message in the same store: if Redis loses them it lost the message too,
    and once the message is dead-lettered they move to PostgreSQL."""
    return f"{PREFIX}:dlq:notes:{stream}:{message_id}"


def dlq_redrive_marker(entry: str, redrive: int) -> str:
    """String: the stream entry id one redrive of a dead letter enqueued; it makes the enqueue
    happen once however many times the redrive is attempted."""
    return f"{PREFIX}:dlq:redrive:{entry}:{redrive}"
