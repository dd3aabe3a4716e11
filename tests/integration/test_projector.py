"""The projector on real Kafka and PostgreSQL: exactly once across crashes, forward only."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import IO

import asyncpg
from aiokafka import AIOKafkaProducer

from eventlog import topics
from schemas import Envelope, encode, events, new_event
from tests.conftest import Stack
from tests.event_log import end_offsets, wait_projected
from tests.samples import T0, run_finished, run_requested

REPO = Path(__file__).resolve().parents[2]


def history(
    execution_id: str, chunks: int, status: str = "COMPLETED"
) -> list[tuple[topics.Topic, events.Event]]:
    # A language no engine has: should live processors see this RunRequested, they reject it.
    request = run_requested(
        execution_id,
        language=events.LanguageRef(id=str(uuid.uuid4()), key="fake", name="Fake", version="0"),
        source_code="for i in range(9): print(i)",
    )
    out: list[tuple[topics.Topic, events.Event]] = [
        (topics.REQUESTED, request),
        (
            topics.EVENTS,
            events.RunStarted(execution_id=execution_id, attempt=1, worker_id="w", started_at=T0),
        ),
    ]
    out += [
        (
            topics.EVENTS,
            events.OutputChunk(
                execution_id=execution_id, attempt=1, stream="stdout", seq=i, data=f"{i}\n"
            ),
        )
        for i in range(1, chunks + 1)
    ]
    out.append(
        (
            topics.EVENTS,
            run_finished(
                execution_id,
                worker_id="w",
                status=status,
                stdout="".join(f"{i}\n" for i in range(1, chunks + 1)),
                execution_time_ms=5,
                cpu_time_ms=4,
                memory_peak_kb=1000,
                started_at=T0,
                finished_at=T0 + timedelta(seconds=1),
            ),
        )
    )
    return out


async def produce(
    producer: AIOKafkaProducer, items: list[tuple[topics.Topic, events.Event]]
) -> list[Envelope[events.Event]]:
    sent = []
    for topic, payload in items:
        envelope = new_event(payload)
        await producer.send(topic.name, encode(envelope), key=envelope.key.encode())
        sent.append(envelope)
    await producer.flush()
    return sent


def start_projector(
    stack: Stack, dsn: str, log: IO[bytes] | None = None, **env: str
) -> subprocess.Popen[bytes]:
    """`python -m projections` on `dsn`; its log lines go to `log` (else nowhere)."""
    return subprocess.Popen(
        [sys.executable, "-m", "projections"],
        env={**os.environ, **stack.env, "DATABASE_URL": dsn, "PROJECTOR_BATCH_SIZE": "7", **env},
        cwd=REPO,
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
    )


async def wait_for_progress(dsn: str, ids: list[str], deadline_s: float = 30) -> None:
    """Until at least one event of `ids` is projected (so a kill lands mid-stream)."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + deadline_s
        query = "SELECT count(*) FROM executions WHERE execution_id = ANY($1::uuid[])"
        while not await conn.fetchval(query, ids):
            assert time.monotonic() < deadline, "the projector made no progress"
            await asyncio.sleep(0.01)
    finally:
        await conn.close()


async def test_each_event_applied_exactly_once_across_kills(
    stack: Stack, scratch_database: str, producer: AIOKafkaProducer
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(40)]
    projector = start_projector(stack, scratch_database)
    try:
        # Four bursts; after each, kill the projector without warning once it has made progress.
        for burst in range(4):
            chunk = ids[burst * 10 : (burst + 1) * 10]
            await produce(
                producer,
                [item for execution_id in chunk for item in history(execution_id, chunks=6)],
            )
            await wait_for_progress(scratch_database, chunk)
            projector.send_signal(signal.SIGKILL)
            projector.wait()
            projector = start_projector(stack, scratch_database)
        await wait_projected(scratch_database, await end_offsets(stack.kafka_bootstrap_servers))
    finally:
        projector.terminate()
        projector.wait(20)

    conn = await asyncpg.connect(scratch_database)
    try:
        chunk_counts = await conn.fetch(
            "SELECT execution_id, count(*) AS n, string_agg(data, '' ORDER BY seq) AS text FROM execution_output "
            "WHERE execution_id = ANY($1::uuid[]) GROUP BY execution_id",
            ids,
        )
        rows = await conn.fetch(
            "SELECT * FROM executions WHERE execution_id = ANY($1::uuid[])", ids
        )
    finally:
        await conn.close()
    assert len(chunk_counts) == len(ids)
    assert {r["n"] for r in chunk_counts} == {6}
    assert {r["text"] for r in chunk_counts} == {"1\n2\n3\n4\n5\n6\n"}
    by_id = {str(r["execution_id"]): r for r in rows}
    # What the produced history says, written out (not recomputed by the fold under test).
    expected = ("COMPLETED", "1\n2\n3\n4\n5\n6\n", T0, 1, "w")
    for execution_id in ids:
        row = by_id[execution_id]
        assert (
            row["status"],
            row["stdout"],
            row["queued_at"],
            row["attempt"],
            row["worker_id"],
        ) == expected


async def test_late_events_never_move_a_finished_execution_back(
    stack: Stack, scratch_database: str, producer: AIOKafkaProducer
) -> None:
    execution_id = str(uuid.uuid4())
    items = history(execution_id, chunks=1, status="TIMEOUT")
    late_start = events.RunStarted(
        execution_id=execution_id, attempt=2, worker_id="late", started_at=T0
    )
    await produce(producer, [*items, (topics.EVENTS, late_start), items[-1]])
    projector = start_projector(stack, scratch_database)
    try:
        await wait_projected(scratch_database, await end_offsets(stack.kafka_bootstrap_servers))
    finally:
        projector.terminate()
        projector.wait(20)
    conn = await asyncpg.connect(scratch_database)
    try:
        row = await conn.fetchrow(
            "SELECT status, worker_id, attempt FROM executions WHERE execution_id = $1",
            uuid.UUID(execution_id),
        )
    finally:
        await conn.close()
    assert row is not None
    assert (row["status"], row["worker_id"], row["attempt"]) == ("TIMEOUT", "w", 1)
