-- What a submission through the Judge0-compatible API asked for beyond our own request
-- (RunRequested.judge0, as JSON text: jsonb cannot hold \u0000, which expected_output may).
ALTER TABLE executions ADD COLUMN judge0 text;
-- Outcome.invalid_utf8: the outputs that held bytes which are not UTF-8.
ALTER TABLE executions ADD COLUMN invalid_utf8 text[];
