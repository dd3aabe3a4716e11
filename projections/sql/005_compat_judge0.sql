-- What a submission through the Judge0-compatible API asked for beyond our own request
-- (RunRequested.judge0, as JSON text: jsonb cannot hold \u0000, which expected_output may).
ALTER TABLE executions ADD COLUMN judge0 text;
