-- API keys: a tenant's clients authenticate with one when they connect to the gateway.
-- Only a SHA-256 digest of each key is stored; the key itself is shown once, when issued.
CREATE TABLE IF NOT EXISTS api_keys (
    key_digest  text PRIMARY KEY CHECK (key_digest ~ '^[0-9a-f]{64}$'),
    tenant_id   text NOT NULL REFERENCES tenants (tenant_id),
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys (tenant_id);

GRANT SELECT, INSERT, UPDATE (revoked_at) ON api_keys TO apex_app;
