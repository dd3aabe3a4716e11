"""`python -m projections.analytics [--once]`: figures for analytics, read from the log with a
consumer group of its own (`runbox-analytics`), apart from the projector and the agents.

Per language: executions finished, how many completed (the success rate), and percentiles of the
queue wait (requested -> started) and of the run time (the sandbox's wall time of the run step).
The fold (`Figures`) is pure; the consumer only feeds it. The figures are kept in memory, so the
consumer starts from the beginning of the log (kept forever) each time; it commits its offsets so
that its lag shows in the usual Kafka tools. `--once` reads up to the log's current end, prints
the figures as JSON and exits; without it, it prints them every `--every` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from eventlog import topics
from schemas import SchemaError, decode, events

GROUP = "runbox-analytics"
TOPICS = (topics.REQUESTED.name, topics.EVENTS.name)  # the kept log of executions
PERCENTILES = (50, 90, 99)


def percentile(values: list[float], p: int) -> float | None:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Pending:
    """What is known of one execution until it is counted (its events come from two topics, in
    no order across them)."""

    language: str | None = None
    requested_at: datetime | None = None
    started_at: datetime | None = None
    status: str | None = None
    run_ms: float | None = None


@dataclass
class LanguageFigures:
    finished: int = 0
    completed: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    queue_wait_ms: list[float] = field(default_factory=list)
    run_time_ms: list[float] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {
            "executions": self.finished,
            "by_status": dict(sorted(self.by_status.items())),
            "success_rate": round(self.completed / self.finished, 4) if self.finished else None,
            "queue_wait_ms": {f"p{p}": percentile(self.queue_wait_ms, p) for p in PERCENTILES},
            "run_time_ms": {f"p{p}": percentile(self.run_time_ms, p) for p in PERCENTILES},
        }


class Figures:
    """Folds execution events into per-language figures; each execution counts once, at its
    first terminal event (a requeued dead letter keeps its first count)."""

    def __init__(self) -> None:
        self.pending: dict[str, Pending] = {}
        self.counted: set[str] = set()
        self.languages: dict[str, LanguageFigures] = {}

    def apply(self, event: events.Event) -> None:
        if not isinstance(event, events.ExecutionEvent) or event.execution_id in self.counted:
            return
        known = self.pending.setdefault(event.execution_id, Pending())
        request = event if isinstance(event, events.RunRequested) else None
        if isinstance(event, events.DeadLettered):
            request = event.request
            known.started_at = known.started_at or event.started_at
            known.status = "FAILED"
        if request is not None:
            known.language = request.language.key
            known.requested_at = request.requested_at
        if isinstance(event, events.RunStarted) and known.started_at is None:
            known.started_at = event.started_at  # the first attempt's: the wait the user saw
        elif isinstance(event, events.RunFinished):
            known.started_at = known.started_at or event.started_at
            known.status = event.outcome.status
            if event.outcome.execution_time_ms is not None:
                known.run_ms = float(event.outcome.execution_time_ms)
        elif isinstance(event, events.RunRejected):
            known.status = "FAILED"
        if known.language is not None and known.status is not None:
            self._count(event.execution_id, known)

    def _count(self, execution_id: str, known: Pending) -> None:
        assert known.language is not None and known.status is not None
        figures = self.languages.setdefault(known.language, LanguageFigures())
        figures.finished += 1
        figures.completed += known.status == "COMPLETED"
        figures.by_status[known.status] = figures.by_status.get(known.status, 0) + 1
        if known.requested_at is not None and known.started_at is not None:
            wait = (known.started_at - known.requested_at).total_seconds() * 1000
            figures.queue_wait_ms.append(max(0.0, wait))
        if known.run_ms is not None:
            figures.run_time_ms.append(known.run_ms)
        del self.pending[execution_id]
        self.counted.add(execution_id)

    def report(self) -> dict[str, Any]:
        return {key: figures.report() for key, figures in sorted(self.languages.items())}


async def consume(bootstrap: str, once: bool, every_s: float) -> Figures:
    figures = Figures()
    consumer = AIOKafkaConsumer(
        *TOPICS,
        bootstrap_servers=bootstrap,
        group_id=GROUP,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=topics.MAX_MESSAGE_BYTES,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=200)
        assigned = consumer.assignment()
        await consumer.seek_to_beginning(*assigned)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(list(assigned))
        printed = asyncio.get_running_loop().time()
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                for message in messages:
                    try:
                        figures.apply(decode(message.value or b"").payload)
                    except SchemaError:
                        continue  # the projector reports undecodable events; figures skip them
            if batch:
                await consumer.commit()
            if once:
                positions = {tp: await consumer.position(tp) for tp in ends}
                if all(positions[tp] >= end for tp, end in ends.items()):
                    return figures
            elif asyncio.get_running_loop().time() - printed >= every_s:
                print(orjson.dumps(figures.report()).decode(), flush=True)
                printed = asyncio.get_running_loop().time()
    finally:
        await consumer.stop()


def main() -> None:
    import uvloop

    from config import exit_on_bad_settings
    from projections.settings import ProjectorSettings

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--once", action="store_true", help="read to the log's end, print, exit")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between reports")
    args = parser.parse_args()
    settings = exit_on_bad_settings(ProjectorSettings.from_env)
    figures = uvloop.run(consume(settings.kafka_bootstrap_servers, args.once, args.every))
    sys.stdout.write(orjson.dumps(figures.report(), option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
