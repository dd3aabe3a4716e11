"""The CPU floor of one run on this design: what the fewest messages a run needs cost on this machine.

`python -m bench.floor [--base-port 49092] [--ops 200] [--gap-ms 30] [--rounds 5]`, against the
services of a stack started with that STACK_BASE_PORT (`python -m devstack services --profile
NAME`; `make bench` leaves none running). It times no run of the engine: it measures, with the
engine's own client libraries and settings, the CPU that each kind of message between the
services costs, sent one at a time `--gap-ms` apart (the pace of runs in `make bench`'s section
2), and multiplies by the fewest of each a run needs in this design:

- a Kafka record appended with acks=all (the producer's CPU and the broker's),
- the same record delivered to one more consumer waiting in a fetch (the broker's answer and the
  consumer's, an aiokafka consumer in a process of its own),
- a PostgreSQL row upserted in its own transaction (the writer's CPU and the database's),
- a Redis PUBLISH received by a subscriber in a process of its own,
- an HTTP GET answered by a Litestar app served the way the API is (uvicorn, uvloop, httptools;
  the server's CPU only: the client is the user's);
- and, as root, the worker's own share of one hello world run: `Sandbox.run` in this process
  (the engine's code; its warm set's refill included, the sandbox's child processes not), which
  `make bench` counts in the processors' CPU.

Each kind is measured over `--ops` messages and, in the same way, `--ops` turns of the same
loop that send nothing (before and after each round); the difference divided by `--ops` is the
message's cost in that round, and the median of the rounds is printed (a round the host was busy
in does not set it). `--warmup` messages of each kind go first, back to back, so that the
broker's JIT compiler has done its work. CPU is user +
system time of each process involved, read from /proc as section 2 reads the services', so the
kernel's work for the message (the socket, waking the receiver) is in it. The fewest messages of
a run, and why each is needed, are printed with the table (README, "The CPU floor"). 127.0.0.1
only; bounded by `--ops` and `--rounds`; the topics, table and channel it uses are its own.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import os
import resource
import socket
import statistics
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.stack import helper, parents, scratch_topics, services_at, stop_helpers
from bench.usage import tree_cpu_s

APPENDS = "bench.floor.appends"  # read by no one: an append alone
DELIVERIES = "bench.floor.deliveries"  # read by the consumer process
CHANNEL = "bench.floor"
TABLE = "bench_floor"
BODY = b"x" * 400  # about a RunFinished envelope of hello world


@dataclass(frozen=True)
class Kind:
    """One kind of message: how many a run needs at the least, and why."""

    name: str
    per_run: int
    why: str


KINDS = (
    Kind("http", 2, "POST run; the client's GET of the result (or its SSE request)"),
    Kind("append", 3, "RunRequested; RunStarted; RunFinished carrying the output"),
    Kind(
        "delivery",
        4,
        "RunRequested to the processors and to the projector; RunStarted, RunFinished to the "
        "projector",
    ),
    Kind("row", 3, "the projection's QUEUED, RUNNING and terminal states, each when it happens"),
    Kind("publish", 1, "the terminal state to the API holding the client's SSE"),
)


def listener(port: int) -> int:
    """The pid of the process listening on 127.0.0.1:`port` (found by its socket's inode)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(entry.name)
        except OSError:
            continue
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}: start the stack's services first")


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_now(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each process's tree, and "self". The /proc walk of the snapshot
    that opens a window is in that window's "self": the same in the turns sending nothing, so
    subtracted with them."""
    own = own_cpu()
    table = parents()
    return {name: tree_cpu_s(pid, table) for name, pid in pids.items()} | {"self": own}


Send = Callable[[int], Awaitable[None]]


async def nothing(_: int) -> None:
    return None


async def window(
    send: Send, ops: int, gap_s: float, pids: dict[str, int], settle_s: float = 0.2
) -> dict[str, float]:
    """CPU seconds of each process (and "self") over `ops` sends, one every `gap_s`."""
    before = cpu_now(pids)
    for i in range(ops):
        await asyncio.sleep(gap_s)
        await send(i)
    await asyncio.sleep(settle_s)  # the last message's receivers have done with it
    after = cpu_now(pids)
    return {name: after[name] - before[name] for name in before}


def spawn(*args: str) -> subprocess.Popen[bytes]:
    """A helper process of this module (consumer, subscriber, HTTP server), ready when it says."""
    return helper("bench.floor", *args)


async def consume(kafka: str) -> None:
    consumer = AIOKafkaConsumer(
        DELIVERIES, bootstrap_servers=kafka, group_id=None, auto_offset_reset="latest"
    )
    await consumer.start()
    await consumer.getmany(timeout_ms=1000)
    print("ready", flush=True)
    try:
        while True:
            await consumer.getmany(timeout_ms=1000)
    finally:
        await consumer.stop()


async def subscribe(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    async with client.pubsub() as pubsub:
        await pubsub.subscribe(CHANNEL)
        print("ready", flush=True)
        async for _ in pubsub.listen():
            pass


def serve(port: int) -> None:
    import uvicorn
    from litestar import Litestar, get

    @get("/floor", sync_to_thread=False)
    def floor() -> dict[str, str]:
        return {"status": "COMPLETED", "stdout": "hello\n", "body": BODY.decode()}

    class Ready(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            print("ready", flush=True)

    config = uvicorn.Config(
        Litestar([floor]), host="127.0.0.1", port=port, log_level="warning",
        access_log=False, loop="uvloop", http="httptools", lifespan="off",
        timeout_keep_alive=3600,  # one connection for the whole measurement
    )  # fmt: skip
    Ready(config).run()


async def measure(args: argparse.Namespace) -> None:
    kafka, redis_url, pg_url = services_at(args.base_port)
    http_port = args.http_port
    async with scratch_topics(kafka, [APPENDS, DELIVERIES]):
        helpers = [
            spawn("--consume", kafka),
            spawn("--subscribe", redis_url),
            spawn("--serve", str(http_port)),
        ]
        producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", linger_ms=0)
        await producer.start()
        redis = aioredis.from_url(redis_url)
        pg = await asyncpg.connect(pg_url)
        await pg.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id int PRIMARY KEY, body bytea)")
        reader, writer = await asyncio.open_connection("127.0.0.1", http_port)
        request = f"GET /floor HTTP/1.1\r\nhost: 127.0.0.1:{http_port}\r\n\r\n".encode()

        async def append(_: int) -> None:
            await (await producer.send(APPENDS, BODY))

        async def deliver(_: int) -> None:
            await (await producer.send(DELIVERIES, BODY))

        async def row(i: int) -> None:
            await pg.execute(
                f"INSERT INTO {TABLE} VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET body = $2",
                i % 50, BODY,
            )  # fmt: skip

        async def publish(_: int) -> None:
            await redis.publish(CHANNEL, BODY)

        async def http(_: int) -> None:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1]) for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )  # fmt: skip
            await reader.readexactly(length)

        pids = {
            "kafka": listener(args.base_port),
            "postgres": listener(port_of(pg_url)),
            "redis": listener(port_of(redis_url)),
            "consumer": helpers[0].pid,
            "subscriber": helpers[1].pid,
            "http server": helpers[2].pid,
        }
        # Who does the work of each kind in the engine: the sender is a service except for HTTP,
        # whose client is the user; "delivery" is what one more reader adds to an append.
        counted = {
            "append": ("self", "kafka"),
            "delivery": ("self", "kafka", "consumer"),
            "row": ("self", "postgres"),
            "publish": ("self", "redis", "subscriber"),
            "http": ("http server",),
        }
        sends: dict[str, Send] = {
            "append": append, "delivery": deliver, "row": row, "publish": publish, "http": http,
        }  # fmt: skip
        gap = args.gap_ms / 1000
        kinds = list(sends)
        rounds: list[dict[str, dict[str, float]]] = []  # per round: kind -> process -> ms a message
        try:
            # Connections made and the broker's code compiled (its JIT otherwise bills the first
            # kind measured): a few thousand of each, back to back.
            for send in sends.values():
                for i in range(args.warmup):
                    await send(i)
            await asyncio.sleep(2)
            for turn in range(args.rounds):
                order = kinds[turn % len(kinds) :] + kinds[: turn % len(kinds)]  # drift spread
                before = await window(nothing, args.ops, gap, pids)
                used = {kind: await window(sends[kind], args.ops, gap, pids) for kind in order}
                after = await window(nothing, args.ops, gap, pids)
                rounds.append(
                    {
                        kind: {
                            proc: (used[kind][proc] - (before[proc] + after[proc]) / 2)
                            / args.ops
                            * 1000
                            for proc in used[kind]
                        }
                        for kind in kinds
                    }
                )
        finally:
            writer.close()
            await producer.stop()
            await redis.aclose()
            await pg.execute(f"DROP TABLE IF EXISTS {TABLE}")
            await pg.close()
            stop_helpers(helpers)

    def cost_ms(kind: str, proc: str) -> float:
        """The median over the rounds: a round the host was busy in does not set it."""
        return statistics.median(r[kind][proc] for r in rounds)

    per_message = {
        kind: sum(cost_ms(kind, proc) for proc in procs) for kind, procs in counted.items()
    }
    per_message["delivery"] -= per_message["append"]  # the append is counted on its own
    print(
        f"CPU per message, ms (median of {args.rounds} rounds of {args.ops} messages "
        f"{args.gap_ms:g} ms apart, less as many turns sending nothing; {os.cpu_count()} cores)"
    )
    print(f"{'message':9s}  {'ms':>6s}  {'per run':>7s}  {'ms per run':>10s}  why so many")
    floor = 0.0
    for kind in KINDS:
        ms = per_message[kind.name]
        floor += ms * kind.per_run
        print(
            f"{kind.name:9s}  {ms:6.3f}  {kind.per_run:7d}  {ms * kind.per_run:10.2f}  {kind.why}"
        )
    print(f"floor: {floor:.2f} ms of services' CPU per run in messages alone")
    if args.sandbox_runs:
        supervision = await supervise(args.sandbox_runs, gap)
        print(
            f"worker's share of running the sandbox: {supervision:.2f} ms per run "
            f"({args.sandbox_runs} python hello world runs {args.gap_ms:g} ms apart)"
        )
        print(f"floor with it: {floor + supervision:.2f} ms of services' CPU per run")
    else:
        why = "--sandbox-runs 0" if os.geteuid() == 0 else "needs root"
        print(f"worker's share of running the sandbox: not measured ({why})")
    detail = "; ".join(
        f"{kind}: " + ", ".join(f"{proc} {cost_ms(kind, proc):.3f}" for proc in procs)
        for kind, procs in counted.items()
    )
    print(f"   by process, ms per message (delivery includes its append): {detail}")


async def supervise(runs: int, gap_s: float) -> float:
    """This process's CPU ms per python hello world through `Sandbox.run`, less idle turns."""
    from bench.isolation import hello_world, own_users
    from sandbox import Sandbox, SandboxSettings

    sandbox = Sandbox(own_users(SandboxSettings(slots=1), 300))
    for _ in range(5):  # the warm set filled, code paths warm
        await hello_world(sandbox)
    await asyncio.sleep(1.0)

    async def run(_: int) -> None:
        await hello_world(sandbox)

    idle = await window(nothing, runs, gap_s, {}, settle_s=1.0)
    used = await window(run, runs, gap_s, {}, settle_s=1.0)  # the last refill done
    return (used["self"] - idle["self"]) / runs * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-port", type=int, default=49092)
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--gap-ms", type=float, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2000, help="messages of each kind first")
    parser.add_argument("--http-port", type=int, default=49190)
    parser.add_argument(
        "--sandbox-runs", type=int, default=200 if os.geteuid() == 0 else 0,
        help="python hello world runs to time the worker's share of (root; 0: none)",
    )  # fmt: skip
    parser.add_argument("--consume", help=argparse.SUPPRESS)
    parser.add_argument("--subscribe", help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.consume:
        asyncio.run(consume(args.consume))
    elif args.subscribe:
        asyncio.run(subscribe(args.subscribe))
    elif args.serve:
        serve(args.serve)
    else:
        asyncio.run(measure(args))


if __name__ == "__main__":
    main()
