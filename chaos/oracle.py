"""The harness's oracle: what the Kafka event log says became of each run, never the projection.

Each program prints a token chosen by the harness, so its expected output is known. `LogTail`
reads the log (I/O); `verdict` and `judge` decide from what was read (pure, unit-tested).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from eventlog import topics
from schemas import Envelope, SchemaError, decode, events

# Everything that is said about one execution: its history, its work-queue messages, dead letters.
WATCHED = (topics.EVENTS.name, topics.DEAD_LETTER.name, topics.DISPATCH.name, topics.RETRY.name)
TERMINAL = (events.RunFinished, events.DeadLettered, events.RunRejected)


@dataclass(frozen=True)
class Refusal:
    """An answer other than the one hoped for (or none): what was asked, status, how long."""

    what: str  # "POST /run", "GET /executions/{id}", ...
    status: int  # 0: no answer (connection refused, timeout)
    code: str  # the error body's `code`, or the exception's name
    seconds: float
    at: float  # time.time() when the answer came


@dataclass
class Run:
    """One program the harness asked for, and what the API answered."""

    fault: str
    token: str
    language: str
    source: str
    posted_at: float | None = None  # first POST /run (time.time())
    accepted_at: float | None = None  # the 202 arrived (or the dispatch was injected)
    execution_id: str | None = None
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def expected_stdout(self) -> str:
        return f"{self.token}\n"


def at(envelope: Envelope[events.Event]) -> float:
    return envelope.occurred_at.timestamp()


@dataclass(frozen=True)
class RunVerdict:
    """What became of one accepted run."""

    completed: bool  # a RunFinished COMPLETED with the expected output, within the deadline
    twice: bool  # more than one RunFinished, or one attempt started more than once
    stuck_s: float  # from the 202 to the terminal state that counts (or to `now`)
    why_lost: str | None  # None when completed
    why_twice: str | None = None


def verdict(
    run: Run, history: list[Envelope[events.Event]], now: float, deadline_s: float
) -> RunVerdict:
    """`run`'s fate from its events in the log, `now` being when the harness stopped waiting."""
    assert run.accepted_at is not None
    distinct = list({e.event_id: e for e in history}.values())
    finished = [e for e in distinct if isinstance(e.payload, events.RunFinished)]
    starts = Counter(
        e.payload.attempt for e in distinct if isinstance(e.payload, events.RunStarted)
    )
    twice = len(finished) > 1 or any(n > 1 for n in starts.values())
    why_twice = None
    if twice:
        again = sorted(n for n, times in starts.items() if times > 1)
        why_twice = (f"{len(finished)} RunFinished" if len(finished) > 1
                     else f"attempt {again[0]} started {starts[again[0]]} times")  # fmt: skip
    ends = sorted((e for e in distinct if isinstance(e.payload, TERMINAL)), key=at)
    good = [
        e
        for e in sorted(finished, key=at)
        if isinstance(e.payload, events.RunFinished)
        and e.payload.outcome.status == "COMPLETED"
        and e.payload.outcome.stdout == run.expected_stdout
    ]
    if good:
        end = at(good[0])
        stuck = max(end - run.accepted_at, 0.0)
        late = stuck > deadline_s
        lost = "finished after the deadline" if late else None
        return RunVerdict(not late, twice, stuck, lost, why_twice)
    if not ends:
        return RunVerdict(False, twice, max(now - run.accepted_at, 0.0), "no terminal event",
                          why_twice)  # fmt: skip
    first = ends[0]
    payload = first.payload
    if isinstance(payload, events.DeadLettered):
        why = "dead-lettered E005"
    elif isinstance(payload, events.RunRejected):
        why = f"rejected {payload.error_code}"
    elif isinstance(payload, events.RunFinished):
        why = f"wrong result ({payload.outcome.status} {payload.outcome.error_code or ''})".replace(
            " )", ")"
        )
    else:  # pragma: no cover - TERMINAL lists only the three above
        why = type(payload).__name__
    return RunVerdict(False, twice, max(at(first) - run.accepted_at, 0.0), why, why_twice)


@dataclass(frozen=True)
class Summary:
    """One row of the table: the accepted runs of one fault, judged."""

    accepted: int
    completed: int
    lost: int
    twice: int
    worst_stuck_s: float
    lost_because: dict[str, int]
    twice_because: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)  # a few execution ids lost or run twice

    @property
    def still_stuck(self) -> bool:
        """Some run had no end at all: its stuck time runs until the harness stopped looking."""
        return "no terminal event" in self.lost_because


def judge(
    runs: list[Run],
    histories: dict[str, list[Envelope[events.Event]]],
    now: float,
    deadline_s: float,
) -> Summary:
    judged = [
        (run.execution_id, verdict(run, histories.get(run.execution_id, []), now, deadline_s))
        for run in runs
        if run.execution_id is not None and run.accepted_at is not None
    ]
    verdicts = [v for _, v in judged]
    lost = Counter(v.why_lost for v in verdicts if v.why_lost is not None)
    return Summary(
        accepted=len(verdicts),
        completed=sum(v.completed for v in verdicts),
        lost=sum(lost.values()),
        twice=sum(v.twice for v in verdicts),
        worst_stuck_s=max((v.stuck_s for v in verdicts), default=0.0),
        lost_because=dict(lost),
        twice_because=dict(Counter(v.why_twice for v in verdicts if v.why_twice is not None)),
        examples=[i for i, v in judged if v.why_lost or v.twice][:3],
    )


class LogTail:
    """The watched topics read incrementally: each `catch_up` reads from where the last one
    stopped to the current end, with a fresh consumer, so a broker restart costs one poll."""

    def __init__(self, bootstrap: str, watched: tuple[str, ...] = WATCHED) -> None:
        self.bootstrap = bootstrap
        self.watched = watched
        self.positions: dict[TopicPartition, int] = {}
        self.histories: dict[str, list[Envelope[events.Event]]] = defaultdict(list)
        self.topic_of: dict[str, list[str]] = defaultdict(list)  # event_id -> topics seen in
        self.undecodable = 0
        self._consumer: AIOKafkaConsumer | None = None

    def _consumer_new(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=5000,
            metadata_max_age_ms=1000,
        )

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        cluster = await consumer._client.fetch_all_metadata()
        return [
            TopicPartition(topic, p)
            for topic in self.watched
            for p in sorted(cluster.partitions_for_topic(topic) or ())
        ]

    async def start_at_end(self, timeout: float = 30.0) -> None:
        """Ignore what is already in the log: the harness's executions are all new."""
        consumer = self._consumer_new()
        try:
            async with asyncio.timeout(timeout):
                await consumer.start()
                ends = await consumer.end_offsets(await self._partitions(consumer))
                self.positions.update(ends)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def catch_up(self, timeout: float = 10.0) -> bool:
        """Read what was appended since the last call; False if the broker did not answer (the
        consumer is then dropped, and the next call starts a new one where this one stopped)."""
        try:
            async with asyncio.timeout(timeout):
                consumer = await self._connected()
                partitions = list(self.positions)
                ends = await consumer.end_offsets(partitions)
                pending = {tp: end for tp, end in ends.items() if end > self.positions[tp]}
                while pending:
                    batch = await consumer.getmany(*pending, timeout_ms=500)
                    for tp, messages in batch.items():
                        for message in messages:
                            # Past the end read above too: the consumer will not return it again.
                            if message.offset >= self.positions[tp]:
                                self._record(tp.topic, message.value or b"")
                                self.positions[tp] = message.offset + 1
                        if tp in pending and self.positions[tp] >= pending[tp]:
                            del pending[tp]
            return True
        except (TimeoutError, KafkaError, OSError):
            await self.close()
            return False

    async def _connected(self) -> AIOKafkaConsumer:
        if self._consumer is not None:
            return self._consumer
        consumer = self._consumer = self._consumer_new()
        await consumer.start()
        partitions = await self._partitions(consumer)
        consumer.assign(partitions)
        for tp in partitions:
            self.positions.setdefault(tp, 0)
            consumer.seek(tp, self.positions[tp])
        return consumer

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()

    def _record(self, topic: str, raw: bytes) -> None:
        try:
            envelope = decode(raw)
        except SchemaError:
            self.undecodable += 1
            return
        self.topic_of[str(envelope.event_id)].append(topic)
        if topic in (topics.DISPATCH.name, topics.RETRY.name):
            # Work-queue messages are kept apart: they say what was asked, not what happened.
            self.histories[f"queue:{envelope.key}"].append(envelope)
        else:
            self.histories[envelope.key].append(envelope)

    def queue(self, execution_id: str) -> list[Envelope[events.Event]]:
        """The dispatch and retry messages of one execution, in the order read."""
        return self.histories.get(f"queue:{execution_id}", [])

    def terminal(self, execution_id: str) -> bool:
        return any(isinstance(e.payload, TERMINAL) for e in self.histories.get(execution_id, []))

    def completed(self, run: Run) -> bool:
        """A RunFinished with the expected output is in the log (what waiting polls for)."""
        return any(
            isinstance(e.payload, events.RunFinished)
            and e.payload.outcome.stdout == run.expected_stdout
            for e in self.histories.get(run.execution_id or "", [])
        )


async def wait_for(
    tail: LogTail, check: list[Run], settled: float, deadline: float, poll_s: float = 0.5
) -> bool:
    """Until every run in `check` is terminal in the log (a completed one, or for a run whose
    end is not a completion, any terminal event), then `settled` more seconds of reading, so a
    duplicate that follows closely is seen; False at the deadline (time.monotonic())."""
    while True:
        await tail.catch_up()
        if all(tail.completed(r) or tail.terminal(r.execution_id or "") for r in check):
            break
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(poll_s)
    end = min(time.monotonic() + settled, deadline)
    while time.monotonic() < end:
        await asyncio.sleep(poll_s)
        await tail.catch_up()
    return True
