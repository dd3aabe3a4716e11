"""The projector's batch on real PostgreSQL: what a run's events say is what its rows hold, and
a session's live stream is numbered without gap however the run's events were batched."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import msgspec
import orjson
from aiokafka import TopicPartition

from bench.projector import leader, record
from eventlog import topics
from projections.projector import Records, apply_batch, parse
from schemas import encode, events, new_event
from tests.samples import T0, run_finished, run_requested
from verdicts import Mode, Verdict

OFFSETS = itertools.count()  # each message its own place in the log


def polled(*batch: tuple[topics.Topic, events.Event]) -> Records:
    records: Records = {}
    for topic, event in batch:
        records.setdefault(TopicPartition(topic.name, 0), []).append(
            record(topic.name, next(OFFSETS), encode(new_event(event)))
        )
    return records


async def project(dsn: str, *batches: Records) -> asyncpg.Connection[Any]:
    conn = await asyncpg.connect(dsn)
    for records in batches:
        async with conn.transaction():
            await apply_batch(conn, parse(records))
    return conn


async def test_every_field_of_a_run_reads_back_from_its_row_as_the_events_said(
    scratch_database: str,
) -> None:
    execution_id = str(uuid.uuid4())
    cases = [events.Case(stdin="1 2\n", expected_output="3\n"), events.Case(expected_output="")]
    request = run_requested(
        execution_id,
        source_code="print('a\x00b')",
        stdin="x\ny",
        args=["--flag", "two words", "é"],
        files={"lib/util.py": "X = 1\n", "data.txt": "\x00\n"},
        rerun_of=str(uuid.uuid4()),
        judge0=events.Judge0Attributes(language_id=71, cpu_time_limit=2.5),
        interactive=True,
        test_cases=cases,
        comparison=events.Comparison(mode=Mode.FLOAT, absolute_tolerance=0.001),
        callback_url="https://example.test/hook",
    )
    started = events.RunStarted(
        execution_id=execution_id,
        attempt=1,
        worker_id="w-7",
        started_at=T0 + timedelta(microseconds=123457),
    )
    judged = events.Judgement(
        verdict=Verdict.WRONG_ANSWER,
        passed=1,
        total=2,
        cases=[
            events.CaseResult(status="COMPLETED", verdict=Verdict.ACCEPTED, stdout="3\n"),
            events.CaseResult(status="COMPLETED", verdict=Verdict.WRONG_ANSWER, stdout="\x00"),
        ],
    )
    finished = run_finished(
        execution_id,
        worker_id="w-7",
        status="FAILED",
        error_code="E004",
        exit_code=3,
        signal=9,
        stdout="out\x00put",
        stderr="ë",
        stdout_truncated=True,
        execution_time_ms=2**31 - 1,
        memory_peak_kb=2**40,
        read_bytes=2**33,
        written_bytes=0,
        voluntary_context_switches=5,
        involuntary_context_switches=6,
        compile_output="warning: x",
        compile_time_ms=250,
        warnings=["infinite_loop", "network"],
        test_results=judged,
        invalid_utf8=["stdout"],
    )
    conn = await project(
        scratch_database,
        polled((topics.REQUESTED, request)),
        polled((topics.EVENTS, started), (topics.EVENTS, finished)),
    )
    try:
        found = await conn.fetchrow(
            "SELECT * FROM executions WHERE execution_id = $1", execution_id
        )
        assert found is not None, "the run was not projected"
        row = dict(found)
    finally:
        await conn.close()
    outcome = finished.outcome
    expected: dict[str, Any] = {
        "execution_id": uuid.UUID(execution_id),
        "session_id": uuid.UUID(request.session_id),
        "language_id": uuid.UUID(request.language.id),
        "language_key": "python",
        "language_name": request.language.name,
        "language_version": request.language.version,
        "source_code": "print('a\ufffdb')",  # NUL as U+FFFD: PostgreSQL text cannot hold it
        "stdin": "x\ny",
        "time_limit_ms": request.limits.time_limit_ms,
        "memory_mb": request.limits.memory_mb,
        "status": "FAILED",
        "attempt": 1,
        "worker_id": "w-7",
        "queued_at": T0,
        "started_at": finished.started_at,
        "finished_at": finished.finished_at,
        "args": ["--flag", "two words", "é"],
        "files": '{"data.txt":"\\u0000\\n","lib/util.py":"X = 1\\n"}',  # JSON keeps NUL
        "rerun_of": uuid.UUID(request.rerun_of or ""),
        "judge0": msgspec.json.encode(request.judge0).decode(),
        "interactive": True,
        "callback_url": "https://example.test/hook",
        "error_message": None,
        "stdout": "out\ufffdput",
        "stderr": "ë",
        "warnings": ["infinite_loop", "network"],
        "invalid_utf8": ["stdout"],
        **{
            name: getattr(outcome, name)
            for name in (
                "error_code", "exit_code", "signal", "stdout_truncated", "stderr_truncated",
                "execution_time_ms", "cpu_time_ms", "memory_peak_kb", "read_bytes",
                "written_bytes", "voluntary_context_switches", "involuntary_context_switches",
                "compile_output", "compile_time_ms",
            )
        },
    }  # fmt: skip
    jsonb = {
        name: orjson.loads(row.pop(name)) for name in ("test_cases", "comparison", "test_results")
    }
    assert row == expected
    assert jsonb["test_cases"] == [
        {"stdin": "1 2\n", "expected_output": "3\n"},
        {"stdin": "", "expected_output": ""},
    ]
    assert jsonb["comparison"] == msgspec.to_builtins(request.comparison)
    expected_results = msgspec.to_builtins(judged)
    expected_results["cases"][1]["stdout"] = "\ufffd"  # jsonb cannot hold NUL either
    assert jsonb["test_results"] == expected_results


async def test_a_session_hears_all_of_a_run_whose_request_is_read_after_its_events(
    scratch_database: str,
) -> None:
    request = run_requested()
    execution_id = request.execution_id

    def chunk(seq: int, data: str) -> events.OutputChunk:
        return events.OutputChunk(
            execution_id=execution_id, attempt=1, stream="stdout", seq=seq, data=data
        )

    started = events.RunStarted(execution_id=execution_id, attempt=1, worker_id="w", started_at=T0)
    # The events' partition was read first: no session is known for the first batch.
    conn = await project(
        scratch_database,
        polled((topics.EVENTS, started), (topics.EVENTS, chunk(1, "one\n"))),
        polled((topics.REQUESTED, request), (topics.EVENTS, chunk(2, "two\n"))),
    )
    try:
        rows = await conn.fetch(
            "SELECT stream, key, seq, event, data FROM stream_events ORDER BY stream, key, seq"
        )
    finally:
        await conn.close()
    session = [
        (r["seq"], r["event"], orjson.loads(r["data"])) for r in rows if r["stream"] == "session"
    ]
    assert {str(r["key"]) for r in rows if r["stream"] == "session"} == {request.session_id}
    assert [(seq, event) for seq, event, _ in session] == [
        (1, "status"),
        (2, "output"),
        (3, "output"),
    ]
    assert session[0][2] == {"execution_id": execution_id, "status": "RUNNING"}
    assert "".join(d["data"] for _, e, d in session if e == "output") == "one\ntwo\n"
    execution = [(r["seq"], r["event"]) for r in rows if r["stream"] == "execution"]
    assert execution == [(1, "status"), (2, "output"), (3, "output")]


def at(topic: topics.Topic, offset: int, event: events.Event) -> Records:
    """One message at `offset` of partition 0 of `topic`."""
    return {TopicPartition(topic.name, 0): [record(topic.name, offset, encode(new_event(event)))]}


def run_events(execution_id: str) -> tuple[events.RunStarted, events.OutputChunk]:
    started = events.RunStarted(execution_id=execution_id, attempt=1, worker_id="w", started_at=T0)
    chunk = events.OutputChunk(
        execution_id=execution_id, attempt=1, stream="stdout", seq=1, data="1\n"
    )
    return started, chunk


async def told(dsn: str, execution_id: str) -> list[tuple[int, str, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT seq, event, data FROM stream_events"
            " WHERE stream = 'execution' AND key = $1 ORDER BY seq",
            execution_id,
        )
    finally:
        await conn.close()
    return [(r["seq"], r["event"], r["data"]) for r in rows]


async def test_a_batch_delivered_twice_is_applied_once(scratch_database: str) -> None:
    request = run_requested()
    started, chunk = run_events(request.execution_id)
    finished = run_finished(request.execution_id, stdout="1\n")
    end = {
        TopicPartition(topics.EVENTS.name, 0): [
            record(topics.EVENTS.name, n, encode(new_event(e)))
            for n, e in enumerate((started, chunk, finished))
        ]
    }
    projector = await leader(scratch_database)
    try:
        await projector.apply(at(topics.REQUESTED, 0, request))
        await projector.apply(end)
        await projector.apply(end)  # again: a redelivery
    finally:
        assert projector.conn is not None
        await projector.conn.close()
    stream = await told(scratch_database, request.execution_id)
    assert [(seq, event) for seq, event, _ in stream] == [
        (1, "status"), (2, "status"), (3, "output"), (4, "status"), (5, "result"),
    ]  # fmt: skip
    assert [data for _, event, data in stream if event == "status"] == [
        "QUEUED", "RUNNING", "COMPLETED",
    ]  # fmt: skip


async def test_what_another_applier_wrote_is_read_not_overwritten_from_memory(
    scratch_database: str,
) -> None:
    # The leader knows the run's row as QUEUED, as it wrote it. Another projector (which could
    # only apply if the leader had lost its lock) applies the run's RunStarted meanwhile. The
    # leader then gets RunStarted and RunFinished: it must not fold RunStarted again into the
    # row it remembers, but skip it and fold RunFinished into the row as stored.
    request = run_requested()
    started, _ = run_events(request.execution_id)
    finished = run_finished(request.execution_id, stdout="1\n")
    first, other = await leader(scratch_database), await leader(scratch_database)
    try:
        await first.apply(at(topics.REQUESTED, 0, request))
        await other.apply(at(topics.EVENTS, 0, started))
        both = {
            TopicPartition(topics.EVENTS.name, 0): [
                record(topics.EVENTS.name, 0, encode(new_event(started))),
                record(topics.EVENTS.name, 1, encode(new_event(finished))),
            ]
        }
        await first.apply(both)
    finally:
        for projector in (first, other):
            assert projector.conn is not None
            await projector.conn.close()
    stream = await told(scratch_database, request.execution_id)
    assert [data for _, event, data in stream if event == "status"] == [
        "QUEUED", "RUNNING", "COMPLETED",
    ]  # fmt: skip
    assert [seq for seq, _, _ in stream] == [1, 2, 3, 4]
