-- Outcome.warnings: safety rules in "warn" mode that a run broke (it ran anyway).
ALTER TABLE executions ADD COLUMN warnings text[];
