-- Tenants and their subscriptions, and the billing ledger.
-- Money is NUMERIC(18,6): exact to the micro-dollar.

CREATE TABLE IF NOT EXISTS tenants (
    tenant_id    text PRIMARY KEY CHECK (tenant_id ~ '^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$'),
    display_name text NOT NULL,
    tier         text NOT NULL CHECK (tier IN ('free', 'early', 'mid', 'enterprise')),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

-- One row per billable fact. (tenant_id, kind, reference_id) makes recording idempotent:
-- a retried request or run is billed once.
CREATE TABLE IF NOT EXISTS billing_events (
    tenant_id    text NOT NULL REFERENCES tenants (tenant_id),
    kind         text NOT NULL CHECK (kind IN ('request', 'agent_run')),
    reference_id text NOT NULL,
    period       text NOT NULL CHECK (period ~ '^[0-9]{4}-[0-9]{2}$'),
    tier         text NOT NULL,
    units        integer NOT NULL CHECK (units > 0),
    amount       numeric(18, 6) NOT NULL CHECK (amount >= 0),
    occurred_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, kind, reference_id)
);

CREATE INDEX IF NOT EXISTS billing_events_by_period ON billing_events (tenant_id, period);
