-- The usage outbox, and the platform's recovery work across tenants (apex.outbox,
-- apex.recovery).
--
-- usage_outbox: one row per usage event, written in the same transaction as the ledger row it
-- describes (billing_events), so a charge and its analytics record are stored together or not
-- at all. The platform (apex_app, acting for the tenant) inserts and reads its tenant's rows;
-- it never rewrites one. The relay's state (the store generation a row was last relayed into,
-- its stream entry, when the analytics sink confirmed it) is written only by apex_recovery.
--
-- apex_recovery (created here, cannot log in, owns nothing but the functions below) relays the
-- rows of every tenant, and, after the store lost its data, lists the runs admitted and not
-- finished so that their jobs are queued again. Its functions are SECURITY DEFINER, with a
-- fixed search_path, EXECUTE granted to apex_app alone; none returns anything but what the
-- relay or the rebuild needs.

-- Created here rather than by apex.migrations (as apex_key_lookup is); a migrator that is not a
-- superuser is made a member, as owning the functions for it requires.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'apex_recovery') THEN
        CREATE ROLE apex_recovery NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT apex_recovery TO %I', current_user);
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS usage_outbox (
    tenant_id      text NOT NULL,
    kind           text NOT NULL,
    reference_id   text NOT NULL,
    event_id       uuid NOT NULL UNIQUE,
    period         text NOT NULL CHECK (period ~ '^[0-9]{4}-[0-9]{2}$'),
    tier           text NOT NULL,
    units          integer NOT NULL CHECK (units > 0),
    amount_micros  bigint NOT NULL CHECK (amount_micros >= 0),
    occurred_at_ms bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- the relay's state: the store generation (apex.recovery) the event was last put on the
    -- usage stream in, its entry there, and when the analytics sink acknowledged that entry
    relayed_in     text,
    entry_id       text CHECK (entry_id ~ '^[0-9]+-[0-9]+$'),
    delivered_at   timestamptz,
    PRIMARY KEY (tenant_id, kind, reference_id),
    FOREIGN KEY (tenant_id, kind, reference_id)
        REFERENCES billing_events (tenant_id, kind, reference_id)
);

CREATE INDEX IF NOT EXISTS usage_outbox_undelivered ON usage_outbox (created_at)
    WHERE delivered_at IS NULL;

ALTER TABLE usage_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY usage_outbox_isolation ON usage_outbox
    USING (tenant_id = (SELECT current_setting('apex.tenant_id', true)))
    WITH CHECK (tenant_id = (SELECT current_setting('apex.tenant_id', true)));
CREATE POLICY usage_outbox_relay ON usage_outbox TO apex_recovery USING (true) WITH CHECK (true);

GRANT SELECT, INSERT ON usage_outbox TO apex_app;
GRANT SELECT ON usage_outbox TO apex_recovery;
GRANT UPDATE (relayed_in, entry_id, delivered_at) ON usage_outbox TO apex_recovery;

CREATE POLICY agent_runs_recovery ON agent_runs FOR SELECT TO apex_recovery USING (true);
GRANT SELECT (tenant_id, run_id, state, tier, period, units, task) ON agent_runs
    TO apex_recovery;

-- Events to put on the usage stream: not yet confirmed by the sink, and not relayed into the
-- store's current generation (never relayed, or relayed into a store that lost them). Locked
-- until the caller's transaction ends, so two relays do not take the same rows.
CREATE FUNCTION apex_usage_outbox_due(generation text, batch integer)
    RETURNS TABLE (event_id uuid, tenant_id text, kind text, reference_id text, period text,
                   tier text, units integer, amount_micros bigint, occurred_at_ms bigint)
    LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT o.event_id, o.tenant_id, o.kind, o.reference_id, o.period, o.tier, o.units,
           o.amount_micros, o.occurred_at_ms
    FROM public.usage_outbox AS o
    WHERE o.delivered_at IS NULL AND o.relayed_in IS DISTINCT FROM generation
    ORDER BY o.created_at
    LIMIT batch
    FOR UPDATE SKIP LOCKED
$$;

CREATE FUNCTION apex_usage_outbox_relayed(generation text, events uuid[], entries text[])
    RETURNS void
    LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE public.usage_outbox AS o SET relayed_in = generation, entry_id = e.entry
    FROM unnest(events, entries) AS e (id, entry)
    WHERE o.event_id = e.id AND o.delivered_at IS NULL
$$;

-- Events on the stream of the current generation, waiting for the sink's acknowledgement.
CREATE FUNCTION apex_usage_outbox_in_flight(generation text, batch integer)
    RETURNS TABLE (event_id uuid, entry_id text)
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT o.event_id, o.entry_id FROM public.usage_outbox AS o
    WHERE o.delivered_at IS NULL AND o.relayed_in = generation
    ORDER BY o.created_at
    LIMIT batch
$$;

CREATE FUNCTION apex_usage_outbox_delivered(events uuid[]) RETURNS void
    LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE public.usage_outbox AS o SET delivered_at = clock_timestamp()
    WHERE o.event_id = ANY (events) AND o.delivered_at IS NULL
$$;

-- Runs admitted and not finished (their jobs are queued again after the store lost them).
CREATE FUNCTION apex_runs_in_flight()
    RETURNS TABLE (tenant_id text, run_id text, tier text, period text, units integer,
                   task text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.tenant_id, r.run_id, r.tier, r.period, r.units, r.task
    FROM public.agent_runs AS r
    WHERE r.state IN ('queued', 'running') AND r.units IS NOT NULL
    ORDER BY r.tenant_id, r.run_id
$$;

-- A new owner needs CREATE on the functions' schema unless a superuser moves them; it keeps none.
GRANT CREATE ON SCHEMA public TO apex_recovery;
ALTER FUNCTION apex_usage_outbox_due(text, integer) OWNER TO apex_recovery;
ALTER FUNCTION apex_usage_outbox_relayed(text, uuid[], text[]) OWNER TO apex_recovery;
ALTER FUNCTION apex_usage_outbox_in_flight(text, integer) OWNER TO apex_recovery;
ALTER FUNCTION apex_usage_outbox_delivered(uuid[]) OWNER TO apex_recovery;
ALTER FUNCTION apex_runs_in_flight() OWNER TO apex_recovery;
REVOKE CREATE ON SCHEMA public FROM apex_recovery;

REVOKE ALL ON FUNCTION apex_usage_outbox_due(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION apex_usage_outbox_relayed(text, uuid[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION apex_usage_outbox_in_flight(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION apex_usage_outbox_delivered(uuid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION apex_runs_in_flight() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apex_usage_outbox_due(text, integer) TO apex_app;
GRANT EXECUTE ON FUNCTION apex_usage_outbox_relayed(text, uuid[], text[]) TO apex_app;
GRANT EXECUTE ON FUNCTION apex_usage_outbox_in_flight(text, integer) TO apex_app;
GRANT EXECUTE ON FUNCTION apex_usage_outbox_delivered(uuid[]) TO apex_app;
GRANT EXECUTE ON FUNCTION apex_runs_in_flight() TO apex_app;
