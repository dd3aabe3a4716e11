"""`python -m bench.projector`, a few runs on real PostgreSQL: each run's batches are really
applied (its row ends COMPLETED with its output), each batch is timed and its statements
counted, and its scratch database is gone afterwards."""

from __future__ import annotations

import asyncpg

from bench import projector
from bench.stack import scratch_database
from tests.conftest import Stack, temporary_database


async def test_each_run_is_projected_and_each_batch_timed(stack: Stack) -> None:
    async with temporary_database(stack.database_url, "benchprojector") as dsn:
        timed = await projector.measure(dsn, runs=4)
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT status, stdout FROM executions")
            told = await conn.fetchval("SELECT count(*) FROM stream_events")
        finally:
            await conn.close()
    assert [(r["status"], r["stdout"]) for r in rows] == [("COMPLETED", "hello, world\n")] * 4
    assert told > 0
    assert list(timed) == list(projector.BATCHES)
    for kind in timed.values():
        assert len(kind.ms) == 4 and all(ms > 0 for ms in kind.ms)
        # at least the batch's write, each statement a round trip
        assert all(n >= 1 for n in kind.statements), kind.statements
    assert "RunStarted + OutputChunk + RunFinished" in projector.report(timed)


async def test_the_scratch_database_is_dropped(stack: Stack) -> None:
    async with scratch_database(stack.database_url, "bench_projector") as dsn:
        name = dsn.rsplit("/", 1)[1]
    conn = await asyncpg.connect(stack.database_url)
    try:
        left = await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name)
    finally:
        await conn.close()
    assert left == 0
