-- Agent runs: the record of each run (its existence claims the request id) and its event log.
-- An event's number is assigned from agent_runs.last_seq in the statement that stores it, so
-- the sequence never restarts, whichever worker appends. Both tables are tenant tables:
-- row-level security, FORCEd, with the tenant set per transaction (SET LOCAL apex.tenant_id).

CREATE TABLE IF NOT EXISTS agent_runs (
    tenant_id  text NOT NULL REFERENCES tenants (tenant_id),
    run_id     text NOT NULL CHECK (run_id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$'),
    state      text NOT NULL
               CHECK (state IN ('deciding', 'queued', 'running', 'succeeded', 'failed', 'refused')),
    task       text NOT NULL,
    -- the admission's terms, once admitted
    tier       text,
    period     text CHECK (period ~ '^[0-9]{4}-[0-9]{2}$'),
    units      integer CHECK (units > 0),
    -- the answer a refused request id was given (shared with every sender of that id)
    refusal    jsonb,
    last_seq   integer NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    -- database time, not the platform clock: a decision left hanging by a dead gateway expires
    -- by real time
    claimed_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, run_id)
);

CREATE TABLE IF NOT EXISTS run_events (
    tenant_id text NOT NULL,
    run_id    text NOT NULL,
    seq       integer NOT NULL CHECK (seq > 0),
    kind      text NOT NULL CHECK (kind IN ('progress', 'result', 'failed')),
    body      jsonb NOT NULL,
    at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, run_id, seq),
    FOREIGN KEY (tenant_id, run_id) REFERENCES agent_runs (tenant_id, run_id)
);

ALTER TABLE agent_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY agent_runs_isolation ON agent_runs
    USING (tenant_id = (SELECT current_setting('apex.tenant_id', true)))
    WITH CHECK (tenant_id = (SELECT current_setting('apex.tenant_id', true)));

ALTER TABLE run_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE run_events FORCE ROW LEVEL SECURITY;
CREATE POLICY run_events_isolation ON run_events
    USING (tenant_id = (SELECT current_setting('apex.tenant_id', true)))
    WITH CHECK (tenant_id = (SELECT current_setting('apex.tenant_id', true)));

-- Events are appended, never rewritten.
GRANT SELECT, INSERT, UPDATE ON agent_runs TO apex_app;
GRANT SELECT, INSERT ON run_events TO apex_app;
