-- Whether a run takes its stdin live over its WebSocket (RunRequested.interactive).
ALTER TABLE executions ADD COLUMN interactive boolean;
