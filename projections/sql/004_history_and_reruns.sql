-- Each execution event as the projector read it, with its place in the log (topic, partition,
-- offset): GET /executions/{id}/history answers from here, fast, without reading Kafka. The log
-- stays the record; `python -m projections audit` reads Kafka itself.
CREATE TABLE execution_history (
    topic        text NOT NULL,
    partition    integer NOT NULL,
    "offset"     bigint NOT NULL,
    execution_id uuid NOT NULL,
    event_id     uuid NOT NULL,
    type         text NOT NULL,
    version      integer NOT NULL,
    occurred_at  timestamptz NOT NULL,
    payload      text NOT NULL,  -- the JSON payload (text: jsonb cannot hold \u0000)
    PRIMARY KEY (topic, partition, "offset")
);
CREATE INDEX execution_history_by_execution ON execution_history (execution_id, occurred_at);

-- A re-run of a logged execution names the execution it re-ran (RunRequested.rerun_of).
ALTER TABLE executions ADD COLUMN rerun_of uuid;
