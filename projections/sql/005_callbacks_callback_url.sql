-- Where a run's result is POSTed when it ends (RunRequested.callback_url): a requeued dead letter
-- is rebuilt from its row, and keeps its callback.
ALTER TABLE executions ADD COLUMN callback_url text;
