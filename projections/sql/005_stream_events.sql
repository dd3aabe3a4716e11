-- The live streams of executions and sessions (projections/streams.py): each event numbered
-- 1, 2, 3... per stream in the order the projector recorded it, in the transaction of its rows.
-- GET /executions/{id}/events and GET /code-sessions/{id}/events replay them after a
-- Last-Event-ID and splice the live messages (which carry the same numbers) after them.
CREATE TABLE stream_events (
    stream text NOT NULL CHECK (stream IN ('execution', 'session')),
    key    uuid NOT NULL,
    seq    integer NOT NULL,
    event  text NOT NULL,
    data   text NOT NULL,
    PRIMARY KEY (stream, key, seq)
);
