"""Applies the numbered SQL files of projections/sql/ once each, in order."""

from __future__ import annotations

from pathlib import Path

import asyncpg

SQL = Path(__file__).parent / "sql"
LOCK_ID = 0x72756E626F78  # serialises concurrent migrators (API and projector start together)


def migrations() -> list[Path]:
    return sorted(SQL.glob("[0-9][0-9][0-9]_*.sql"))


async def migrate(dsn: str) -> list[str]:
    """Apply what is missing; return the names applied now."""
    conn = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK_ID)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row["name"] for row in await conn.fetch("SELECT name FROM schema_migrations")}
        for path in migrations():
            if path.name in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
            applied.append(path.name)
    finally:
        await _release(conn)
    return applied


async def ensure_fold_version(dsn: str, version: int) -> bool:
    """Rebuild the tables from scratch when they were written by other folds; True if rebuilt.

    The tables are derived: when a change to the folds changes what they write, the rows already
    written are stale, and the only correct upgrade is to drop them and replay the log.
    """
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK_ID)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS projection_meta (key text PRIMARY KEY, value text NOT NULL)"
        )
        found = await conn.fetchval("SELECT value FROM projection_meta WHERE key = 'fold_version'")
        if found == str(version):
            return False
        written = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'projection_offsets'"
        )
        stale = found is not None or (
            written and await conn.fetchval("SELECT count(*) FROM projection_offsets")
        )
        if stale:
            await _drop(conn)
        await conn.execute(
            "INSERT INTO projection_meta (key, value) VALUES ('fold_version', $1) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            str(version),
        )
        return bool(stale)
    finally:
        await _release(conn)


async def _release(conn: asyncpg.Connection) -> None:
    # A connection lost midway released the lock with it; unlocking would only hide why it failed.
    if not conn.is_closed():
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_ID)
        await conn.close()


async def _drop(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "DROP TABLE IF EXISTS sessions, session_revisions, executions, execution_output, "
        "execution_history, stream_events, dead_letters, projection_offsets, projector_status, "
        "schema_migrations"
    )


async def drop_all(dsn: str) -> None:
    """Drop every derived table (used by replay): the log is the source of truth."""
    conn = await asyncpg.connect(dsn)
    try:
        await _drop(conn)
        await conn.execute("DROP TABLE IF EXISTS projection_meta")
    finally:
        await conn.close()


if __name__ == "__main__":  # `python -m projections.migrate`: what compose's setup service runs
    import asyncio
    import os

    names = asyncio.run(
        migrate(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:15432/runbox"))
    )
    print(f"migrations applied: {', '.join(names) or 'none'}")
