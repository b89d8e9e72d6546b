-- The dead-letter queue (apex/dlq): messages a stream consumer gave up on after the queue's
-- allowed deliveries, kept durably here and not in Redis, because the store faults the platform
-- survives include Redis losing all its data.
--
-- One row per (queue, tenant, message): message_id is the stream entry id of the message's
-- first enqueue, carried by every redrive (the stream field "dlq-message"), so a redriven
-- message that fails again comes back to its own row, its earlier dead-lettering appended to
-- history. entry_id is the stream entry last dead-lettered: storing the same entry again (a
-- consumer that crashed between storing and acknowledging it) changes nothing.
--
-- entered_at is when the message entered the dead-letter queue, on the platform clock, and
-- retention counts from it, never from the original enqueue (SQS standard queues keep the
-- enqueue time, so a message can expire from a DLQ the moment it lands there).
--
-- state: dead (waiting for an operator), redriving (a redrive claimed it and is putting it back
-- on its stream; a redrive that stopped half-way is finished by the next one, never repeated:
-- apex.dlq.store), redriven (back on its stream as redriven_entry; kept for the record until
-- retention ends).
--
-- Row-level security, FORCEd like every tenant table (0005): a transaction acting for a tenant
-- sees and writes that tenant's rows only. A message whose tenant could not be read (its
-- payload does not decode) is kept too, never dropped, with tenant_id '' (unattributed): it
-- belongs to no tenant, so only a transaction acting for no tenant sees it.
--
-- Operators work across tenants (list every queue, redrive all, purge, reconcile), and apex_app
-- never reads across tenants: the operator commands ask which tenants have dead letters (or
-- billing events), then act for each tenant in turn, in its own transaction. Those questions are
-- answered by SECURITY DEFINER functions owned by apex_census (created by apex.migrations
-- before this file: cannot log in, no members but the migrator), which may read the tenant
-- column (and queue and state) of dead_letters and billing_events through policies of its own,
-- and nothing else: the functions return tenant ids and counts, never a payload, an error, a
-- message id or an amount. EXECUTE is revoked from PUBLIC and granted to apex_app alone; their
-- search_path is fixed and tables are named with their schema, as for apex_tenant_for_key.

CREATE TABLE IF NOT EXISTS dead_letters (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    queue          text NOT NULL CHECK (queue ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    tenant_id      text NOT NULL
                   CHECK (tenant_id = '' OR tenant_id ~ '^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$'),
    message_id     text NOT NULL CHECK (message_id ~ '^[0-9]+-[0-9]+$'),
    entry_id       text NOT NULL CHECK (entry_id ~ '^[0-9]+-[0-9]+$'),
    -- the stream entry's fields, as a JSON object (apex.dlq.records.encode_fields)
    payload        jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    reason         text NOT NULL CHECK (reason IN ('max_deliveries', 'unprocessable')),
    attempts       integer NOT NULL CHECK (attempts > 0),
    first_error    text NOT NULL,
    last_error     text NOT NULL,
    -- one object per delivery: {"delivery": n, "error": text, "at": iso time}
    errors         jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(errors) = 'array'),
    entered_at     timestamptz NOT NULL,
    state          text NOT NULL DEFAULT 'dead'
                   CHECK (state IN ('dead', 'redriving', 'redriven')),
    -- redrives so far; each redrive's enqueue is de-duplicated under (id, redrives)
    redrives       integer NOT NULL DEFAULT 0 CHECK (redrives >= 0),
    redriven_at    timestamptz,
    redriven_entry text CHECK (redriven_entry ~ '^[0-9]+-[0-9]+$'),
    -- earlier dead-letterings of the same message, oldest first
    history        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(history) = 'array'),
    UNIQUE (queue, tenant_id, message_id),
    CHECK ((state = 'redriven') = (redriven_at IS NOT NULL AND redriven_entry IS NOT NULL))
);

CREATE INDEX IF NOT EXISTS dead_letters_by_tenant ON dead_letters (tenant_id, queue, state);
CREATE INDEX IF NOT EXISTS dead_letters_by_entry_time ON dead_letters (tenant_id, entered_at);

ALTER TABLE dead_letters ENABLE ROW LEVEL SECURITY;
ALTER TABLE dead_letters FORCE ROW LEVEL SECURITY;
-- coalesce: with no tenant set the setting is NULL or '', and both mean "acting for no tenant",
-- which matches the unattributed rows only. A tenant id is never '' (tenant_transaction
-- validates it), so no tenant's transaction sees them.
CREATE POLICY dead_letters_isolation ON dead_letters
    USING (tenant_id = coalesce((SELECT current_setting('apex.tenant_id', true)), ''))
    WITH CHECK (tenant_id = coalesce((SELECT current_setting('apex.tenant_id', true)), ''));

-- Rows are removed only by retention (apex.dlq purge), for the tenant acted for.
GRANT SELECT, INSERT, UPDATE, DELETE ON dead_letters TO apex_app;

-- The census: which tenants operators must act for.
CREATE POLICY dead_letters_census ON dead_letters FOR SELECT TO apex_census USING (true);
CREATE POLICY billing_events_census ON billing_events FOR SELECT TO apex_census USING (true);
GRANT SELECT (id, queue, tenant_id, state) ON dead_letters TO apex_census;
GRANT SELECT (tenant_id) ON billing_events TO apex_census;

-- Tenants with dead letters (in one queue, or in any when queue is NULL), with how many are
-- dead, being redriven and redriven. '' is the unattributed messages.
CREATE FUNCTION apex_dead_letter_tenants(queue_name text)
    RETURNS TABLE (tenant_id text, dead bigint, redriving bigint, redriven bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT d.tenant_id,
           count(*) FILTER (WHERE d.state = 'dead'),
           count(*) FILTER (WHERE d.state = 'redriving'),
           count(*) FILTER (WHERE d.state = 'redriven')
    FROM public.dead_letters AS d
    WHERE queue_name IS NULL OR d.queue = queue_name
    GROUP BY d.tenant_id
    ORDER BY d.tenant_id
$$;

-- The tenant of one dead letter: no row if there is no such entry ('' if unattributed).
CREATE FUNCTION apex_dead_letter_tenant(entry uuid) RETURNS SETOF text
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT d.tenant_id FROM public.dead_letters AS d WHERE d.id = entry
$$;

-- Tenants with at least one billing event (the reconciliation report covers each).
CREATE FUNCTION apex_billed_tenants() RETURNS SETOF text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT DISTINCT b.tenant_id FROM public.billing_events AS b ORDER BY b.tenant_id
$$;

-- A new owner needs CREATE on the functions' schema unless a superuser moves them; it keeps none.
GRANT CREATE ON SCHEMA public TO apex_census;
ALTER FUNCTION apex_dead_letter_tenants(text) OWNER TO apex_census;
ALTER FUNCTION apex_dead_letter_tenant(uuid) OWNER TO apex_census;
ALTER FUNCTION apex_billed_tenants() OWNER TO apex_census;
REVOKE CREATE ON SCHEMA public FROM apex_census;

REVOKE ALL ON FUNCTION apex_dead_letter_tenants(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apex_dead_letter_tenant(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION apex_billed_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apex_dead_letter_tenants(text) TO apex_app;
GRANT EXECUTE ON FUNCTION apex_dead_letter_tenant(uuid) TO apex_app;
GRANT EXECUTE ON FUNCTION apex_billed_tenants() TO apex_app;
