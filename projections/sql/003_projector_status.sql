-- For operators (and the API, later): which projector applies the log, since when, and how far
-- behind the log it was at `updated_at` (events; NULL until measured). One row, written by the
-- projector holding the leader lock about once a second.
CREATE TABLE projector_status (
    name         text PRIMARY KEY,
    holder       text NOT NULL,
    leader_since timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    lag          bigint
);
