"""The executor's feed of an interactive run (processors/stdin.py) on real Redis: what it gives
the sandbox, what it records and in which order, and a second attempt given the same input."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any, cast

import redis.asyncio as aioredis

from fleet.stdin import StdinChannel
from processors.stdin import LiveStdin


class Recorder:
    """Stands in for the output pump: what would be recorded in the log, in order."""

    def __init__(self, attempt: int = 1) -> None:
        self.attempt = attempt
        self.records: list[tuple[str, Any]] = []

    def record_stdin(self, data: bytes) -> None:
        self.records.append(("given", data))

    def record_stdin_closed(self, reason: str, bytes_given: int) -> None:
        self.records.append(("closed", (reason, bytes_given)))


def live(redis: aioredis.Redis, execution_id: str, recorder: Recorder) -> LiveStdin:
    worker = SimpleNamespace(redis=redis, settings=SimpleNamespace(output_flush_ms=50))
    return LiveStdin(cast(Any, worker), execution_id, cast(Any, recorder))


async def give_all(feed: LiveStdin) -> list[bytes]:
    """What the sandbox would do: take chunks until the end, reporting each as delivered."""
    chunks = []
    while (chunk := await asyncio.wait_for(feed.next_chunk(), 5)) is not None:
        feed.delivered(chunk)
        chunks.append(chunk)
    return chunks


async def test_the_end_is_recorded_after_the_last_chunk_read_with_it(redis: aioredis.Redis) -> None:
    execution_id = str(uuid.uuid4())
    channel = StdinChannel(redis, execution_id)
    await channel.open(0)
    await channel.send(b"one\n", 1000, 1000)
    await channel.send(b"two\n", 1000, 1000)
    await channel.close("eof")
    recorder = Recorder()
    assert await give_all(live(redis, execution_id, recorder)) == [b"one\ntwo\n"]
    assert recorder.records == [("given", b"one\ntwo\n"), ("closed", ("eof", 8))]


async def test_a_second_attempt_is_given_the_same_input_from_its_start(
    redis: aioredis.Redis,
) -> None:
    execution_id = str(uuid.uuid4())
    channel = StdinChannel(redis, execution_id)
    await channel.open(0)
    await channel.send(b"first\n", 1000, 1000)
    attempt_1 = live(redis, execution_id, Recorder(1))
    assert await asyncio.wait_for(attempt_1.next_chunk(), 5) == b"first\n"
    # The worker dies here; the client goes on and ends its input.
    await channel.send(b"second\n", 1000, 1000)
    await channel.close("disconnected")
    recorder = Recorder(2)
    assert b"".join(await give_all(live(redis, execution_id, recorder))) == b"first\nsecond\n"
    assert recorder.records[-1] == ("closed", ("disconnected", 13))


async def test_input_keeps_coming_while_the_run_waits_for_it(redis: aioredis.Redis) -> None:
    execution_id = str(uuid.uuid4())
    channel = StdinChannel(redis, execution_id)
    await channel.open(0)
    recorder = Recorder()
    feed = live(redis, execution_id, recorder)
    taking = asyncio.ensure_future(give_all(feed))
    for line in (b"a\n", b"b\n", b"c\n"):
        await channel.send(line, 1000, 1000)
    await channel.close("eof")
    assert b"".join(await asyncio.wait_for(taking, 10)) == b"a\nb\nc\n"
    # What it read is marked taken: room again under the bound for what a client sends.
    assert await redis.hget(channel.keys[0], "taken") == b"6"


async def test_a_run_whose_channel_is_gone_reads_end_of_file(redis: aioredis.Redis) -> None:
    recorder = Recorder()
    feed = live(redis, str(uuid.uuid4()), recorder)
    assert await asyncio.wait_for(feed.next_chunk(), 5) is None
    feed.finish()
    assert recorder.records == [("closed", ("expired", 0))]  # recorded once


async def test_a_run_that_ends_first_records_why(redis: aioredis.Redis) -> None:
    execution_id = str(uuid.uuid4())
    await StdinChannel(redis, execution_id).open(0)
    recorder = Recorder()
    feed = live(redis, execution_id, recorder)
    waiting = asyncio.ensure_future(feed.next_chunk())
    await asyncio.wait([waiting], timeout=0.2)  # it waits: no input, no end
    assert not waiting.done()
    waiting.cancel()  # the step ended: the sandbox cancels the feed
    await asyncio.gather(waiting, return_exceptions=True)
    feed.finish()
    assert recorder.records == [("closed", ("run_ended", 0))]
