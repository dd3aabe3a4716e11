-- The command-line arguments a run passed its program (RunRequested.args).
ALTER TABLE executions ADD COLUMN args text[];
