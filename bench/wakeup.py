"""What one round trip to each service costs on this machine, back to back and after an idle gap.

`python -m bench.wakeup [--base-port 49092] [--samples 100] [--gap-ms 50]`, against the
services of a stack started with that STACK_BASE_PORT (`make bench` leaves none running: start
one with `STACK_BASE_PORT=49092 python -m devstack services --profile bench`). Each probe is timed
back to back (the previous one just answered) and after `--gap-ms` of silence, alternated sample
by sample: a Kafka produce with acks=all (the engine's producers' setting) on a topic of its own
(`bench.wakeup`, created and deleted here), a Kafka produce seen by a consumer waiting in a fetch
(one hop of the engine), a Redis PING and a PostgreSQL `SELECT 1`; and, as the control, no
service at all: this process's own fixed piece of work (reading a 2 MiB buffer a page at a time
and encoding a JSON document, about 0.15 ms), which wakes no other process. An engine's run sends
each hop after tens of ms of its own silence, so the "after a gap" column is what a hop costs in
it. The ratio says how much of that is waking up rather than work; the control's, how much of
waking up is not the hand-off between processes but the code and data a process finds gone
cold. 127.0.0.1 only; bounded by samples.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import asyncpg
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.stack import scratch_topics, services_at
from bench.stats import Summary

TOPIC = "bench.wakeup"
BUFFER = bytearray(2 * 1024 * 1024)
DOCUMENT = {f"key{i}": list(range(10)) for i in range(200)}

Probe = Callable[[], Awaitable[None]]


async def timed(probe: Probe) -> float:
    start = time.perf_counter()
    await probe()
    return (time.perf_counter() - start) * 1000


async def measure(probe: Probe, samples: int, gap_s: float) -> tuple[Summary, Summary]:
    """(back to back, after a gap): each sample of both, alternated."""
    await probe()  # connections made, caches warm
    hot: list[float] = []
    idle: list[float] = []
    for _ in range(samples):
        await probe()
        hot.append(await timed(probe))
        await asyncio.sleep(gap_s)
        idle.append(await timed(probe))
    return Summary.of(hot), Summary.of(idle)


async def main(args: argparse.Namespace) -> None:
    kafka, redis_url, pg_url = services_at(args.base_port)
    async with scratch_topics(kafka, [TOPIC]):
        producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", linger_ms=0)
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka, fetch_max_wait_ms=500, group_id=None)
        redis = aioredis.from_url(redis_url)
        pg = await asyncpg.connect(pg_url)
        try:
            await producer.start()
            await consumer.start()
            consumer.subscribe([TOPIC])
            await consumer.getmany(timeout_ms=2000)

            async def produce() -> None:
                await (await producer.send(TOPIC, b"ping"))

            async def hop() -> None:
                await producer.send(TOPIC, b"ping")
                while not await consumer.getmany(timeout_ms=5000):
                    pass

            async def ping() -> None:
                await redis.ping()

            async def select() -> None:
                await pg.fetchval("SELECT 1")

            async def alone() -> None:
                sum(BUFFER[i] for i in range(0, len(BUFFER), 4096))
                json.dumps(DOCUMENT)

            gap = args.gap_ms / 1000
            rows = []
            for name, probe in (
                ("Kafka produce, acks=all", produce),
                ("Kafka produce -> consumer's fetch", hop),
                ("Redis PING", ping),
                ("PostgreSQL SELECT 1", select),
                ("no service: 0.15 ms of own work", alone),
            ):
                hot, idle = await measure(probe, args.samples, gap)
                rows.append((name, hot, idle))
        finally:
            await consumer.stop()
            await producer.stop()
            await redis.aclose()
            await pg.close()

    print(
        f"One round trip (the control: its work), ms (median / p99 of {args.samples}; after a "
        f"gap: {args.gap_ms} ms idle)"
    )
    print(f"{'probe':36s}  {'back to back':>14s}  {'after a gap':>14s}  ratio of medians")
    for name, hot, idle in rows:
        print(
            f"{name:36s}  {hot.median:6.2f} / {hot.p99:5.2f}  {idle.median:6.2f} / {idle.p99:5.2f}"
            f"  {idle.median / hot.median:5.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-port", type=int, default=49092)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--gap-ms", type=float, default=50)
    asyncio.run(main(parser.parse_args()))
