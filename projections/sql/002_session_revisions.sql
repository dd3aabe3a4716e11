-- Optimistic concurrency for code sessions: each applied session event is a revision.
ALTER TABLE sessions ADD COLUMN revision integer NOT NULL DEFAULT 1;

-- One row per applied event of a session (created, each autosave, closed): the API tells a
-- writer whether its event became a revision (else 409), and lists a session's history.
CREATE TABLE session_revisions (
    session_id  uuid NOT NULL,
    revision    integer NOT NULL,
    event_id    uuid NOT NULL,
    kind        text NOT NULL,
    source_code text NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (session_id, revision)
);
