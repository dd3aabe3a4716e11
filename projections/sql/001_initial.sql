-- Tables derived from the event log. Dropping them and replaying the log gives identical rows.

CREATE TABLE sessions (
    session_id   uuid PRIMARY KEY,
    language_id  uuid NOT NULL,
    status       text NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE')),
    source_code  text NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

CREATE TABLE executions (
    execution_id      uuid PRIMARY KEY,
    session_id        uuid,
    language_id       uuid,
    language_key      text,
    language_name     text,
    language_version  text,
    source_code       text,
    stdin             text,
    time_limit_ms     integer,
    memory_mb         integer,
    status            text NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'TIMEOUT')),
    error_code        text,
    error_message     text,
    exit_code         integer,
    signal            integer,
    stdout            text,
    stderr            text,
    compile_output    text,
    stdout_truncated  boolean,
    stderr_truncated  boolean,
    execution_time_ms integer,
    compile_time_ms   integer,
    cpu_time_ms       integer,
    memory_peak_kb    bigint,
    attempt           integer NOT NULL DEFAULT 0,
    worker_id         text,
    queued_at         timestamptz,
    started_at        timestamptz,
    finished_at       timestamptz
);
CREATE INDEX executions_by_session ON executions (session_id, queued_at DESC);

CREATE TABLE execution_output (
    execution_id uuid NOT NULL,
    attempt      integer NOT NULL,
    stream       text NOT NULL,
    seq          integer NOT NULL,
    data         text NOT NULL,
    PRIMARY KEY (execution_id, attempt, stream, seq)
);

CREATE TABLE dead_letters (
    execution_id     uuid PRIMARY KEY,
    attempts         integer NOT NULL,
    reason           text NOT NULL,
    dead_lettered_at timestamptz NOT NULL
);

-- Where the projector is in each partition; written in the same transaction as the rows.
CREATE TABLE projection_offsets (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
