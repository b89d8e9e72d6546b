-- How long the usage outbox keeps an event the analytics sink confirmed (apex.outbox).
--
-- 0009 kept every outbox row for ever: the table grew by one row per charge. A confirmed row
-- is needed no more (ClickHouse has the event; the ledger row stays in billing_events), so the
-- relay deletes confirmed rows once they are older than the platform's retention. A row the
-- sink has not confirmed is never deleted, however old: it is the only record that the event
-- still has to reach analytics.
--
-- The retention is counted on the platform's clock, as the billing period and the dead-letter
-- retention are (so the suite's test clock moves it): the relay stamps delivered_at with the
-- platform's instant, where 0009 stamped the database's.

CREATE INDEX IF NOT EXISTS usage_outbox_delivered ON usage_outbox (delivered_at)
    WHERE delivered_at IS NOT NULL;

GRANT DELETE ON usage_outbox TO apex_recovery;

DROP FUNCTION apex_usage_outbox_delivered(uuid[]);

CREATE FUNCTION apex_usage_outbox_delivered(events uuid[], confirmed_at timestamptz)
    RETURNS void
    LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE public.usage_outbox AS o SET delivered_at = confirmed_at
    WHERE o.event_id = ANY (events) AND o.delivered_at IS NULL
$$;

-- Deletes up to batch confirmed rows confirmed before the cut-off; returns how many.
CREATE FUNCTION apex_usage_outbox_purge(confirmed_before timestamptz, batch integer)
    RETURNS integer
    LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM public.usage_outbox AS o
        WHERE o.event_id IN (
            SELECT d.event_id FROM public.usage_outbox AS d
            WHERE d.delivered_at IS NOT NULL AND d.delivered_at < confirmed_before
            ORDER BY d.delivered_at
            LIMIT batch
            FOR UPDATE SKIP LOCKED
        )
        RETURNING 1
    )
    SELECT count(*)::integer FROM gone
$$;

GRANT CREATE ON SCHEMA public TO apex_recovery;
ALTER FUNCTION apex_usage_outbox_delivered(uuid[], timestamptz) OWNER TO apex_recovery;
ALTER FUNCTION apex_usage_outbox_purge(timestamptz, integer) OWNER TO apex_recovery;
REVOKE CREATE ON SCHEMA public FROM apex_recovery;

REVOKE ALL ON FUNCTION apex_usage_outbox_delivered(uuid[], timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION apex_usage_outbox_purge(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apex_usage_outbox_delivered(uuid[], timestamptz) TO apex_app;
GRANT EXECUTE ON FUNCTION apex_usage_outbox_purge(timestamptz, integer) TO apex_app;
