-- Outcome.read_bytes .. involuntary_context_switches: what the kernel counted for the run step.
ALTER TABLE executions
    ADD COLUMN read_bytes bigint,
    ADD COLUMN written_bytes bigint,
    ADD COLUMN voluntary_context_switches bigint,
    ADD COLUMN involuntary_context_switches bigint;
