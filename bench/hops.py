"""Where an end-to-end run's time goes, hop by hop, from the events' own timestamps in Kafka.

posted -> RunRequested (API, before its append) -> RunAccepted (safety agent) -> RunStarted
(executor picked it up) -> RunFinished (sandbox done) -> client saw the result. A run started by
the worker that accepted it (local dispatch) has no RunAccepted: its two middle hops are one. The Kafka record
timestamps (producer clock, ms) are not used: every stamp here is the envelope's occurred_at (µs),
all from this machine's clock.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.client import Timed
from bench.stats import Summary
from eventlog import topics
from schemas import Envelope, SchemaError, decode

STAMPED = {"RunRequested": "requested", "RunAccepted": "accepted", "RunStarted": "started",
           "RunFinished": "finished"}  # fmt: skip
HOPS = (
    ("api until append", "posted", "requested"),
    ("append + safety agent", "requested", "accepted"),
    ("dispatch + executor pick-up", "accepted", "started"),
    # A run the worker that accepted it started itself has no RunAccepted (processors/dispatch.py).
    ("append + safety agent + claim here", "requested", "started"),
    ("RunStarted + sandbox", "started", "finished"),
    ("RunFinished + projector + delivery", "finished", "seen"),
)
LOCAL_ONLY = "append + safety agent + claim here"


async def envelopes_since(
    bootstrap: str, since: float, timeout_s: float
) -> AsyncIterator[tuple[TopicPartition, Envelope[Any]]]:
    """Every decodable event appended to the requested, dispatch and events topics from about
    `since` (epoch s) up to their ends as of now, with its partition; for at most `timeout_s`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        names = (topics.REQUESTED.name, topics.DISPATCH.name, topics.EVENTS.name)
        cluster = await consumer._client.fetch_all_metadata()  # the consumer's own is lazy
        tps = [TopicPartition(n, p) for n in names for p in cluster.partitions_for_topic(n) or ()]
        consumer.assign(tps)
        starts = await consumer.offsets_for_times({tp: int(since * 1000) - 1000 for tp in tps})
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            start = starts.get(tp)
            consumer.seek(tp, start.offset if start is not None else ends[tp])
        remaining = {
            tp for tp in tps if (starts.get(tp) is not None and starts[tp].offset < ends[tp])
        }
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends[tp] - 1:
                        remaining.discard(tp)
                    try:
                        envelope = decode(record.value or b"")
                    except SchemaError:
                        continue
                    yield tp, envelope
    finally:
        await consumer.stop()


async def event_times(bootstrap: str, since: float, ids: set[str]) -> dict[str, dict[str, float]]:
    """execution_id -> {requested, accepted, started, finished: epoch seconds} (first attempt)."""
    found: dict[str, dict[str, float]] = defaultdict(dict)
    async for _, envelope in envelopes_since(bootstrap, since, 30):
        name = STAMPED.get(envelope.type)
        if name and envelope.key in ids and name not in found[envelope.key]:
            found[envelope.key][name] = envelope.occurred_at.timestamp()
    return found


async def breakdown(bootstrap: str, runs: list[Timed]) -> dict[str, Summary]:
    if not runs:
        return {}
    times = await event_times(
        bootstrap, min(r.posted_at for r in runs), {r.execution_id for r in runs}
    )
    samples: dict[str, list[float]] = {name: [] for name, _, _ in HOPS}
    for run in runs:
        stamps = {**times.get(run.execution_id, {}), "posted": run.posted_at, "seen": run.seen_at}
        for name, start, end in HOPS:
            if name == LOCAL_ONLY and "accepted" in stamps:
                continue  # went through the dispatch topic: the two hops above
            if start in stamps and end in stamps:
                samples[name].append((stamps[end] - stamps[start]) * 1000)
    return {name: Summary.of(values) for name, values in samples.items() if values}
