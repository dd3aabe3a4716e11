"""One Kafka hop through a Faust agent, against the same hop through a raw aiokafka loop.

`KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:PORT python -m bench.fausthop [--records 500]
[--variants raw faust ...]`. For each variant a forwarder process reads one topic and writes each
record to another: `raw` is an aiokafka consume -> produce loop; the `faust*` variants are one
Faust agent built like the processors' (`processors.worker.create_app`, acked after the send is
acknowledged, as `processors/publisher.py: consume` does). This process appends a record, waits
until it comes out of the other topic, then appends the next, N times; the first records (the
group joining, connections opening) are not counted.

Printed per variant, median and p99 in ms: `in` from before this process's append until the
forwarder's handler has the record (the hop a Faust agent's input costs), `out` from before the
forwarder's append until this process has read it, and the whole round trip. The topics (12
partitions, like the engine's) and consumer groups are new for each variant and deleted after.
Bounded in time (60 s to join, 10 s a record); Kafka on 127.0.0.1 only.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.stack import LOGS, REPO, scratch_topics
from bench.stats import Summary

# Headers the forwarder adds, each a time.time_ns(): when aiokafka had parsed the fetch response
# holding the record (in whichever thread its consumer runs), when Faust's fetcher on the app's
# loop had it back from the consumer, when the handler got it, just before it appended the copy.
FETCHED = "fausthop-fetched-ns"
ON_LOOP = "fausthop-on-loop-ns"
RECEIVED = "fausthop-received-ns"
SENT = "fausthop-sent-ns"
JOIN_S = 60.0
RECORD_S = 10.0
WARMUP = 20


@dataclass(frozen=True)
class Variant:
    """A forwarder: how it is started (its `--forward` kind) and what it changes."""

    name: str
    kind: str
    env: tuple[tuple[str, str], ...] = ()


VARIANTS = {
    "raw": Variant("raw aiokafka loop", "raw"),
    "faust": Variant("Faust, consumer thread", "thread"),  # the processors' default
    "faust-loop": Variant("Faust, consumer on loop", "loop"),  # FAUST_CONSUMER=loop
}


def now_ns() -> int:
    return time.time_ns()


# tp -> when its last fetch response was parsed / handed to Faust's fetcher (the forwarders
# handle one record at a time, so the last is the record's).
fetched_at: dict[tuple[str, int], int] = {}
on_loop_at: dict[tuple[str, int], int] = {}


def stamp_fetches() -> None:
    """Note when aiokafka has parsed each fetch response that brought records."""
    from aiokafka.consumer.fetcher import Fetcher

    parse = Fetcher._proc_fetch_request

    async def stamped(self: Any, assignment: Any, node_id: int, request: Any) -> bool:
        has_data: bool = await parse(self, assignment, node_id, request)
        if has_data:
            at = now_ns()
            for tp in list(self._records):
                fetched_at.setdefault((tp.topic, tp.partition), at)
        return has_data

    Fetcher._proc_fetch_request = stamped


def stamps_of(topic: str, partition: int) -> dict[str, bytes]:
    """The headers of a record handled now (and forget its partition's stamps)."""
    received = now_ns()
    tp = (topic, partition)
    fetched = fetched_at.pop(tp, received)
    return {
        FETCHED: str(fetched).encode(),
        ON_LOOP: str(on_loop_at.pop(tp, fetched)).encode(),
        RECEIVED: str(received).encode(),
    }


# --- the forwarders (run in their own process, as the processors do) ---------------------------


async def forward_raw(bootstrap: str, source: str, target: str, group: str) -> None:
    """Consume -> produce -> commit every 0.5 s (Faust's broker_commit_interval)."""
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    stamp_fetches()
    await consumer.start()
    await producer.start()
    last_commit = time.monotonic()
    try:
        async for record in consumer:
            headers = [
                *record.headers,
                *stamps_of(record.topic, record.partition).items(),
                (SENT, str(now_ns()).encode()),
            ]
            await producer.send_and_wait(target, record.value, key=record.key, headers=headers)
            if time.monotonic() - last_commit >= 0.5:
                await consumer.commit()
                last_commit = time.monotonic()
    finally:
        await consumer.stop()
        await producer.stop()


def forward_faust(
    consumer: Literal["loop", "thread"], bootstrap: str, source: str, target: str, group: str
) -> None:
    """One agent of an app made by `processors.worker.create_app`, in a worker started as
    `python -m processors` starts its own."""
    import faust
    from faust.transport.consumer import Consumer

    from processors.__main__ import prepare_process
    from processors.settings import ProcessorSettings
    from processors.worker import create_app

    stamp_fetches()
    wait_next_records = Consumer._wait_next_records

    async def stamped(self: Any, timeout: float) -> Any:
        records, active = await wait_next_records(self, timeout)
        at = now_ns()
        for tp in records or ():
            on_loop_at.setdefault((tp.topic, tp.partition), at)
        return records, active

    Consumer._wait_next_records = stamped  # type: ignore[method-assign]
    settings = ProcessorSettings(kafka_bootstrap_servers=bootstrap, faust_consumer=consumer)
    loop = prepare_process()
    app = create_app(settings, app_id=group)
    inbound = app.topic(source, key_type=bytes, value_type=bytes, allow_empty=False)
    outbound = app.topic(target, key_type=bytes, value_type=bytes, allow_empty=False)

    @app.agent(inbound)
    async def forwarder(stream: Any) -> None:
        manual = stream.noack()
        async for event in manual.events():
            message = event.message
            headers = {
                **dict(message.headers or ()),
                **stamps_of(message.topic, message.partition),
                SENT: str(now_ns()).encode(),
            }
            await (await outbound.send(key=message.key, value=message.value, headers=headers))
            await manual.ack(event)

    # At "info" as the processors run: below it Faust adds a DEBUG handler, and every debug line
    # of aiokafka's fetcher is then formatted.
    faust.Worker(app, loglevel="info", loop=loop).execute_from_commandline()


# --- the measuring side -----------------------------------------------------------------------


# What is printed, row by row: a name and the two stamps it lies between ("seen" and "sent" are
# this process's, the others the forwarder's headers).
SEGMENTS = (
    ("append + fetch response parsed", "sent", FETCHED),
    ("  response -> Faust fetcher (loop)", FETCHED, ON_LOOP),
    ("  fetcher -> handler", ON_LOOP, RECEIVED),
    ("in: append -> handler", "sent", RECEIVED),
    ("out: handler's append -> read", SENT, "seen"),
    ("round trip", "sent", "seen"),
)
Hops = dict[str, list[float]]  # segment -> per-record ms


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_forwarder(
    variant: Variant, bootstrap: str, source: str, target: str, group: str
) -> subprocess.Popen[bytes]:
    workdir = REPO / "var" / "bench" / "fausthop"  # Faust keeps a data folder in its cwd
    workdir.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **dict(variant.env)}
    with (LOGS / f"fausthop-{variant.kind}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bench.fausthop", "--bootstrap", bootstrap,
             "--forward", variant.kind, source, target, group],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=workdir, start_new_session=True,
        )  # fmt: skip


def stop_forwarder(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class BenchHopError(Exception):
    """A forwarder did not start or lost a record."""


@dataclass
class Lane:
    """One variant's forwarder, its two topics, and the reader of its output."""

    variant: Variant
    source: str
    target: str
    group: str
    reader: AIOKafkaConsumer
    proc: subprocess.Popen[bytes] | None = None
    sent: int = 0

    async def hop(self, producer: AIOKafkaProducer, timeout: float) -> tuple[int, int, Any]:
        """Append one record and wait for its copy: (sent ns, seen ns, the copy)."""
        assert self.proc is not None
        # Keys spread the records over the partitions, as execution ids do.
        key = f"{self.group}-{self.sent}".encode()
        self.sent += 1
        sent = now_ns()
        await producer.send_and_wait(self.source, b"x" * 600, key=key)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise BenchHopError(
                    f"{self.variant.name}: a record did not come out within {timeout:.0f}s "
                    f"(forwarder exit code {self.proc.poll()}; see "
                    f"{LOGS / f'fausthop-{self.variant.kind}.log'})"
                )
            try:
                record = await asyncio.wait_for(self.reader.getone(), min(left, 1.0))
            except TimeoutError:
                continue
            if record.key == key:
                return sent, now_ns(), record


async def measure(
    variants: list[Variant],
    bootstrap: str,
    records: int,
    partitions: int,
    progress: Callable[[str], None],
) -> dict[str, Hops]:
    """The variants side by side, record by record in turn, so that the load of this shared
    machine falls on all of them alike."""
    lanes = []
    for variant in variants:
        tag = uuid.uuid4().hex[:8]
        lanes.append(
            Lane(
                variant,
                f"fausthop-in-{tag}",
                f"fausthop-out-{tag}",
                f"fausthop-{tag}",
                AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False),
            )
        )
    names = [name for lane in lanes for name in (lane.source, lane.target)]
    groups = [lane.group for lane in lanes]
    async with scratch_topics(bootstrap, names, partitions, groups):
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
        hops: dict[str, Hops] = {lane.variant.name: {} for lane in lanes}
        try:
            await producer.start()
            for lane in lanes:
                await lane.reader.start()
                lane.reader.assign([TopicPartition(lane.target, p) for p in range(partitions)])
                await lane.reader.seek_to_end()
                lane.proc = start_forwarder(
                    lane.variant, bootstrap, lane.source, lane.target, lane.group
                )
            for lane in lanes:  # the group joined, connections open, code warm
                await lane.hop(producer, JOIN_S)
                for _ in range(WARMUP):
                    await lane.hop(producer, RECORD_S)
            progress(f"  forwarders ready; {records} records each")
            cpu_before = {lane.group: cpu_s(lane.proc.pid) for lane in lanes if lane.proc}
            for i in range(records):
                for lane in lanes[i % len(lanes) :] + lanes[: i % len(lanes)]:
                    sent, seen, record = await lane.hop(producer, RECORD_S)
                    stamps = {name: int(value) for name, value in record.headers}
                    stamps.update(sent=sent, seen=seen)
                    for name, start, end in SEGMENTS:
                        hops[lane.variant.name].setdefault(name, []).append(
                            (stamps[end] - stamps[start]) / 1e6
                        )
                if (i + 1) % 100 == 0:
                    progress(f"  {i + 1}/{records}")
            for lane in lanes:
                assert lane.proc is not None
                used = cpu_s(lane.proc.pid) - cpu_before[lane.group]
                hops[lane.variant.name]["forwarder CPU per record"] = [used * 1000 / records]
        finally:
            for lane in lanes:
                if lane.proc is not None:
                    stop_forwarder(lane.proc)
                await lane.reader.stop()
            await producer.stop()
    return hops


def render(results: dict[str, Hops], records: int) -> str:
    names = list(results)
    width = max(17, *(len(n) for n in names))
    head = f"{'ms, median / p99':<36}" + "".join(f" {n:>{width}}" for n in names)
    lines = [f"one hop, {records} records one at a time, variants in turn", head, "-" * len(head)]
    for row in [name for name, _, _ in SEGMENTS]:
        cells = []
        for name in names:
            s = Summary.of(results[name].get(row, []))
            cells.append(f"{s.median:.2f} / {s.p99:.2f}")
        lines.append(f"{row:<36}" + "".join(f" {c:>{width}}" for c in cells))
    cpu = [results[n]["forwarder CPU per record"][0] for n in names]
    lines.append(
        f"{'forwarder CPU per record (ms)':<36}" + "".join(f" {c:>{width}.2f}" for c in cpu)
    )
    return "\n".join(lines)


async def _main(args: argparse.Namespace) -> int:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # metadata of new topics, retried
    variants = [VARIANTS[key] for key in args.variants]
    print(f"measuring side by side: {', '.join(v.name for v in variants)}", flush=True)
    results = await measure(
        variants, args.bootstrap, args.records, args.partitions, lambda s: print(s, flush=True)
    )
    print()
    print(render(results, args.records))
    load = os.getloadavg()
    print(f"(load average at the end: {load[0]:.2f}; {os.cpu_count()} cores)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fausthop",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get(
            "KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{os.environ.get('STACK_BASE_PORT', '49092')}"
        ),
    )
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--forward", choices=["raw", "loop", "thread"], help=argparse.SUPPRESS)
    parser.add_argument("forward_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.bootstrap.startswith(("127.0.0.1:", "localhost:")):
        parser.error("the bench talks to a Kafka on 127.0.0.1 only")
    if args.forward == "raw":
        import uvloop

        uvloop.run(forward_raw(args.bootstrap, *args.forward_args))
        return 0
    if args.forward in ("loop", "thread"):
        forward_faust(args.forward, args.bootstrap, *args.forward_args)
        return 0
    import uvloop

    return uvloop.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
