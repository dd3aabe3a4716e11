"""The projector's transaction, alone: what each batch of a run costs it in PostgreSQL.

`python -m bench.projector [--base-port 49092] [--runs 300]` against the PostgreSQL of a stack
started with that STACK_BASE_PORT (or the one `DATABASE_URL` names): in a new database beside
it, migrated and dropped at the end, `Projector.apply` (the engine's code, on one connection, as
the leader runs it; no Kafka, no Redis) applies each run's events as a short run's batches reach
the projector one at a time: its RunRequested; then its RunStarted, output chunk and RunFinished
(the executor sends them together when the run ends within OUTPUT_COALESCE_MS). Printed per kind
of batch: the statements it sent (each a round trip to PostgreSQL, BEGIN and COMMIT included)
and its time, median and p90, the first tenth of the runs left out (asyncpg prepares each
statement on first use). In the engine a batch costs more (the processes are woken
cold, README "Waking up"); this is the part the projector's own code decides.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import os
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord, TopicPartition

from bench.stack import scratch_database, services_at
from eventlog import topics
from projections.migrate import migrate
from projections.projector import Projector
from projections.settings import ProjectorSettings
from schemas import encode, events, new_event

BATCHES = ("RunRequested", "RunStarted + OutputChunk + RunFinished")


@dataclass
class Timed:
    """One kind of batch: its time per run (ms) and the statements each sent."""

    ms: list[float]
    statements: list[int]


def run_events(execution_id: str, at: datetime) -> list[tuple[str, list[events.Event]]]:
    """A python hello world's events, as the projector's polls find them: (topic, events)."""
    request = events.RunRequested(
        execution_id=execution_id,
        session_id=str(uuid.uuid4()),
        language=events.LanguageRef(
            id=str(uuid.uuid4()), key="python", name="Python 3", version="3.11"
        ),
        source_code="print('hello, world')",
        stdin="",
        limits=events.RunLimits(time_limit_ms=5000, memory_mb=256),
        requested_at=at,
    )
    started = events.RunStarted(
        execution_id=execution_id, attempt=1, worker_id="bench", started_at=at
    )
    chunk = events.OutputChunk(
        execution_id=execution_id, attempt=1, stream="stdout", seq=1, data="hello, world\n"
    )
    outcome = events.Outcome(
        status="COMPLETED",
        exit_code=0,
        stdout="hello, world\n",
        stderr="",
        execution_time_ms=18,
        cpu_time_ms=15,
        memory_peak_kb=9000,
    )
    finished = events.RunFinished(
        execution_id=execution_id,
        attempt=1,
        worker_id="bench",
        started_at=at,
        finished_at=at + timedelta(milliseconds=20),
        outcome=outcome,
    )
    return [
        (topics.REQUESTED.name, [request]),
        (topics.EVENTS.name, [started, chunk, finished]),
    ]


async def leader(dsn: str) -> Projector:
    """A projector applying to `dsn` as its leader does (on its own connection; no Kafka to read
    from, no Redis to publish to: batches are handed to `apply`)."""
    settings = ProjectorSettings.from_env(
        {"DATABASE_URL": dsn, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "REDIS_URL": ""}
    )
    projector = Projector(settings, publish=False)
    projector.conn = await asyncpg.connect(dsn)
    return projector


async def measure(dsn: str, runs: int) -> dict[str, Timed]:
    """Apply `runs` runs' batches through the projector on the empty database `dsn`."""
    await migrate(dsn)
    projector = await leader(dsn)
    conn = projector.conn
    assert conn is not None
    sent: list[str] = []
    conn.add_query_logger(lambda query: sent.append(query.query))
    offsets = {topics.REQUESTED.name: 0, topics.EVENTS.name: 0}
    timed = {name: Timed([], []) for name in BATCHES}
    try:
        for _ in range(runs):
            at = datetime.now(UTC)
            for name, (topic, batch) in zip(
                BATCHES, run_events(str(uuid.uuid4()), at), strict=True
            ):
                messages: list[ConsumerRecord[bytes, bytes]] = []
                for event in batch:
                    messages.append(record(topic, offsets[topic], encode(new_event(event))))
                    offsets[topic] += 1
                sent.clear()
                start = time.perf_counter()
                await projector.apply({TopicPartition(topic, 0): messages})
                timed[name].ms.append(1000 * (time.perf_counter() - start))
                timed[name].statements.append(len(sent))
    finally:
        await conn.close()
    return timed


def record(topic: str, offset: int, value: bytes) -> ConsumerRecord[bytes, bytes]:
    """A message at `offset` of partition 0 of `topic`, as the projector's consumer gives it."""
    return ConsumerRecord(
        topic, 0, offset, 0, 0, None, value, None, 0, len(value), []
    )  # fmt: skip


def report(timed: dict[str, Timed]) -> str:
    lines = [f"{'batch':<40} {'statements':>10} {'median ms':>10} {'p90 ms':>8}"]
    for name, t in timed.items():
        hot = sorted(t.ms[len(t.ms) // 10 :])
        statements = statistics.median(t.statements[len(t.statements) // 10 :])
        p90 = hot[min(len(hot) - 1, int(0.9 * len(hot)))]
        lines.append(f"{name:<40} {statements:>10g} {statistics.median(hot):>10.3f} {p90:>8.3f}")
    return "\n".join(lines)


async def main_async(dsn: str, runs: int) -> dict[str, Any]:
    async with scratch_database(dsn, "bench_projector") as scratch:
        timed = await measure(scratch, runs)
    print(report(timed))
    return {name: t.__dict__ for name, t in timed.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--base-port", type=int, default=49092)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    dsn = os.environ.get("DATABASE_URL") or services_at(args.base_port)[2]
    asyncio.run(main_async(dsn, args.runs))


if __name__ == "__main__":
    main()
