-- The platform connects as apex_app, a role that owns nothing (the migrator creates it with a
-- password before this file runs). It may read and add ledger rows but never rewrite them.
GRANT SELECT, INSERT, UPDATE ON tenants TO apex_app;
GRANT SELECT, INSERT ON billing_events TO apex_app;
