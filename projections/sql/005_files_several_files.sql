-- Programs of several files: the files besides the entry point (source_code), as a JSON object
-- of relative name to content (text, not jsonb: jsonb cannot hold \u0000, text keeps it escaped).
ALTER TABLE sessions ADD COLUMN files text NOT NULL DEFAULT '{}';
ALTER TABLE session_revisions ADD COLUMN files text NOT NULL DEFAULT '{}';
-- The files a run's snapshot carried (RunRequested.files); null for runs logged before them.
ALTER TABLE executions ADD COLUMN files text;
