"""The `executions` table, the RunFinished event and the HTTP answer agree on the result."""

from __future__ import annotations

import asyncpg
import msgspec

from api.dto import ExecutionResult
from projections.fold import EXECUTION_COLUMNS
from schemas import events


async def test_every_column_of_the_table_is_a_field_and_every_field_a_column(
    scratch_database: str,
) -> None:
    conn = await asyncpg.connect(scratch_database)
    try:
        columns = {
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'executions'"
            )
        }
    finally:
        await conn.close()
    assert columns == set(EXECUTION_COLUMNS), (
        "add a migration for a new field of Outcome or ExecutionRow (or drop the stale column)"
    )
    outcome = {f.name for f in msgspec.structs.fields(events.Outcome)}
    answer = {f.name for f in msgspec.structs.fields(ExecutionResult)}
    assert outcome <= columns and outcome <= answer
