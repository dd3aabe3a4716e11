"""The output pump's record of a run: RunStarted first, then the output, a short run's all at
its end; an interactive exchange's input after the output that came before it, whatever the
program prints before the next flush."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from processors.output import OutputPump
from processors.settings import ProcessorSettings
from schemas import decode, events, new_event
from tests.samples import T0


class Topic:
    """Stands in for a Faust topic and its app's producer (what `publisher.send` uses): keeps
    what was sent, acks at once."""

    def __init__(self) -> None:
        self.sent: list[events.Event] = []
        self.sent_at: list[float] = []  # the loop's time of each send
        self.app = SimpleNamespace(producer=self)

    def get_topic_name(self) -> str:
        return "executions.events"

    async def maybe_start(self) -> bool:
        return False

    async def send(self, topic: str, key: bytes, value: bytes, *_: Any) -> Any:
        self.sent.append(decode(value).payload)
        self.sent_at.append(asyncio.get_running_loop().time())
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def pump_for(topic: Topic) -> OutputPump:
    worker = SimpleNamespace(
        events=topic,
        settings=SimpleNamespace(
            output_flush_ms=10_000, output_coalesce_ms=10_000, output_chunk_bytes=1 << 20
        ),
    )
    caps = {"stdout": 1 << 20, "stderr": 1 << 20}
    return OutputPump(cast(Any, worker), "e1", 1, {}, caps)


def exchange(sent: list[events.Event]) -> list[tuple[str, str]]:
    return [
        (type(e).__name__, e.data)
        for e in sent
        if isinstance(e, events.OutputChunk | events.StdinReceived)
    ]


async def test_input_is_recorded_after_the_output_before_it_and_before_the_output_after_it() -> (
    None
):
    topic = Topic()
    pump = pump_for(topic)
    pump.start()
    pump.feed("stdout", b"name? ")
    pump.record_stdin(b"ann\n")
    # The program answers before the pump's task has had a chance to flush anything.
    pump.feed("stdout", b"hello ann\n")
    pump.record_stdin(b"bob\n")
    pump.record_stdin_closed("eof", 8)
    pump.feed("stdout", b"bye\n")
    await pump.close()
    assert exchange(topic.sent) == [
        ("OutputChunk", "name? "),
        ("StdinReceived", "ann\n"),
        ("OutputChunk", "hello ann\n"),
        ("StdinReceived", "bob\n"),
        ("OutputChunk", "bye\n"),
    ]
    closed = [e for e in topic.sent if isinstance(e, events.StdinClosed)]
    assert [(c.reason, c.bytes_given) for c in closed] == [("eof", 8)]
    assert topic.sent.index(closed[0]) == len(topic.sent) - 2  # before "bye", after "bob"
    assert [e.seq for e in topic.sent if isinstance(e, events.StdinReceived)] == [1, 2]
    assert len(pump.input_acks) == 3 and len(pump.acks) == 3


async def test_runstarted_goes_first_a_short_runs_with_its_output_at_its_end() -> None:
    # With the default settings (README: OUTPUT_COALESCE_MS, 25 ms): the run's RunStarted and
    # output go out together 25 ms after it started, or when it ends if sooner; a hello world
    # that ends 10 ms after it started sends nothing while it runs (so the broker, projector,
    # Redis and API do not carry its events while the program wants the CPU), then both, in
    # order; one still running 60 ms after it started has had both sent meanwhile.
    loop = asyncio.get_running_loop()
    for runs_ms, live in ((10, False), (60, True)):
        topic = Topic()
        worker = SimpleNamespace(events=topic, settings=ProcessorSettings())
        started = new_event(
            events.RunStarted(execution_id="e1", attempt=1, worker_id="w", started_at=T0)
        )
        caps = {"stdout": 1 << 20, "stderr": 1 << 20}
        pump = OutputPump(cast(Any, worker), "e1", 1, {}, caps, opening=started)
        began = loop.time()
        pump.start()
        pump.feed("stdout", b"Hello, world!\n")
        await asyncio.sleep(runs_ms / 1000)
        sent_while_running = list(topic.sent)
        await pump.close()
        assert [type(e).__name__ for e in topic.sent] == ["RunStarted", "OutputChunk"], runs_ms
        assert topic.sent[0] == started.payload
        assert topic.sent_at[0] - began >= 0.025 or not sent_while_running, runs_ms
        if live:
            assert sent_while_running == topic.sent
        assert len(pump.input_acks) == 1 and len(pump.acks) == 1  # RunStarted's is the run's
