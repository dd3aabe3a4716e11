"""The projector's SQL, named."""

from __future__ import annotations

from projections.fold import EXECUTION_COLUMNS, SESSION_COLUMNS


def _upsert(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(columns)
    params = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[1:])
    return f"INSERT INTO {table} ({names}) VALUES ({params}) ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}"


SELECT_OFFSETS = "SELECT topic, partition, next_offset FROM projection_offsets"
# One round trip: advance every partition of the batch, then NOTIFY (delivered at commit).
ADVANCE_OFFSETS = (
    "WITH advanced AS ("
    " INSERT INTO projection_offsets (topic, partition, next_offset)"
    " SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])"
    " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset"
    " RETURNING 1)"
    " SELECT pg_notify($4, $5) FROM (SELECT count(*) FROM advanced) AS done"
)
SELECT_SESSIONS = (
    f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions WHERE session_id = ANY($1::uuid[])"
)
UPSERT_SESSION = _upsert("sessions", SESSION_COLUMNS)
SELECT_EXECUTIONS = (
    f"SELECT {', '.join(EXECUTION_COLUMNS)} FROM executions WHERE execution_id = ANY($1::uuid[])"
)
UPSERT_EXECUTION = _upsert("executions", EXECUTION_COLUMNS)
INSERT_OUTPUT = (
    "INSERT INTO execution_output (execution_id, attempt, stream, seq, data) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
)
INSERT_DEAD_LETTER = (
    "INSERT INTO dead_letters (execution_id, attempts, reason, dead_lettered_at) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
)
INSERT_REVISION = (
    "INSERT INTO session_revisions (session_id, revision, event_id, kind, source_code, at) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
)
INSERT_HISTORY = (
    'INSERT INTO execution_history (topic, partition, "offset", execution_id, event_id, type,'
    " version, occurred_at, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    " ON CONFLICT DO NOTHING"
)
