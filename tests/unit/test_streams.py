"""Live streams without services: what folded events tell a stream, how the API splices stored
and live events, how the executor bounds live output and says it was cut."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

import msgspec
import orjson
from aiokafka import TopicPartition

from api.streams import StreamEvent, _follow, server_sent
from eventlog import topics
from processors.output import OutputPump
from processors.settings import ProcessorSettings
from projections.fold import ExecutionRow, fold_execution
from projections.projector import parse
from projections.streams import EXECUTION, SESSION, Item, execution_items
from sandbox.spawn import Capture
from schemas import decode, encode, events, new_event
from tests.samples import T0, run_finished, run_requested

ID = str(uuid.uuid4())
REQUEST = run_requested(ID)


def started(attempt: int = 1) -> events.RunStarted:
    return events.RunStarted(
        execution_id=ID, attempt=attempt, worker_id="w", started_at=T0 + timedelta(seconds=1)
    )


def chunk(data: str, attempt: int = 1, truncated: bool = False) -> events.OutputChunk:
    return events.OutputChunk(
        execution_id=ID, attempt=attempt, stream="stdout", seq=1, data=data, truncated=truncated
    )


def told_from(
    row: ExecutionRow | None, sequence: list[events.Event]
) -> tuple[list[Item], ExecutionRow | None]:
    told: list[Item] = []
    for event in sequence:
        new = fold_execution(row, event)
        told += execution_items(row, new, event)
        row = new
    return told, row


def tell(sequence: list[events.Event]) -> list[Item]:
    return told_from(None, sequence)[0]


def names(items: list[Item], stream: str) -> list[tuple[str, str]]:
    return [(i.event, i.data) for i in items if i.stream == stream and i.event != "result"]


def test_a_run_tells_its_stream_and_its_sessions_in_order() -> None:
    told = tell([REQUEST, started(), chunk("hi\n"), chunk("", truncated=True), run_finished(ID)])
    assert names(told, EXECUTION) == [
        ("status", "QUEUED"),
        ("status", "RUNNING"),
        ("output", '{"stream":"stdout","attempt":1,"data":"hi\\n"}'),
        ("truncated", '{"stream":"stdout","attempt":1}'),
        ("status", "COMPLETED"),
    ]
    results = [i for i in told if i.event == "result"]
    assert [i.stream for i in results] == [EXECUTION, SESSION]
    assert orjson.loads(results[0].data)["status"] == "COMPLETED"
    session = [(e, orjson.loads(d)) for e, d in names(told, SESSION)]
    assert [e for e, _ in session] == ["status", "status", "output", "truncated", "status"]
    assert {d["execution_id"] for _, d in session} == {ID}
    assert {i.key for i in told if i.stream == SESSION} == {REQUEST.session_id}


def test_a_retry_says_running_again_and_stale_output_is_not_told() -> None:
    told = tell(
        [REQUEST, started(1), chunk("a"), started(2), chunk("late", attempt=1), chunk("b", 2)]
    )
    assert names(told, EXECUTION) == [
        ("status", "QUEUED"),
        ("status", "RUNNING"),
        ("output", '{"stream":"stdout","attempt":1,"data":"a"}'),
        ("status", "RUNNING"),
        ("output", '{"stream":"stdout","attempt":2,"data":"b"}'),
    ]


@dataclass
class FakeDb:
    """`stream_events` of one stream, as the API reads it."""

    rows: list[tuple[int, str, str]]

    async def stream_after(self, stream: str, key: uuid.UUID, after: int, limit: int) -> Any:
        return [{"seq": s, "event": e, "data": d} for s, e, d in self.rows if s > after][:limit]

    async def stream_event_at(self, stream: str, key: uuid.UUID, seq: int) -> str | None:
        return next((e for s, e, _ in self.rows if s == seq), None)


@dataclass
class FakePubSub:
    """Live messages as Redis delivers them: late, twice, or with one missing (a follower of
    api.live)."""

    db: FakeDb
    script: list[int]  # the numbers to deliver, in order
    closed: bool = False
    delivered: list[int] = field(default_factory=list)

    async def next(self, timeout: float) -> bytes | None:
        assert self.script, "the stream waited for a live message when it should have ended"
        seq = self.script.pop(0)
        self.delivered.append(seq)
        _, event, data = next(r for r in self.db.rows if r[0] == seq)
        return msgspec.json.encode({"seq": seq, "event": event, "data": data})

    async def aclose(self) -> None:
        self.closed = True


RESULT = '{"execution_id": "x", "status": "RUNNING", "rerun_of": null}'


async def follow(db: FakeDb, pubsub: FakePubSub, after: int = 0) -> list[StreamEvent]:
    services = cast(Any, SimpleNamespace(db=db))
    return [e async for e in _follow(services, cast(Any, pubsub), "execution", uuid.uuid4(), after)]


async def test_stored_and_live_events_are_spliced_without_gap_or_duplicate() -> None:
    rows = [(n, "output", str(n)) for n in range(1, 8)] + [(8, "result", RESULT)]
    db = FakeDb(rows[:3])  # 1-3 were recorded before the client subscribed
    pubsub = FakePubSub(db, script=[2, 3, 4, 6, 7, 8])  # 2, 3 again; 5 was lost
    db.rows = rows
    got = await follow(db, pubsub)
    assert [e.id for e in got] == list(range(1, 9))
    assert got[-1].event == "result" and orjson.loads(got[-1].data)["status"] == "RUNNING"
    assert pubsub.closed


async def test_resuming_after_the_result_ends_at_once_and_elsewhere_gives_the_rest() -> None:
    rows = [(1, "status", "QUEUED"), (2, "status", "RUNNING"), (3, "result", RESULT)]
    whole = await follow(FakeDb(rows), FakePubSub(FakeDb(rows), []))
    assert [e.id for e in whole] == [1, 2, 3]
    resumed = await follow(FakeDb(rows), FakePubSub(FakeDb(rows), []), after=3)
    assert resumed == []
    resumed = await follow(FakeDb(rows), FakePubSub(FakeDb(rows), []), after=1)
    assert [e.id for e in resumed] == [2, 3]


@dataclass
class FakeTopic:
    """A Faust topic and its app's producer (what `publisher.send` uses), acking at once."""

    sent: list[events.OutputChunk] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # the loop's time of each send

    @property
    def app(self) -> Any:
        return SimpleNamespace(producer=self)

    def get_topic_name(self) -> str:
        return "executions.events"

    async def maybe_start(self) -> bool:
        return False

    async def send(self, topic: str, key: bytes, value: bytes, *_: Any) -> Any:
        payload = decode(value).payload
        assert isinstance(payload, events.OutputChunk)
        self.sent.append(payload)
        self.sent_at.append(asyncio.get_running_loop().time())
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def pump(cap: int, chunk_bytes: int = 4) -> tuple[OutputPump, FakeTopic]:
    topic = FakeTopic()
    settings = ProcessorSettings(output_chunk_bytes=chunk_bytes, output_flush_ms=5)
    worker = cast(Any, SimpleNamespace(settings=settings, events=topic))
    return OutputPump(worker, ID, 1, {}, {"stdout": cap, "stderr": cap}), topic


async def test_live_output_comes_in_bounded_chunks_and_says_where_it_was_cut() -> None:
    out, topic = pump(cap=10)
    out.start()
    out.feed("stdout", "é12345".encode())  # 7 bytes; é split across two chunks
    out.feed("stdout", b"abcdef")  # 3 fit under the cap, the rest is cut
    out.feed("stdout", b"more")  # after the cut: nothing
    await out.close()
    stdout = [c for c in topic.sent if c.stream == "stdout"]
    assert "".join(c.data for c in stdout) == "é12345abc"
    assert all(len(c.data.encode()) <= 4 for c in stdout), stdout
    assert [c.truncated for c in stdout].count(True) == 1 and stdout[-1].truncated
    assert [c.seq for c in topic.sent] == list(range(1, len(topic.sent) + 1))


async def test_the_sandboxs_word_that_a_stream_reached_its_cap_is_passed_on() -> None:
    out, topic = pump(cap=3)
    out.start()
    out.feed("stderr", b"abc")  # exactly the cap: not cut (yet)
    await out.close()
    assert [(c.data, c.truncated) for c in topic.sent] == [("abc", False)]
    out, topic = pump(cap=3)
    out.start()
    out.feed("stderr", b"abc")
    out.feed("stderr", b"")  # the sandbox dropped what followed
    await out.close()
    assert [(c.data, c.truncated) for c in topic.sent] == [("abc", True)]


def test_the_sandbox_tells_once_that_a_stream_reached_its_cap() -> None:
    put: list[tuple[str, bytes]] = []
    capture = Capture("stdout", 4, cast(Any, SimpleNamespace(put=lambda *item: put.append(item))))
    for part in (b"ab", b"cd", b"ef", b"gh"):
        capture.feed(part)
    assert put == [("stdout", b"ab"), ("stdout", b"cd"), ("stdout", b"")]
    assert capture.truncated and bytes(capture.data) == b"abcd"


async def test_an_id_the_stream_never_gave_starts_it_from_the_beginning() -> None:
    rows = [(1, "status", "QUEUED"), (2, "result", RESULT)]
    resumed = await follow(FakeDb(rows), FakePubSub(FakeDb(rows), []), after=99)
    assert [e.id for e in resumed] == [1, 2]


async def test_redis_failing_under_a_live_stream_ends_it_for_the_client_to_resume() -> None:
    class Broken(FakePubSub):
        async def next(self, timeout: float) -> bytes | None:
            raise ConnectionError("Redis went away")

    rows = [(1, "status", "QUEUED")]
    services = cast(Any, SimpleNamespace(db=FakeDb(rows)))
    events_ = _follow(services, cast(Any, Broken(FakeDb(rows), [])), "execution", uuid.uuid4(), 0)
    chunks = [chunk async for chunk in cast(Any, server_sent(events_).iterator)]
    text = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks).decode()
    assert text.startswith("retry: 2000") and "id: 1\r\nevent: status\r\ndata: QUEUED" in text


def test_a_poll_that_lists_a_runs_events_before_its_request_is_folded_request_first() -> None:
    def at(topic: str, event: events.Event) -> Any:
        return TopicPartition(topic, 0), [SimpleNamespace(offset=0, value=encode(new_event(event)))]

    records = dict([at(topics.EVENTS.name, started()), at(topics.REQUESTED.name, REQUEST)])
    batch = parse(cast(Any, records))
    assert [type(e.payload) for e in batch.executions] == [events.RunRequested, events.RunStarted]
    told = tell([e.payload for e in batch.executions])
    assert [(i.event, i.data) for i in told if i.stream == EXECUTION] == [
        ("status", "QUEUED"),
        ("status", "RUNNING"),
    ]


async def test_output_written_together_goes_out_together_whenever_the_flush_falls() -> None:
    # print() writes its text, then its newline: read apart, they must not become two chunks
    # (a live terminal would show the line, then its end a flush later). The writes here fall
    # on either side of the moment a free-running 50 ms flush would come (45 and 55 ms after
    # the pump starts), inside one 30 ms coalescing window.
    topic = FakeTopic()
    settings = ProcessorSettings(output_flush_ms=50, output_coalesce_ms=30)
    worker = cast(Any, SimpleNamespace(settings=settings, events=topic))
    out = OutputPump(worker, ID, 1, {}, {"stdout": 1 << 20, "stderr": 1 << 20})
    loop = asyncio.get_running_loop()
    out.start()
    began = loop.time()
    await asyncio.sleep(0.045)
    out.feed("stdout", b"line 0")
    await asyncio.sleep(max(0.0, began + 0.055 - loop.time()))
    out.feed("stdout", b"\n")
    while not topic.sent and loop.time() < began + 5:  # noqa: ASYNC110 (a deadline, no event)
        await asyncio.sleep(0.005)
    first = [c.data for c in topic.sent]
    out.feed("stdout", b"line 1\n")
    await out.close()
    assert first == ["line 0\n"]
    assert [c.data for c in topic.sent] == ["line 0\n", "line 1\n"]


async def test_a_short_programs_output_goes_out_once_at_its_end_a_longer_ones_while_it_runs() -> (
    None
):
    # With the default settings (README: OUTPUT_COALESCE_MS, 25 ms): no output is sent sooner
    # than 25 ms after its first byte, so a program that prints and ends 10 ms later (a hello
    # world in a warm sandbox) sends it once, when the run ends (beside its RunFinished); one
    # still running 60 ms after it printed has had it sent live meanwhile.
    loop = asyncio.get_running_loop()
    for runs_ms, live in ((10, False), (60, True)):
        topic = FakeTopic()
        worker = cast(Any, SimpleNamespace(settings=ProcessorSettings(), events=topic))
        out = OutputPump(worker, ID, 1, {}, {"stdout": 1 << 20, "stderr": 1 << 20})
        out.start()
        printed = loop.time()
        out.feed("stdout", b"Hello, world!\n")
        await asyncio.sleep(runs_ms / 1000)
        sent_while_running = [c.data for c in topic.sent]
        await out.close()
        assert [c.data for c in topic.sent] == ["Hello, world!\n"], runs_ms
        assert topic.sent_at[0] - printed >= 0.025 or not sent_while_running, runs_ms
        if live:
            assert sent_while_running == ["Hello, world!\n"]
