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
INSERT_REVISION = (
    "INSERT INTO session_revisions (session_id, revision, event_id, kind, source_code, at, files) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
)
# One round trip for everything a batch writes, each part a column array per field (or, for the
# executions' rows, one JSON array of objects whose column types come from the table itself), so
# the statement is the same whatever the batch holds (asyncpg prepares it once): its events to
# `execution_history`, its output chunks to `execution_output`, the executions' rows it changed,
# its dead letters, its live stream events (numbered after what each stream holds, in their order
# within a stream: the numbers come back in the items' order), then the offsets advanced (never
# backwards; none for a replay) and NOTIFYed (delivered at commit).
# Guarded: it writes nothing unless each of the batch's partitions (the last three arrays: each
# one's first offset in the batch) has a stored next offset at or below that first offset, that
# is, nothing of the batch is applied yet; the stored offsets are locked (`FOR UPDATE`: a
# concurrent applier's commit is waited for and seen) before anything is written. On its own
# (autocommit) it is then a whole apply in one round trip.
# Rows back: one per offset advanced (n = 0, seq NULL), then one per stream event (n = its place
# among the items, 1...); or, guard refused, one row with n = -1 and nothing written.
_GUARDED = " WHERE (SELECT ok FROM guard)"
WRITE_BATCH = (
    "WITH firsts AS (SELECT * FROM unnest($28::text[], $29::int[], $30::bigint[])"
    " AS f (topic, partition, first)),"
    " locked AS (SELECT o.next_offset, f.first FROM projection_offsets o JOIN firsts f"
    " ON (o.topic, o.partition) = (f.topic, f.partition) FOR UPDATE OF o),"
    " guard AS (SELECT coalesce(bool_and(next_offset <= first), true) AS ok FROM locked),"
    " history AS ("
    ' INSERT INTO execution_history (topic, partition, "offset", execution_id, event_id, type,'
    " version, occurred_at, payload)"
    " SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::uuid[], $5::uuid[],"
    f" $6::text[], $7::int[], $8::timestamptz[], $9::text[]){_GUARDED}"
    " ON CONFLICT DO NOTHING),"
    " output AS ("
    " INSERT INTO execution_output (execution_id, attempt, stream, seq, data)"
    f" SELECT * FROM unnest($10::uuid[], $11::int[], $12::text[], $13::int[], $14::text[]){_GUARDED}"
    " ON CONFLICT DO NOTHING),"
    f" upserted AS (INSERT INTO executions ({', '.join(EXECUTION_COLUMNS)})"
    f" SELECT {', '.join(EXECUTION_COLUMNS)}"
    f" FROM jsonb_populate_recordset(NULL::executions, $15::jsonb){_GUARDED}"
    " ON CONFLICT (execution_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in EXECUTION_COLUMNS[1:])
    + "),"
    " dead AS ("
    " INSERT INTO dead_letters (execution_id, attempts, reason, dead_lettered_at)"
    f" SELECT * FROM unnest($16::uuid[], $17::int[], $18::text[], $19::timestamptz[]){_GUARDED}"
    " ON CONFLICT DO NOTHING),"
    " items AS (SELECT * FROM unnest($20::text[], $21::uuid[], $22::text[], $23::text[])"
    " WITH ORDINALITY AS i (stream, key, event, data, n)),"
    " numbered AS (SELECT i.*, coalesce((SELECT max(e.seq) FROM stream_events e"
    " WHERE e.stream = i.stream AND e.key = i.key), 0)"
    " + row_number() OVER (PARTITION BY i.stream, i.key ORDER BY i.n) AS seq FROM items i),"
    " stored AS (INSERT INTO stream_events (stream, key, seq, event, data)"
    f" SELECT stream, key, seq, event, data FROM numbered{_GUARDED}),"
    " advanced AS ("
    " INSERT INTO projection_offsets (topic, partition, next_offset)"
    f" SELECT * FROM unnest($24::text[], $25::int[], $26::bigint[]){_GUARDED}"
    " ON CONFLICT (topic, partition) DO UPDATE"
    " SET next_offset = GREATEST(projection_offsets.next_offset, EXCLUDED.next_offset)"
    " RETURNING topic, partition, next_offset),"
    " notified AS (SELECT pg_notify($27, string_agg("
    "topic || ':' || partition || ':' || next_offset, ',')) FROM advanced HAVING count(*) > 0)"
    " SELECT topic, partition, next_offset, NULL::int AS seq, 0::bigint AS n"
    " FROM advanced, notified"
    f" UNION ALL SELECT NULL, NULL, NULL, seq, n FROM numbered{_GUARDED}"
    " UNION ALL SELECT NULL, NULL, NULL, NULL, -1 FROM guard WHERE NOT ok"
    " ORDER BY n"
)
