-- One database per region (apex_eu, apex_us, apex_apac), each holding only the configuration and
-- audit trail of the tenants pinned to that region. Applied as apex_region_owner, which owns the
-- tables; the platform connects as apex_app, which owns nothing.
--
-- Every tenant table has row-level security, FORCEd so that even the owner (migrations,
-- maintenance jobs) sees only the tenant its transaction acts for. The tenant is set per
-- transaction: SELECT set_config('apex.tenant_id', <id>, true), i.e. SET LOCAL.

CREATE TABLE tenant_config (
    tenant_id  text NOT NULL DEFAULT current_setting('apex.tenant_id', true),
    name       text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$' AND length(name) <= 64),
    kind       text NOT NULL CHECK (kind IN ('plain', 'secret')),
    -- plain settings: the value; secrets: NULL (never stored readable)
    value      text,
    -- secrets: AES-256-GCM under the region's key, tenant and setting bound as associated data
    nonce      bytea,
    ciphertext bytea,
    key_id     text,
    version    bigint NOT NULL CHECK (version > 0),
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, name),
    CHECK (
        (kind = 'plain' AND value IS NOT NULL AND ciphertext IS NULL AND nonce IS NULL)
        OR (kind = 'secret' AND value IS NULL AND ciphertext IS NOT NULL AND nonce IS NOT NULL
            AND key_id IS NOT NULL)
    )
);

ALTER TABLE tenant_config ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_config FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_config_isolation ON tenant_config
    USING (tenant_id = (SELECT current_setting('apex.tenant_id', true)))
    WITH CHECK (tenant_id = (SELECT current_setting('apex.tenant_id', true)));

-- Append-only record of every configuration read, write and refused attempt.
CREATE TABLE config_audit (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     text NOT NULL DEFAULT current_setting('apex.tenant_id', true),
    actor         text NOT NULL,
    action        text NOT NULL CHECK (action IN ('read', 'list', 'write', 'delete')),
    -- what the caller addressed, as sent (bounded): may be a crafted id, never trusted
    target_tenant text NOT NULL,
    setting       text,
    outcome       text NOT NULL CHECK (outcome IN ('allowed', 'not_found', 'refused')),
    reason        text,
    at            timestamptz NOT NULL
);

CREATE INDEX config_audit_by_tenant ON config_audit (tenant_id, id);

ALTER TABLE config_audit ENABLE ROW LEVEL SECURITY;
ALTER TABLE config_audit FORCE ROW LEVEL SECURITY;

CREATE POLICY config_audit_isolation ON config_audit
    USING (tenant_id = (SELECT current_setting('apex.tenant_id', true)))
    WITH CHECK (tenant_id = (SELECT current_setting('apex.tenant_id', true)));

-- Triggers fire for every role, the owner included: the trail cannot be rewritten or emptied.
CREATE FUNCTION config_audit_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the configuration audit trail is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER config_audit_no_rewrite
    BEFORE UPDATE OR DELETE ON config_audit
    FOR EACH ROW EXECUTE FUNCTION config_audit_is_append_only();

CREATE TRIGGER config_audit_no_truncate
    BEFORE TRUNCATE ON config_audit
    FOR EACH STATEMENT EXECUTE FUNCTION config_audit_is_append_only();

GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_config TO apex_app;
GRANT SELECT, INSERT ON config_audit TO apex_app;
