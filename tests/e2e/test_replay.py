"""The tables are derived: replaying the whole log into empty tables gives the very same rows.

The live projector's tables are snapshotted once it has applied the log's current end; the replay
runs into a scratch database on the same PostgreSQL, created and dropped by the test.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from projections.migrate import drop_all, migrate
from projections.projector import Projector
from projections.settings import ProjectorSettings
from tests.conftest import temporary_database
from tests.e2e.conftest import LOGS, REPO, Engine
from tests.event_log import Offsets, end_offsets, snapshot, wait_projected

Tables = dict[str, list[dict[str, Any]]]


@pytest.fixture
async def scratch_database(engine: Engine) -> AsyncIterator[str]:
    """An empty database beside the live one, dropped afterwards."""
    async with temporary_database(engine.env["DATABASE_URL"], "replay") as dsn:
        yield dsn


async def quiet_snapshot(engine: Engine) -> tuple[Offsets, Tables]:
    """The live tables at a log end that did not move while they were read."""
    bootstrap, live = engine.env["KAFKA_BOOTSTRAP_SERVERS"], engine.env["DATABASE_URL"]
    deadline = time.monotonic() + 120
    while True:
        ends = await end_offsets(bootstrap)
        await wait_projected(live, ends)
        tables = await snapshot(live)
        if await end_offsets(bootstrap) == ends:
            return ends, tables
        assert time.monotonic() < deadline, "the log kept growing for 120 s"
        await asyncio.sleep(0.5)


def assert_same_rows(replayed: Tables, live: Tables) -> None:
    for table, rows in live.items():
        assert len(replayed[table]) == len(rows), (table, len(replayed[table]), len(rows))
        for got, want in zip(replayed[table], rows, strict=True):
            assert got == want, table
    assert replayed == live


async def test_replay_in_process_gives_identical_rows(
    engine: Engine, scratch_database: str
) -> None:
    ends, live = await quiet_snapshot(engine)
    assert live["sessions"] and live["executions"] and live["execution_output"]

    await drop_all(scratch_database)
    await migrate(scratch_database)
    projector = Projector(
        ProjectorSettings(
            kafka_bootstrap_servers=engine.env["KAFKA_BOOTSTRAP_SERVERS"],
            database_url=scratch_database,
            redis_url=engine.env["REDIS_URL"],
        )
    )
    await projector.start()
    stop = asyncio.Event()
    running = asyncio.create_task(projector.run(stop))
    try:
        await wait_projected(scratch_database, ends)
    finally:
        stop.set()
        await running
        await projector.stop()
    assert await end_offsets(engine.env["KAFKA_BOOTSTRAP_SERVERS"]) == ends, "the log moved"
    assert_same_rows(await snapshot(scratch_database), live)


async def test_replay_command_drops_and_rebuilds(engine: Engine, scratch_database: str) -> None:
    """`python -m projections --replay` on a database whose rows are wrong: the log wins."""
    await migrate(scratch_database)
    conn = await asyncpg.connect(scratch_database)
    try:
        await conn.execute(
            "INSERT INTO sessions VALUES ($1, $1, 'ACTIVE', 'not from the log', now(), now())",
            uuid.uuid4(),
        )
    finally:
        await conn.close()
    ends, live = await quiet_snapshot(engine)

    LOGS.mkdir(parents=True, exist_ok=True)
    with (LOGS / "e2e-replay.log").open("ab") as log:
        command = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "projections",
            "--replay",
            env={**engine.env, "DATABASE_URL": scratch_database},
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        await wait_projected(scratch_database, ends)
    finally:
        command.terminate()
        assert await asyncio.wait_for(command.wait(), 20) == 0, f"see {LOGS}/e2e-replay.log"
    assert await end_offsets(engine.env["KAFKA_BOOTSTRAP_SERVERS"]) == ends, "the log moved"
    assert_same_rows(await snapshot(scratch_database), live)
