"""Live streams an editor can rely on: output while the program runs, resume by Last-Event-ID
(running or finished, on any API process), many subscribers, a session's stream, truncation."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from tests.e2e.conftest import Engine, start_api
from tests.e2e.fixtures_runs import open_session, submit, wait_result
from tests.e2e.test_contract import assert_error

STREAM_DEADLINE_S = 120.0


@dataclass(frozen=True)
class Seen:
    """One event as a client received it, and when (time.time())."""

    id: int | None
    event: str
    data: str
    at: float

    def json(self) -> Any:
        return orjson.loads(self.data)


@dataclass
class Read:
    """What one SSE connection delivered."""

    events: list[Seen]
    retry_ms: int | None
    ended: bool  # the server ended the stream (else the client stopped reading)


async def read_sse(
    http: httpx.AsyncClient,
    path: str,
    last_event_id: int | None = None,
    until: Callable[[list[Seen]], bool] | None = None,
) -> Read:
    """Read `path` as SSE until the server ends it, or until `until(events so far)` is true."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    events: list[Seen] = []
    retry: int | None = None
    event_id: int | None = None
    event, data = "message", []
    async with (
        asyncio.timeout(STREAM_DEADLINE_S),
        http.stream("GET", path, headers=headers, timeout=STREAM_DEADLINE_S) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "retry":
                retry = int(value)
            elif field == "id":
                event_id = int(value)
            elif field == "event":
                event = value
            elif field == "data":
                data.append(value)
            elif line == "" and data:
                events.append(Seen(event_id, event, "\n".join(data), time.time()))
                event_id, event, data = None, "message", []
                if until is not None and until(events):
                    return Read(events, retry, ended=False)
    return Read(events, retry, ended=True)


def ids(events: list[Seen]) -> list[int | None]:
    return [e.id for e in events]


def stdout_of(events: list[Seen]) -> str:
    return "".join(e.json()["data"] for e in events if e.event == "output")


async def test_output_is_seen_line_by_line_while_the_program_runs(
    client: httpx.AsyncClient,
) -> None:
    # Each line says when it was printed (the sandbox shares the host's clock).
    source = "import time\nfor i in range(5):\n    print(i, time.time())\n    time.sleep(0.3)\n"
    session_id = await open_session(client, "python", source)
    execution_id = await submit(client, session_id)
    read = await read_sse(client, f"/executions/{execution_id}/events")
    assert read.ended and read.events[-1].event == "result", read.events
    assert read.retry_ms is not None and read.retry_ms > 0
    # Every event has its number: 1, 2, 3... with no gap.
    assert ids(read.events) == list(range(1, len(read.events) + 1))
    arrivals: dict[int, float] = {}
    delays: list[float] = []
    for seen in read.events:
        if seen.event != "output":
            continue
        for line in seen.json()["data"].splitlines():
            number, printed = line.split()
            arrivals[int(number)] = seen.at
            delays.append(seen.at - float(printed))
    assert sorted(arrivals) == [0, 1, 2, 3, 4], read.events
    finished = next(e.at for e in read.events if e.event == "result")
    # Line by line: the lines arrive spread over the run (~1.2 s), not together at its end.
    assert arrivals[4] - arrivals[0] > 0.8, arrivals
    assert finished - arrivals[0] > 0.8, (arrivals, finished)
    gaps = [arrivals[i + 1] - arrivals[i] for i in range(4)]
    assert min(gaps) > 0.1, gaps
    # Each line reached the client before the program printed the next one (0.3 s later), and
    # typically within 200 ms of its print (flush every 50 ms, then the hops to the client).
    assert max(delays) < 0.3, delays
    assert statistics.median(delays) < 0.2, delays
    print(f"print-to-client delays (s): {[round(d, 3) for d in delays]}")


async def test_reconnecting_with_last_event_id_gets_exactly_the_missing_events(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    """While the run runs, and after it ended; from the other API process too."""
    source = "import time\nfor i in range(8):\n    print('line', i)\n    time.sleep(0.25)\n"
    session_id = await open_session(client, "python", source)
    other_url = start_api(engine, "api-streams")
    try:
        execution_id = await submit(client, session_id)
        path = f"/executions/{execution_id}/events"
        # Drop the connection after the second line, while the program is still running.
        first = await read_sse(client, path, until=lambda seen: "line 1" in stdout_of(seen))
        assert not first.ended
        assert (await client.get(f"/executions/{execution_id}")).json()["status"] == "RUNNING"
        last_id = first.events[-1].id
        assert last_id is not None
        async with httpx.AsyncClient(base_url=other_url, timeout=30) as other:
            rest = await read_sse(other, path, last_event_id=last_id)
        assert rest.ended and rest.events[-1].event == "result"
        joined = first.events + rest.events
        # No loss, no duplicate: the numbers run on densely from where the first read stopped.
        assert ids(joined) == list(range(1, len(joined) + 1)), ids(joined)
        assert stdout_of(joined) == "".join(f"line {i}\n" for i in range(8))
        assert [e.data for e in joined if e.event == "status"][-1] == "COMPLETED"

        # Finished: a fresh read is the whole stream; each resume point gives exactly the rest.
        whole = await read_sse(client, path)
        assert [(e.id, e.event, e.data) for e in whole.events] == [
            (e.id, e.event, e.data) for e in joined
        ]
        for cut in (1, 3, len(whole.events) - 1):
            resumed = await read_sse(client, path, last_event_id=cut)
            assert resumed.ended
            assert [(e.id, e.event, e.data) for e in resumed.events] == [
                (e.id, e.event, e.data) for e in whole.events[cut:]
            ], cut
        # After the last event there is nothing more: the stream ends at once, empty.
        after_end = await read_sse(client, path, last_event_id=len(whole.events))
        assert after_end.ended and after_end.events == []
    finally:
        engine.stop("api-streams")


async def test_fifty_subscribers_on_two_api_processes_get_the_same_full_sequence(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    # Long enough (6 s) for 50 connections to open on a busy 2-core machine (~25 ms each, far
    # more under load), so that many follow it live rather than from the table.
    source = "import time\nfor i in range(20):\n    print('tick', i)\n    time.sleep(0.3)\n"
    session_id = await open_session(client, "python", source)
    other_url = start_api(engine, "api-fifty")
    limits = httpx.Limits(max_connections=60)
    try:
        async with httpx.AsyncClient(base_url=other_url, timeout=30, limits=limits) as other:
            execution_id = await submit(client, session_id)
            path = f"/executions/{execution_id}/events"
            async with httpx.AsyncClient(base_url=client.base_url, limits=limits) as here:
                reads = await asyncio.gather(
                    *(read_sse(here if n % 2 else other, path) for n in range(50))
                )
        result = await wait_result(client, execution_id)
        first = [(e.id, e.event, e.data) for e in reads[0].events]
        assert len(reads) == 50
        for read in reads:
            assert read.ended
            assert [(e.id, e.event, e.data) for e in read.events] == first
        assert ids(reads[0].events) == list(range(1, len(first) + 1))
        assert (
            stdout_of(reads[0].events)
            == result["stdout"]
            == "".join(f"tick {i}\n" for i in range(20))
        )
        # Many were listening a good while before the run ended: they got it live, the same.
        live = [r for r in reads if r.events[0].at < r.events[-1].at - 1.0]
        print(f"{len(live)} of 50 subscribers followed the run live for over a second")
        assert len(live) >= 10, [r.events[-1].at - r.events[0].at for r in reads]
    finally:
        engine.stop("api-fifty")


async def test_a_session_stream_sees_another_clients_autosave_and_run(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    session_id = await open_session(client, "python", "print('first')")
    path = f"/code-sessions/{session_id}/events"
    source = "import time\nprint('one', flush=True)\ntime.sleep(0.3)\nprint('two')\n"

    def done(seen: list[Seen]) -> bool:
        return any(e.event == "result" for e in seen)

    watcher = asyncio.create_task(read_sse(client, path, until=done))
    async with httpx.AsyncClient(base_url=engine.url, timeout=30) as other_tab:
        saved = await other_tab.patch(f"/code-sessions/{session_id}", json={"source_code": source})
        assert saved.status_code == 200, saved.text
        execution_id = await submit(other_tab, session_id)
        result = await wait_result(other_tab, execution_id)
    read = await asyncio.wait_for(watcher, STREAM_DEADLINE_S)
    assert ids(read.events) == list(range(1, len(read.events) + 1))
    revisions = [e.json() for e in read.events if e.event == "revision"]
    assert [(r["revision"], r["source_code"]) for r in revisions] == [
        (1, "print('first')"),
        (2, source),
    ]
    assert revisions[1]["kind"] == "SessionCodeUpdated"
    statuses = [e.json() for e in read.events if e.event == "status"]
    assert {s["execution_id"] for s in statuses} == {execution_id}
    assert (statuses[0]["status"], statuses[-1]["status"]) == ("QUEUED", "COMPLETED")
    outputs = [e.json() for e in read.events if e.event == "output"]
    assert {o["execution_id"] for o in outputs} == {execution_id}
    assert "".join(o["data"] for o in outputs) == "one\ntwo\n"
    assert read.events[-1].json() == result
    # The autosave comes before the run it ran, and a tab that reconnects gets the rest only.
    kinds = [e.event for e in read.events]
    assert kinds.index("status") > [i for i, k in enumerate(kinds) if k == "revision"][-1]
    cut = 2
    resumed = await read_sse(client, path, last_event_id=cut, until=done)
    assert [(e.id, e.data) for e in resumed.events] == [(e.id, e.data) for e in read.events[cut:]]


async def test_output_cut_at_the_cap_is_signalled_and_chunks_stay_bounded(
    client: httpx.AsyncClient,
) -> None:
    # 4 MiB at once against the default 1 MiB cap, then a line on stderr after the flood.
    source = "import sys\nsys.stdout.write('x' * (4 << 20))\nsys.stdout.flush()\nprint('after', file=sys.stderr)\n"
    session_id = await open_session(client, "python", source)
    execution_id = await submit(client, session_id)
    read = await read_sse(client, f"/executions/{execution_id}/events")
    result = read.events[-1].json()
    assert result["stdout_truncated"] is True and len(result["stdout"]) == 1 << 20, {
        k: v for k, v in result.items() if k not in ("stdout", "source_code")
    }
    truncated = [e for e in read.events if e.event == "truncated"]
    assert [e.json() for e in truncated] == [{"stream": "stdout", "attempt": 1}]
    outputs = [e.json() for e in read.events if e.event == "output"]
    stdout = [o["data"] for o in outputs if o["stream"] == "stdout"]
    # Live output is exactly what the result kept, told before the end, in bounded chunks.
    assert "".join(stdout) == result["stdout"]
    assert max(map(len, stdout)) <= 16 * 1024
    assert len(stdout) == (1 << 20) // (16 * 1024)
    assert read.events.index(truncated[0]) < len(read.events) - 2
    assert "".join(o["data"] for o in outputs if o["stream"] == "stderr") == "after\n"


async def test_a_last_event_id_that_is_no_number_is_refused(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "python", "print(1)")
    execution_id = await submit(client, session_id)
    for path in (f"/executions/{execution_id}/events", f"/code-sessions/{session_id}/events"):
        for bad in (b"abc", b"-1", b"1.5", "²".encode(), b"9" * 12):
            response = await client.get(path, headers={b"Last-Event-ID": bad})
            assert_error(response, 422, "invalid_input")


async def test_a_program_flooding_output_line_by_line_makes_a_bounded_number_of_events(
    client: httpx.AsyncClient,
) -> None:
    """Hostile: a write per line, as fast as it can, until its CPU time runs out."""
    source = "for i in range(10**9):\n    print(i, flush=True)\n"
    session_id = await open_session(client, "python", source)
    execution_id = await submit(client, session_id, {"time_limit_ms": 2000})
    read = await read_sse(client, f"/executions/{execution_id}/events")
    result = read.events[-1].json()
    assert result["status"] == "TIMEOUT" and result["stdout_truncated"], result["status"]
    outputs = [e.json() for e in read.events if e.event == "output"]
    wall_ms = 2 * 2000 + 500
    # The documented bound: cap / OUTPUT_CHUNK_BYTES + wall / OUTPUT_FLUSH_MS per stream.
    assert len(outputs) <= (1 << 20) // (16 * 1024) + wall_ms // 50, len(outputs)
    assert "".join(o["data"] for o in outputs) == result["stdout"]
    assert [e.json()["stream"] for e in read.events if e.event == "truncated"] == ["stdout"]
    print(f"flood: {len(outputs)} output events for {len(result['stdout'])} bytes")
