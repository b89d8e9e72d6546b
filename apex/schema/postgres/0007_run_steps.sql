-- Durable runs: what a run has already done, so that a worker taking over a run whose worker
-- died neither asks the model again for a step that completed nor repeats its effects.
--
-- run_steps: one checkpoint per completed agent step (the model's answer, its usage and cost),
-- written when the step completes; a take-over reads them back instead of calling the model.
-- A checkpoint is written once and never rewritten: apex_app may insert and select only, and
-- the first checkpoint of a step wins (INSERT ... ON CONFLICT DO NOTHING).
--
-- run_events.effect: the key of the effect an event records, for the events a step emits
-- ("step:3:started", "step:3:finished", "result", "failed"). Unique per run, so an event a
-- take-over emits again is stored once, and the client hears it once.

CREATE TABLE IF NOT EXISTS run_steps (
    tenant_id            text NOT NULL,
    run_id               text NOT NULL,
    step                 integer NOT NULL CHECK (step > 0),
    agent                text NOT NULL,
    model                text NOT NULL CHECK (model IN ('small', 'medium', 'large')),
    content              text NOT NULL,
    prompt_tokens        integer NOT NULL CHECK (prompt_tokens >= 0),
    cached_prompt_tokens integer NOT NULL
                         CHECK (cached_prompt_tokens >= 0 AND cached_prompt_tokens <= prompt_tokens),
    completion_tokens    integer NOT NULL CHECK (completion_tokens >= 0),
    cost_micros          bigint NOT NULL CHECK (cost_micros >= 0),
    -- database time: when the step's result became durable
    completed_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, run_id, step),
    FOREIGN KEY (tenant_id, run_id) REFERENCES agent_runs (tenant_id, run_id)
);

ALTER TABLE run_steps ENABLE ROW LEVEL SECURITY;
ALTER TABLE run_steps FORCE ROW LEVEL SECURITY;
CREATE POLICY run_steps_isolation ON run_steps
    USING (tenant_id = (SELECT current_setting('apex.tenant_id', true)))
    WITH CHECK (tenant_id = (SELECT current_setting('apex.tenant_id', true)));

-- Checkpoints are written once, never rewritten.
GRANT SELECT, INSERT ON run_steps TO apex_app;

ALTER TABLE run_events ADD COLUMN IF NOT EXISTS effect text
    CHECK (effect IS NULL OR effect ~ '^[a-z0-9:_-]{1,64}$');
CREATE UNIQUE INDEX IF NOT EXISTS run_events_effect ON run_events (tenant_id, run_id, effect);
