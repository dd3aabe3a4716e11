-- Test cases of a run (RunRequested.test_cases, .comparison) and their verdicts
-- (Outcome.test_results); NULL for a run without test cases.
ALTER TABLE executions
    ADD COLUMN test_cases jsonb,
    ADD COLUMN comparison jsonb,
    ADD COLUMN test_results jsonb;
