"""The projector's SQL, named."""

from __future__ import annotations

from projections.fold import EXECUTION_COLUMNS, SESSION_COLUMNS


def _upsert(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(columns)
    params = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[1:])
    return f"INSERT INTO {table} ({names}) VALUES ({params}) ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}"


SELECT_OFFSETS = "SELECT topic, partition, next_offset FROM projection_offsets"
# Every partition gets a row when a projector takes the lead, so the row lock below always has a
# row to lock (0: from the beginning of the partition).
INIT_OFFSETS = (
    "INSERT INTO projection_offsets (topic, partition, next_offset)"
    " SELECT topic, partition, 0 FROM unnest($1::text[], $2::int[]) AS p (topic, partition)"
    " ON CONFLICT (topic, partition) DO NOTHING"
)
# First statement of each apply transaction: what is already applied, locked until commit, so the
# messages below it are skipped whoever applied them.
LOCK_OFFSETS = (
    "SELECT o.topic, o.partition, o.next_offset FROM projection_offsets o"
    " JOIN unnest($1::text[], $2::int[]) AS p (topic, partition)"
    " ON (o.topic, o.partition) = (p.topic, p.partition)"
    " FOR UPDATE OF o"
)
# Who holds the projector's leader lock (a bigint key shows as two halves in pg_locks).
LOCK_HOLDER = (
    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.database = ("
    "SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND l.classid::bigint = ($1::bigint >> 32) AND l.objid::bigint = ($1::bigint & 4294967295)"
    " AND l.objsubid = 1"
)
UPSERT_STATUS = (
    "INSERT INTO projector_status (name, holder, leader_since, updated_at, lag)"
    " VALUES ('projector', $1, $2, now(), $3)"
    " ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder,"
    " leader_since = EXCLUDED.leader_since, updated_at = now(), lag = EXCLUDED.lag"
)
SELECT_SESSIONS = (
    f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions WHERE session_id = ANY($1::uuid[])"
)
UPSERT_SESSION = _upsert("sessions", SESSION_COLUMNS)
SELECT_EXECUTIONS = (
    f"SELECT {', '.join(EXECUTION_COLUMNS)} FROM executions WHERE execution_id = ANY($1::uuid[])"
)
UPSERT_EXECUTION = _upsert("executions", EXECUTION_COLUMNS)
INSERT_DEAD_LETTER = (
    "INSERT INTO dead_letters (execution_id, attempts, reason, dead_lettered_at) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
)
INSERT_REVISION = (
    "INSERT INTO session_revisions (session_id, revision, event_id, kind, source_code, at, files) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
)
# One round trip for what a batch appends: its events to `execution_history`, its output chunks to
# `execution_output`, then the offsets advanced (never backwards; none for a replay) and NOTIFYed
# (delivered at commit). Each part is a column array per field, so the statement is the same
# whatever the batch holds (asyncpg prepares it once).
WRITE_BATCH = (
    "WITH history AS ("
    ' INSERT INTO execution_history (topic, partition, "offset", execution_id, event_id, type,'
    " version, occurred_at, payload)"
    " SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::uuid[], $5::uuid[],"
    " $6::text[], $7::int[], $8::timestamptz[], $9::text[])"
    " ON CONFLICT DO NOTHING),"
    " output AS ("
    " INSERT INTO execution_output (execution_id, attempt, stream, seq, data)"
    " SELECT * FROM unnest($10::uuid[], $11::int[], $12::text[], $13::int[], $14::text[])"
    " ON CONFLICT DO NOTHING),"
    " advanced AS ("
    " INSERT INTO projection_offsets (topic, partition, next_offset)"
    " SELECT * FROM unnest($15::text[], $16::int[], $17::bigint[])"
    " ON CONFLICT (topic, partition) DO UPDATE"
    " SET next_offset = GREATEST(projection_offsets.next_offset, EXCLUDED.next_offset)"
    " RETURNING topic, partition, next_offset),"
    " notified AS (SELECT pg_notify($18, string_agg("
    "topic || ':' || partition || ':' || next_offset, ',')) FROM advanced HAVING count(*) > 0)"
    " SELECT topic, partition, next_offset FROM advanced, notified"
)
