"""Interactive runs over GET /executions/{id}/ws: events out, stdin in, against the real engine."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import Engine
from tests.e2e.fixtures_runs import open_session, submit, wait_result

FRAME_DEADLINE_S = 60.0  # a run may queue behind others on the shared 2-core machine


@asynccontextmanager
async def socket(engine: Engine, execution_id: str) -> AsyncIterator[ClientConnection]:
    url = engine.url.replace("http://", "ws://") + f"/executions/{execution_id}/ws"
    async with connect(url, open_timeout=10) as ws:
        yield ws


async def frame(ws: ClientConnection, timeout: float = FRAME_DEADLINE_S) -> dict[str, Any]:
    received = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(received, str), received  # JSON text frames only
    decoded: dict[str, Any] = orjson.loads(received)
    return decoded


async def send(ws: ClientConnection, **fields: Any) -> None:
    await ws.send(orjson.dumps(fields).decode())


class Transcript:
    """The frames of one socket, read as they come, and the stdout they carried."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[tuple[float, dict[str, Any]]] = []

    @property
    def stdout(self) -> str:
        return "".join(
            f["data"]["data"]
            for _, f in self.frames
            if f["type"] == "output" and f["data"]["stream"] == "stdout"
        )

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [f for _, f in self.frames if f["type"] == kind]

    async def until(self, done: Any, what: str, timeout: float = FRAME_DEADLINE_S) -> None:
        """Read frames until `done(self)` holds; fail at the result or the deadline before it."""
        deadline = time.monotonic() + timeout
        while not done(self):
            assert not self.of("result"), f"the run ended before {what}: {self.frames}"
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {what} within {timeout:.0f}s: {self.frames}"
            self.frames.append((time.monotonic(), await frame(self.ws, remaining)))

    async def to_the_end(self) -> dict[str, Any]:
        """Every frame up to the result, then the server's close (1000); the result's data."""
        await self.until(lambda t: t.of("result"), "the result")
        result: dict[str, Any] = self.of("result")[0]["data"]
        try:
            extra = await asyncio.wait_for(self.ws.recv(), 10)
            raise AssertionError(f"a frame after the result: {extra!r}")
        except ConnectionClosed:
            pass
        assert self.ws.close_code == 1000
        return result


async def interactive_run(
    client: httpx.AsyncClient, source: str, **options: Any
) -> tuple[str, str]:
    session_id = await open_session(client, "python", source)
    return session_id, await submit(client, session_id, {"interactive": True, **options})


async def history(client: httpx.AsyncClient, execution_id: str) -> list[dict[str, Any]]:
    """The execution's recorded events once its RunFinished is in (the projector may lag)."""
    deadline = time.monotonic() + 30
    while True:
        found: list[dict[str, Any]] = (
            await client.get(f"/executions/{execution_id}/history")
        ).json()["events"]
        if any(e["type"] == "RunFinished" for e in found) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_a_program_asking_three_questions_is_answered_live_over_the_socket(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    # Half a second first: time for the socket to subscribe before the first question.
    source = (
        "import time\ntime.sleep(0.5)\n"
        "for i in range(3):\n    line = input(f'q{i}? ')\n    print(f'answer {i}: {line.upper()}')\n"
    )
    _, execution_id = await interactive_run(client, source)
    lines = ["alpha", "beta", "gamma"]
    async with socket(engine, execution_id) as ws:
        talk = Transcript(ws)
        for i, line in enumerate(lines):
            await talk.until(lambda t: t.stdout.endswith(f"q{i}? "), f"question {i}")  # noqa: B023
            assert f"answer {i}" not in talk.stdout  # it cannot answer what it was not sent
            await send(ws, type="stdin", data=f"{line}\n")
            await talk.until(lambda t: f"answer {i}: {line.upper()}\n" in t.stdout, f"answer {i}")  # noqa: B023
        result = await talk.to_the_end()
    assert result["status"] == "COMPLETED", result
    assert result["stdout"] == "".join(
        f"q{i}? answer {i}: {line.upper()}\n" for i, line in enumerate(lines)
    )
    assert not talk.of("error"), talk.frames
    statuses = [f["data"] for f in talk.of("status")]
    assert statuses[-1] == "COMPLETED" and "RUNNING" in statuses, statuses
    # The log is the audit record: each line as the program was given it, in order, between
    # the output that asked for it and the output that answered it; then the end of the input.
    recorded = await history(client, execution_id)
    given = [e["payload"] for e in recorded if e["type"] == "StdinReceived"]
    assert [(g["seq"], g["data"]) for g in given] == [(1, "alpha\n"), (2, "beta\n"), (3, "gamma\n")]
    closed = [e["payload"] for e in recorded if e["type"] == "StdinClosed"]
    assert [(c["reason"], c["bytes_given"]) for c in closed] == [("run_ended", 17)]
    exchange = [
        e["payload"]["data"] for e in recorded if e["type"] in {"OutputChunk", "StdinReceived"}
    ]
    assert (
        "".join(exchange)
        == "q0? alpha\nanswer 0: ALPHA\nq1? beta\nanswer 1: BETA\nq2? gamma\nanswer 2: GAMMA\n"
    )
    requested = next(e["payload"] for e in recorded if e["type"] == "RunRequested")
    assert requested["interactive"] is True


async def test_output_arrives_line_by_line_before_the_program_ends(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    # Half a second first: time for the socket to subscribe before the first line.
    source = "import time\ntime.sleep(0.5)\nfor i in range(5):\n    print(f'line {i}')\n    time.sleep(0.3)\n"
    session_id = await open_session(client, "python", source)
    execution_id = await submit(client, session_id)
    async with socket(engine, execution_id) as ws:
        talk = Transcript(ws)
        result = await talk.to_the_end()
    assert result["status"] == "COMPLETED" and result["stdout"] == "".join(
        f"line {i}\n" for i in range(5)
    )
    arrivals = [
        (at, f["data"]["data"])
        for at, f in talk.frames
        if f["type"] == "output" and f["data"]["stream"] == "stdout"
    ]
    assert [data for _, data in arrivals] == [f"line {i}\n" for i in range(5)]  # one frame each
    ended = next(at for at, f in talk.frames if f["type"] == "result")
    # The first line came while four more (1.2 s of them) were still to be printed, and the
    # lines came apart, as printed, not together at the end.
    assert ended - arrivals[0][0] > 0.9, arrivals
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(arrivals)]
    assert min(gaps) > 0.1, gaps


async def test_a_client_flooding_stdin_is_refused_past_the_bound_and_the_worker_carries_on(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    # The program never reads: all it can hold is its pipe (64 KiB), the chunk the executor
    # is writing into it, and the bound of STDIN_BUFFER_BYTES (64 KiB) waiting in Redis.
    source = "import time\ntime.sleep(1.5)\nprint('alive')\n"
    _, execution_id = await interactive_run(client, source)
    frame_bytes, frames = 16 * 1024, 64
    async with socket(engine, execution_id) as ws:
        talk = Transcript(ws)
        for _ in range(frames):
            await send(ws, type="stdin", data="z" * frame_bytes)
        result = await talk.to_the_end()
    assert (result["status"], result["stdout"]) == ("COMPLETED", "alive\n"), result
    errors = talk.of("error")
    assert errors and {e["code"] for e in errors} == {"stdin_buffer_full"}, errors
    assert "at most 65536 bytes may wait" in errors[0]["error"]
    accepted = frames - len(errors)
    assert accepted * frame_bytes <= 3 * 64 * 1024 + frame_bytes, accepted
    # The log has what the program was given: no more than its pipe could take.
    recorded = await history(client, execution_id)
    given = sum(len(e["payload"]["data"]) for e in recorded if e["type"] == "StdinReceived")
    assert 0 < given <= 2 * 64 * 1024
    # The worker took no harm: it runs the next program at once, and is still listed running.
    started = time.monotonic()
    session_id = await open_session(client, "python", "print('next')")
    after = await wait_result(client, await submit(client, session_id), 30)
    assert (after["status"], after["stdout"]) == ("COMPLETED", "next\n")
    assert time.monotonic() - started < 10
    workers = (await client.get("/workers")).json()["workers"]
    assert any(w["worker_id"] == "e2e-worker" and w["state"] == "running" for w in workers)


async def test_an_interactive_program_never_given_input_times_out_at_its_wall_limit(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    # Its wall limit: 2 x time_limit_ms + 500 ms, waiting for input included.
    _, execution_id = await interactive_run(client, "print(input())", time_limit_ms=1000)
    async with socket(engine, execution_id) as ws:
        result = await Transcript(ws).to_the_end()
    assert (result["status"], result["error_code"]) == ("TIMEOUT", "E004"), result
    assert 2500 <= result["execution_time_ms"] < 4000, result
    assert result["cpu_time_ms"] < 1000


async def test_a_run_that_is_not_interactive_refuses_stdin_frames(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    source = "import sys, time\ntime.sleep(1)\nprint(repr(sys.stdin.read()))\n"
    session_id = await open_session(client, "python", source)
    execution_id = await submit(client, session_id, {"stdin": "given\n"})
    async with socket(engine, execution_id) as ws:
        talk = Transcript(ws)
        await send(ws, type="stdin", data="more\n")
        await send(ws, type="eof")
        await talk.until(lambda t: len(t.of("error")) == 2, "two errors")
        result = await talk.to_the_end()
    assert {e["code"] for e in talk.of("error")} == {"not_interactive"}
    assert "not requested as interactive" in talk.of("error")[0]["error"]
    assert (result["status"], result["stdout"]) == ("COMPLETED", "'given\\n'\n")


async def test_eof_ends_the_input_and_later_stdin_is_refused(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    source = "import sys\ndata = sys.stdin.read()\nprint(repr(data))\n"
    _, execution_id = await interactive_run(client, source, stdin="start\n")
    async with socket(engine, execution_id) as ws:
        talk = Transcript(ws)
        await send(ws, type="stdin", data="one\n")
        await send(ws, type="stdin", data="two\n")
        await send(ws, type="eof")
        await send(ws, type="stdin", data="late\n")
        await talk.until(lambda t: t.of("error"), "the refusal of late input")
        result = await talk.to_the_end()
    assert (result["status"], result["stdout"]) == ("COMPLETED", "'start\\none\\ntwo\\n'\n")
    refusal = talk.of("error")[0]
    assert refusal["code"] == "stdin_closed" and "a client sent eof" in refusal["error"]
    recorded = await history(client, execution_id)
    closed = [e["payload"] for e in recorded if e["type"] == "StdinClosed"]
    assert [(c["reason"], c["bytes_given"]) for c in closed] == [("eof", 8)]
    # A re-run is interactive too: its input comes again, live, into a channel of its own.
    rerun = await client.post(f"/executions/{execution_id}/rerun")
    assert rerun.status_code == 202, rerun.text
    async with socket(engine, rerun.json()["execution_id"]) as ws:
        talk = Transcript(ws)
        await send(ws, type="stdin", data="again\n")
        await send(ws, type="eof")
        again = await talk.to_the_end()
    assert (again["status"], again["stdout"]) == ("COMPLETED", "'start\\nagain\\n'\n"), again
    assert again["rerun"]["stdout_matches"] is False


async def test_a_client_that_disconnects_ends_the_input(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    source = "import sys\nprint('got', repr(sys.stdin.read()))\n"
    _, execution_id = await interactive_run(client, source)
    async with socket(engine, execution_id) as ws:
        talk = Transcript(ws)
        await send(ws, type="stdin", data="abc")
        await talk.until(lambda t: "RUNNING" in [f["data"] for f in t.of("status")], "RUNNING")
    result = await wait_result(client, execution_id, 30)
    assert (result["status"], result["stdout"]) == ("COMPLETED", "got 'abc'\n"), result


async def test_bad_frames_and_unknown_executions_get_error_frames(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    async with socket(engine, "00000000-0000-4000-8000-000000000000") as ws:
        error = await frame(ws, 10)
        assert error["type"] == "error" and error["code"] == "not_found", error
        try:
            extra = await asyncio.wait_for(ws.recv(), 10)
            raise AssertionError(f"a frame after not_found: {extra!r}")
        except ConnectionClosed:
            pass
        assert ws.close_code == 1008
    _, execution_id = await interactive_run(client, "print(input())", time_limit_ms=1000)
    async with socket(engine, execution_id) as ws:
        talk = Transcript(ws)
        for bad in ("not json", '{"type": "shout"}', '{"type": "stdin", "data": 5}', "[1]"):
            await ws.send(bad)
        await ws.send(b"\x00binary")
        await talk.until(lambda t: len(t.of("error")) == 5, "five errors")
        assert {e["code"] for e in talk.of("error")} == {"bad_frame"}
        await send(ws, type="stdin", data="still fine\n")  # the socket is still open
        result = await talk.to_the_end()
    assert (result["status"], result["stdout"]) == ("COMPLETED", "still fine\n"), result
    # A frame larger than any the bound could take is not even read.
    _, waiting = await interactive_run(client, "print(input())")
    async with socket(engine, waiting) as ws:
        await frame(ws)  # its status
        await send(ws, type="stdin", data="x" * (6 * 64 * 1024 + 4096))
        # Events already on their way (its RUNNING) may still arrive; then the close, never a
        # reply to the frame.
        try:
            while True:
                extra = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                assert extra["type"] in {"status", "output"}, f"after the oversized one: {extra}"
        except ConnectionClosed:
            pass
        assert ws.close_code == 1009
