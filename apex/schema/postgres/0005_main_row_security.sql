-- Row-level security on every tenant table of the main database, as in the region databases
-- and tenant_regions (0003): FORCEd, so even the tables' owner is filtered, and keyed on the
-- tenant the current transaction acts for, set with set_config('apex.tenant_id', <id>, true)
-- (SET LOCAL: apex.tenancy.session.tenant_transaction). With no tenant set the setting is NULL
-- or '' and matches no row: the platform's role apex_app reads, changes and adds nothing until
-- a transaction says which tenant it acts for, and then only that tenant's rows.
--
-- Work that spans tenants, and who does it:
--   * migrations and provisioning: the migrator that applies these files. The tables stay owned
--     by it (a superuser in embedded and docker modes, which PostgreSQL never filters). A
--     NOLOGIN owner like the regions' apex_region_owner would add nothing here: FORCE already
--     filters a non-superuser owner, and the one cross-tenant read the platform needs gets a
--     role of its own, narrower than any owner (below).
--   * subscribing a tenant and issuing its keys: apex_app acting for that tenant; WITH CHECK
--     lets a transaction write rows of its own tenant only.
--   * the gateway's handshake, which must learn a key's tenant before any tenant is known:
--     apex_tenant_for_key(digest), a SECURITY DEFINER function answering that one question.
--   * the analytics sink does not use PostgreSQL.
--
-- The lookup function runs as apex_key_lookup (created by apex.migrations before this file):
-- cannot log in, has no members but the migrator, may read three columns of api_keys and,
-- through a policy of its own, every row of them; nothing else. The function compares the
-- primary key for equality and returns one tenant id or NULL, never a digest, so it cannot be
-- made to list keys; EXECUTE is revoked from PUBLIC and granted to apex_app alone. Its
-- search_path is fixed and the table named with its schema, so no object a caller creates
-- can stand in for the ones it uses.

-- (SELECT current_setting(...)) runs once per statement, not once per row.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenants_isolation ON tenants
    USING (tenant_id = (SELECT current_setting('apex.tenant_id', true)))
    WITH CHECK (tenant_id = (SELECT current_setting('apex.tenant_id', true)));

ALTER TABLE billing_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE billing_events FORCE ROW LEVEL SECURITY;
CREATE POLICY billing_events_isolation ON billing_events
    USING (tenant_id = (SELECT current_setting('apex.tenant_id', true)))
    WITH CHECK (tenant_id = (SELECT current_setting('apex.tenant_id', true)));

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_isolation ON api_keys
    USING (tenant_id = (SELECT current_setting('apex.tenant_id', true)))
    WITH CHECK (tenant_id = (SELECT current_setting('apex.tenant_id', true)));
CREATE POLICY api_keys_lookup ON api_keys FOR SELECT TO apex_key_lookup USING (true);

-- A subscription's tier and its timestamp are all the platform ever changes (was: any column).
REVOKE UPDATE ON tenants FROM apex_app;
GRANT UPDATE (tier, updated_at) ON tenants TO apex_app;

GRANT SELECT (key_digest, tenant_id, revoked_at) ON api_keys TO apex_key_lookup;

CREATE FUNCTION apex_tenant_for_key(digest text) RETURNS text
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.tenant_id FROM public.api_keys AS k
    WHERE k.key_digest = digest AND k.revoked_at IS NULL
$$;

-- A new owner needs CREATE on the function's schema unless a superuser moves it; it keeps none.
GRANT CREATE ON SCHEMA public TO apex_key_lookup;
ALTER FUNCTION apex_tenant_for_key(text) OWNER TO apex_key_lookup;
REVOKE CREATE ON SCHEMA public FROM apex_key_lookup;

REVOKE ALL ON FUNCTION apex_tenant_for_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apex_tenant_for_key(text) TO apex_app;
