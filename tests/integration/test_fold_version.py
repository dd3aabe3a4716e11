"""Tables written by other folds are rebuilt from the log, never served stale."""

from __future__ import annotations

import asyncpg

from projections.migrate import ensure_fold_version, migrate


async def test_tables_of_other_folds_are_dropped_and_the_version_recorded(
    scratch_database: str,
) -> None:
    # A fresh, empty projection just records the version: nothing to rebuild.
    assert await ensure_fold_version(scratch_database, 2) is False
    assert await ensure_fold_version(scratch_database, 2) is False
    conn = await asyncpg.connect(scratch_database)
    try:
        await conn.execute(
            "INSERT INTO projection_offsets (topic, partition, next_offset) VALUES ('t', 0, 5)"
        )
    finally:
        await conn.close()
    # The folds change: what was written is stale, so the tables go (the projector replays).
    assert await ensure_fold_version(scratch_database, 3) is True
    await migrate(scratch_database)
    conn = await asyncpg.connect(scratch_database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM projection_offsets") == 0
        assert await conn.fetchval("SELECT value FROM projection_meta") == "3"
    finally:
        await conn.close()
