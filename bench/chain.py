"""The latency floor of one run on this design: its fewest hand-offs, timed with no engine code.

`python -m bench.chain [--base-port 49092] [--runs 200] [--program-ms 20] [--gap-ms 50]`,
against the services of a stack started with that STACK_BASE_PORT (`python -m devstack services
--profile NAME`; `make bench` leaves none running), or those KAFKA_BOOTSTRAP_SERVERS, REDIS_URL
and DATABASE_URL name when all three are set. It runs no part of the engine: three small
processes of its own, written with the engine's client libraries and settings (uvicorn and
Litestar, aiokafka with acks=all, asyncpg, redis-py), pass each run along the fewest hand-offs
the design allows, and this process is the client:

- api: `POST /runs` appends the request to a topic (acks=all) and answers 202 once it is acked;
  `GET /runs/{id}/result` waits for the run's terminal state (subscribed first, then the row
  read, as any stream that must not miss it), woken by one Redis subscription per process;
- worker: a consumer of the requests (no group: no coordination) that appends "started" without
  waiting for its ack, runs the stand-in program (`asyncio.sleep(--program-ms)`: the services
  idle while it runs, as they do while a sandbox runs; with `--program-ms 0`, as root, a real
  one: python hello world through `Sandbox.run`, warm as the engine's, as users of its own),
  appends "finished" and awaits both acks;
- projector: a consumer of the requests and the events that writes each batch's rows and its
  offsets in one statement (one round trip, its own transaction), then publishes each terminal
  state to the API's channel.

Left out though the engine needs them, so the floor is lower than any engine of this design:
admission (rate limits, queue caps), the safety rules, the claim that makes an attempt run once,
the live output, the consumer groups, traces, logs and metrics, and the sandbox's own work
around the program.

The client sends one run at a time, `--gap-ms` after the previous one ended, `--warmup` first;
for each it takes the time from before the POST to the terminal state in hand (end to end) and
the overhead: end to end less the stand-in program's own time as measured in the worker, as
`make bench` takes the engine's (end to end less the run's finished_at - started_at). Each
process stamps the run as it passes (time.time(): one machine, one clock), which splits it into
the stages printed. 127.0.0.1 only; bounded by `--runs`; its topics, tables and channel are its
own and removed at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import functools
import os
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Any

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from litestar import Litestar, Response, get, post

from bench.stack import helper, scratch_topics, services_at, stop_helpers
from bench.stats import Summary

REQUESTS = "bench.chain.requests"
EVENTS = "bench.chain.events"
CHANNEL = "bench.chain"
TABLE = "bench_chain"
OFFSETS = "bench_chain_offsets"
ENV = ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "DATABASE_URL")


async def latest(kafka: str, *topics: str) -> AIOKafkaConsumer:
    """A consumer of partition 0 of each topic from its end, waiting in a fetch as the
    engine's consumers do (no group: nothing to coordinate)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=None, enable_auto_commit=False)
    partitions = [TopicPartition(topic, 0) for topic in topics]
    consumer.assign(partitions)
    await consumer.start()
    await consumer.seek_to_end()
    for partition in partitions:  # resolved now: a record appended after "ready" is read
        await consumer.position(partition)
    return consumer


def from_env() -> tuple[str, str, str]:
    """The services a helper process was given (spawn)."""
    kafka, redis_url, pg_url = (os.environ[name] for name in ENV)
    return kafka, redis_url, pg_url


def serve(port: int) -> None:
    """The api: POST a run (appended, acked, 202), GET its terminal state (waits for it)."""
    kafka, redis_url, pg_url = from_env()
    waiters: dict[int, asyncio.Future[tuple[bytes, float]]] = {}
    held: dict[str, Any] = {}

    @post("/runs", status_code=202)
    async def run(data: dict[str, Any]) -> dict[str, Any]:
        received = time.time()
        await (await held["producer"].send(REQUESTS, orjson.dumps(data | {"received": received})))
        return {"id": data["id"], "appended": time.time()}

    @get("/runs/{run_id:int}/result")
    async def result(run_id: int) -> Response[bytes]:
        waiter: asyncio.Future[tuple[bytes, float]] = asyncio.get_running_loop().create_future()
        waiters[run_id] = waiter  # subscribed before the row is read: nothing falls between
        try:
            body = await held["pg"].fetchval(
                f"SELECT body FROM {TABLE} WHERE id = $1 AND state = 2", run_id
            )
            if body is not None:
                return Response(body.encode(), media_type="application/json")
            message, delivered = await asyncio.wait_for(waiter, 10)
        finally:
            waiters.pop(run_id, None)
        answer = orjson.loads(message) | {"delivered": delivered}
        return Response(orjson.dumps(answer), media_type="application/json")

    async def listen(pubsub: Any) -> None:
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            run_id, _, body = message["data"].partition(b" ")
            waiter = waiters.get(int(run_id))
            if waiter is not None and not waiter.done():
                waiter.set_result((body, time.time()))

    class Ready(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            held["producer"] = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", linger_ms=0)
            await held["producer"].start()
            held["pg"] = await asyncpg.create_pool(pg_url, min_size=2, max_size=2)
            pubsub = aioredis.from_url(redis_url).pubsub()
            await pubsub.subscribe(CHANNEL)
            held["listener"] = asyncio.ensure_future(listen(pubsub))
            await super().startup(sockets)
            print("ready", flush=True)

    config = uvicorn.Config(
        Litestar([run, result]), host="127.0.0.1", port=port, log_level="warning",
        access_log=False, loop="uvloop", http="httptools", lifespan="off",
        timeout_keep_alive=3600,
    )  # fmt: skip
    Ready(config).run()


async def work(program_ms: float) -> None:
    """The worker: started (not awaited), the stand-in program, finished, both acks. With
    `program_ms` 0 the program is a real one: python hello world through `Sandbox.run` (root;
    as the bench's own sandboxes, as users of its own: bench.isolation.own_users)."""
    kafka, _, _ = from_env()
    consumer = await latest(kafka, REQUESTS)
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", linger_ms=0)
    await producer.start()
    program = await warm_hello_world() if program_ms == 0 else None
    print("ready", flush=True)
    async for record in consumer:
        picked = time.time()
        request = orjson.loads(record.value)
        started = await producer.send(EVENTS, orjson.dumps({"id": request["id"], "state": 1}))
        began = time.time()
        if program is None:
            await asyncio.sleep(program_ms / 1000)
        else:
            await program()
        ran = time.time()
        finished = request | {"state": 2, "picked": picked, "began": began, "ran": ran}
        acked = await producer.send(EVENTS, orjson.dumps(finished))
        await started
        await acked


async def warm_hello_world() -> Callable[[], Awaitable[None]]:
    """A python hello world through a sandbox of this process (warm sets filled first)."""
    from bench.isolation import hello_world, own_users
    from sandbox import Sandbox, SandboxSettings

    sandbox = Sandbox(own_users(SandboxSettings(slots=1), 200))
    for _ in range(5):
        await hello_world(sandbox)
    return functools.partial(hello_world, sandbox)


async def project() -> None:
    """The projector: each batch's rows and offsets in one statement, then the publishes."""
    kafka, redis_url, pg_url = from_env()
    consumer = await latest(kafka, REQUESTS, EVENTS)
    pg = await asyncpg.connect(pg_url)
    redis = aioredis.from_url(redis_url)
    write = (
        f"WITH rows AS (INSERT INTO {TABLE} (id, state, body) "
        "SELECT * FROM unnest($1::int[], $2::int[], $3::jsonb[]) "
        "ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, body = EXCLUDED.body "
        f"WHERE {TABLE}.state < EXCLUDED.state) "
        f"INSERT INTO {OFFSETS} (topic, next) SELECT * FROM unnest($4::text[], $5::bigint[]) "
        "ON CONFLICT (topic) DO UPDATE SET next = EXCLUDED.next"
    )
    print("ready", flush=True)
    while True:
        batch = await consumer.getmany(timeout_ms=1000)
        if not batch:
            continue
        rows: dict[int, dict[str, Any]] = {}
        for records in batch.values():
            for record in records:
                value = orjson.loads(record.value)
                value.setdefault("state", 0)  # a request; "started" is 1, "finished" 2
                if value["id"] not in rows or rows[value["id"]]["state"] < value["state"]:
                    rows[value["id"]] = value
        offsets = {tp.topic: records[-1].offset + 1 for tp, records in batch.items()}
        await pg.execute(
            write, list(rows), [r["state"] for r in rows.values()],
            [orjson.dumps(r).decode() for r in rows.values()], list(offsets),
            list(offsets.values()),
        )  # fmt: skip
        projected = time.time()
        for run_id, value in rows.items():
            if value["state"] == 2:
                message = orjson.dumps(value | {"projected": projected})
                await redis.publish(CHANNEL, f"{run_id} ".encode() + message)


def spawn(services: tuple[str, str, str], *args: str) -> subprocess.Popen[bytes]:
    """A process of the chain, given the services, ready when it says so."""
    return helper("bench.chain", *args, env=os.environ | dict(zip(ENV, services, strict=True)))


async def one_run(client: httpx.AsyncClient, run_id: int) -> dict[str, float]:
    posted = time.time()
    accepted = await client.post("/runs", json={"id": run_id, "posted": posted})
    accepted.raise_for_status()
    answer = await client.get(f"/runs/{run_id}/result")
    answer.raise_for_status()
    seen = time.time()
    stamps: dict[str, float] = answer.json()
    return stamps | {"appended": accepted.json()["appended"], "seen": seen}


@dataclass(frozen=True)
class Chain:
    """How the chain is run: against the stack at `base_port`, one run at a time."""

    base_port: int = 49092
    runs: int = 200
    warmup: int = 20
    program_ms: float = 20.0
    gap_ms: float = 50.0
    http_port: int = 49191
    services: tuple[str, str, str] | None = None
    """Kafka, Redis and PostgreSQL URLs; those of the stack at `base_port` if None."""

    def where(self) -> tuple[str, str, str]:
        return self.services or services_at(self.base_port)


async def measure(chain: Chain) -> list[dict[str, float]]:
    """Each run's stamps (epoch s): posted, received, appended, picked, began, ran, projected,
    delivered (absent for a run answered from the row) and seen."""
    services = chain.where()
    kafka, _, pg_url = services
    async with scratch_topics(kafka, [REQUESTS, EVENTS]):
        pg = await asyncpg.connect(pg_url)
        helpers: list[subprocess.Popen[bytes]] = []
        try:
            await pg.execute(f"DROP TABLE IF EXISTS {TABLE}, {OFFSETS}")
            await pg.execute(f"CREATE TABLE {TABLE} (id int PRIMARY KEY, state int, body jsonb)")
            await pg.execute(f"CREATE TABLE {OFFSETS} (topic text PRIMARY KEY, next bigint)")
            helpers.append(spawn(services, "--project"))
            helpers.append(spawn(services, "--work", "--program-ms", str(chain.program_ms)))
            helpers.append(spawn(services, "--serve", str(chain.http_port)))
            runs: list[dict[str, float]] = []
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{chain.http_port}") as client:
                for run_id in range(chain.warmup + chain.runs):
                    await asyncio.sleep(chain.gap_ms / 1000)
                    stamps = await one_run(client, run_id)
                    if run_id >= chain.warmup:
                        runs.append(stamps)
        finally:
            stop_helpers(helpers)
            await pg.execute(f"DROP TABLE IF EXISTS {TABLE}, {OFFSETS}")
            await pg.close()
    return runs


STAGES = (
    ("POST -> the API has it", "posted", "received"),
    ("POST -> the API has the append's ack", "posted", "appended"),
    ("POST -> worker has the request", "posted", "picked"),
    ("stand-in program (measured)", "began", "ran"),
    ("program's end -> row written", "ran", "projected"),
    ("row written -> API woken", "projected", "delivered"),
    ("API woken -> client has it", "delivered", "seen"),
    ("end to end", "posted", "seen"),
)


def summarise(runs: list[dict[str, float]]) -> dict[str, Summary]:
    """Each stage's summary, and the overhead's: end to end less the stand-in's own time."""
    out = {
        name: Summary.of(
            [(r[later] - r[earlier]) * 1000 for r in runs if earlier in r and later in r]
        )
        for name, earlier, later in STAGES
    }
    out["overhead (per run)"] = Summary.of(
        [(r["seen"] - r["posted"] - (r["ran"] - r["began"])) * 1000 for r in runs]
    )
    return out


def report(chain: Chain, runs: list[dict[str, float]]) -> None:
    from_row = sum(1 for r in runs if "delivered" not in r)
    print(
        f"The design's fewest hand-offs, no engine code: {len(runs)} runs one at a time, "
        f"{chain.gap_ms:g} ms apart, a stand-in program of {chain.program_ms:g} ms; "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'ms':38s}  median /   p99")
    for name, summary in summarise(runs).items():
        print(f"{name:38s}  {summary.median:6.2f} / {summary.p99:5.2f}")
    if from_row:
        print(f"   {from_row} runs were answered from the row (the GET came after it was written)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for field in fields(Chain):
        if field.name == "services":  # from the environment (ENV) when all three are set
            continue
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default),
                            default=field.default)  # fmt: skip
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--project", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
    elif args.work:
        asyncio.run(work(args.program_ms))
    elif args.project:
        asyncio.run(project())
    else:
        chain = Chain(
            **{f.name: getattr(args, f.name) for f in fields(Chain) if f.name != "services"},
            services=from_env() if all(os.environ.get(name) for name in ENV) else None,
        )
        report(chain, asyncio.run(measure(chain)))


if __name__ == "__main__":
    main()
