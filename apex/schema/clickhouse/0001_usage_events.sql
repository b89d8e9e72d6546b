-- Usage analytics. ReplacingMergeTree on the event id: a redelivered event is stored once, so
-- queries use FINAL to count each event exactly once even before merges run.
CREATE TABLE IF NOT EXISTS usage_events
(
    event_id      String,
    tenant_id     String,
    kind          LowCardinality(String),
    reference_id  String,
    period        String,
    tier          LowCardinality(String),
    units         UInt32,
    amount_micros Int64,
    occurred_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant_id, event_id)
