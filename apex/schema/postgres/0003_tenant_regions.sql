-- Where each tenant's configuration lives (data residency). A tenant is pinned to one region
-- once; the pin is never rewritten, so its data is never moved or copied to another region.
-- Row-level security: the platform sees only the row of the tenant its transaction acts for.

CREATE TABLE IF NOT EXISTS tenant_regions (
    tenant_id text PRIMARY KEY REFERENCES tenants (tenant_id),
    region    text NOT NULL CHECK (region IN ('eu', 'us', 'apac')),
    pinned_at timestamptz NOT NULL
);

ALTER TABLE tenant_regions ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_regions FORCE ROW LEVEL SECURITY;

-- (SELECT current_setting(...)) runs once per statement, not once per row. With no tenant set
-- it is NULL or '' and matches nothing.
CREATE POLICY tenant_regions_isolation ON tenant_regions
    USING (tenant_id = (SELECT current_setting('apex.tenant_id', true)))
    WITH CHECK (tenant_id = (SELECT current_setting('apex.tenant_id', true)));

GRANT SELECT, INSERT ON tenant_regions TO apex_app;
