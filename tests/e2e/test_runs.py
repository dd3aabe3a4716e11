"""Running code over HTTP: run options, read-your-writes, Idempotency-Key, rate limits, SSE."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.fixtures_runs import open_session, submit, wait_result
from tests.e2e.test_contract import assert_error

RESULT_FIELDS = {
    "execution_id", "status", "session_id", "language", "error_code", "error_message",
    "exit_code", "signal", "stdout", "stderr", "compile_output", "stdout_truncated",
    "stderr_truncated", "execution_time_ms", "compile_time_ms", "cpu_time_ms", "memory_peak_kb",
    "attempt", "worker_id", "queued_at", "started_at", "finished_at", "time_limit_ms", "memory_mb",
    "read_bytes", "written_bytes", "voluntary_context_switches", "involuntary_context_switches",
}  # fmt: skip


async def test_run_result_has_every_field(client: httpx.AsyncClient) -> None:
    # It writes 100 KiB to a file of its own, beside its "hi".
    program = "open('f', 'w').write('z' * 102400)\nprint('hi')\n"
    session_id = await open_session(client, "python", program)
    execution_id = await submit(client, session_id)
    result = await wait_result(client, execution_id)
    assert set(result) >= RESULT_FIELDS, RESULT_FIELDS - set(result)
    python = (await client.get("/languages/python")).json()
    assert result["language"] == {
        "id": python["id"],
        "name": python["name"],
        "version": python["version"],
    }
    assert (result["status"], result["stdout"], result["exit_code"]) == ("COMPLETED", "hi\n", 0)
    assert result["time_limit_ms"] == 5000 and result["memory_mb"] == 256  # the defaults
    assert result["worker_id"] == "e2e-worker"
    assert result["signal"] is None and result["compile_output"] == ""
    assert result["memory_peak_kb"] > 0 and result["cpu_time_ms"] >= 0
    assert 102400 + 3 <= result["written_bytes"] < 2 * 102400, result
    assert result["read_bytes"] > 0 and result["voluntary_context_switches"] >= 0
    assert result["involuntary_context_switches"] >= 0


async def test_run_without_body_and_with_options(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "python", "print(input())")
    bare = await client.post(f"/code-sessions/{session_id}/run")  # no body at all
    assert bare.status_code == 202, bare.text
    chosen = await submit(
        client, session_id, {"time_limit_ms": 2500, "memory_mb": 128, "stdin": "x"}
    )
    first = await wait_result(client, bare.json()["execution_id"])
    assert first["status"] == "FAILED" and first["error_code"] == "E002"  # EOF on empty stdin
    second = await wait_result(client, chosen)
    assert (second["time_limit_ms"], second["memory_mb"], second["stdout"]) == (2500, 128, "x\n")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"time_limit_ms": 99}, "time_limit_ms"),
        ({"time_limit_ms": 60001}, "time_limit_ms"),
        ({"time_limit_ms": 0}, "time_limit_ms"),
        ({"time_limit_ms": -5}, "time_limit_ms"),
        ({"memory_mb": 31}, "memory_mb"),
        ({"memory_mb": 2049}, "memory_mb"),
        ({"time_limit_ms": "5000"}, None),
        ({"time_limit_ms": 1500.5}, None),
        ({"memory_mb": True}, None),
        ({"stdin": 42}, None),
        ({"priority": 1}, None),
    ],
)
async def test_run_rejects_bad_options(
    client: httpx.AsyncClient, options: dict[str, Any], field: str | None
) -> None:
    session_id = await open_session(client, "python", "print(1)")
    body = assert_error(
        await client.post(f"/code-sessions/{session_id}/run", json=options), 422, "invalid_input"
    )
    if field is not None:
        assert body["details"]["field"] == field
    listed = (await client.get(f"/code-sessions/{session_id}/executions")).json()
    assert listed["executions"] == []


async def test_run_limits_at_the_edges_are_accepted(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "python", "print('edge')")
    for options in (
        {"time_limit_ms": 100, "memory_mb": 2048},
        {"time_limit_ms": 60000, "memory_mb": 32},
    ):
        response = await client.post(f"/code-sessions/{session_id}/run", json=options)
        assert response.status_code == 202, (options, response.text)


async def test_run_rejects_malformed_json_and_big_stdin(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "python", "print(1)")
    url = f"/code-sessions/{session_id}/run"
    headers = {"content-type": "application/json"}
    assert_error(
        await client.post(url, content=b"{time_limit_ms: 5}", headers=headers), 400, "bad_request"
    )
    assert_error(await client.post(url, json={"stdin": "x" * (1024 * 1024 + 1)}), 413, "too_large")
    assert (await client.get(f"{url.removesuffix('/run')}/executions")).json()["executions"] == []


async def test_stdin_at_the_one_mib_limit_runs(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "python", "import sys\nprint(len(sys.stdin.read()))")
    response = await client.post(
        f"/code-sessions/{session_id}/run", json={"stdin": "x" * (1024 * 1024)}
    )
    assert response.status_code == 202, response.text
    result = await wait_result(client, response.json()["execution_id"])
    assert (result["status"], result["stdout"]) == ("COMPLETED", f"{1024 * 1024}\n")


async def test_read_your_writes(client: httpx.AsyncClient) -> None:
    """Each write's 2xx means the next read sees it: no retry, no wait, many times over."""
    for attempt in range(15):
        session_id = await open_session(client, "python", f"print({attempt})")
        saved = await client.patch(
            f"/code-sessions/{session_id}", json={"source_code": f"print({attempt + 100})"}
        )
        assert saved.status_code == 200, saved.text
        got = await client.get(f"/code-sessions/{session_id}")
        assert got.json()["source_code"] == f"print({attempt + 100})"
        execution_id = await submit(client, session_id)
        seen = await client.get(f"/executions/{execution_id}")
        assert seen.status_code == 200, seen.text
        listed = (await client.get(f"/code-sessions/{session_id}/executions")).json()["executions"]
        assert [e["execution_id"] for e in listed] == [execution_id]
        closed = await client.patch(f"/code-sessions/{session_id}/close")
        assert closed.status_code == 200
        assert (await client.get(f"/code-sessions/{session_id}")).json()["status"] == "INACTIVE"
    # A run runs the code saved last, not the code the session was created with.
    result = await wait_result(client, execution_id)
    assert result["stdout"] == f"{attempt + 100}\n"


async def test_idempotency_key_gives_one_execution(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "python", "print('once')")
    key = {"Idempotency-Key": "submit-button-1"}
    first = await submit(client, session_id, headers=key)
    replayed = await client.post(f"/code-sessions/{session_id}/run", headers=key)
    assert replayed.status_code == 202, replayed.text
    again = replayed.json()["execution_id"]

    async def keyed(key: str) -> str:
        # A replay answers with the execution as it is now: QUEUED, RUNNING or finished.
        response = await client.post(
            f"/code-sessions/{session_id}/run", headers={"Idempotency-Key": key}
        )
        assert response.status_code == 202, response.text
        execution_id: str = response.json()["execution_id"]
        return execution_id

    racing = await asyncio.gather(*(keyed("k2") for _ in range(4)))
    other = await submit(client, session_id, headers={"Idempotency-Key": "submit-button-2"})
    assert again == first
    assert len(set(racing)) == 1 and racing[0] != first
    assert other not in {first, racing[0]}
    listed = (await client.get(f"/code-sessions/{session_id}/executions")).json()["executions"]
    assert sorted(e["execution_id"] for e in listed) == sorted({first, racing[0], other})
    # The same key in another session is another run.
    elsewhere = await open_session(client, "python", "print('once')")
    assert await submit(client, elsewhere, headers=key) != first


async def test_executions_list_newest_first_with_limit(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "bash", "echo $RANDOM")
    submitted = [await submit(client, session_id) for _ in range(6)]
    url = f"/code-sessions/{session_id}/executions"
    listed = (await client.get(url)).json()
    assert listed["session_id"] == session_id
    assert [e["execution_id"] for e in listed["executions"]] == submitted[::-1]
    limited = (await client.get(url, params={"limit": 4})).json()["executions"]
    assert [e["execution_id"] for e in limited] == submitted[::-1][:4]
    assert len((await client.get(url, params={"limit": 1})).json()["executions"]) == 1
    for bad in (0, 101, -1, "ten"):
        response = await client.get(url, params={"limit": bad})
        assert response.status_code in {400, 422}, (bad, response.text)
        assert_error(response, response.status_code)
    for execution_id in submitted:
        await wait_result(client, execution_id)
    done = (await client.get(url)).json()["executions"]
    for entry in done:
        assert set(entry) == {
            "execution_id",
            "status",
            "execution_time_ms",
            "exit_code",
            "created_at",
        }
        assert (entry["status"], entry["exit_code"]) == ("COMPLETED", 0)
        assert entry["execution_time_ms"] >= 0
    assert [e["created_at"] for e in done] == sorted((e["created_at"] for e in done), reverse=True)


async def _fill_the_minute(client: httpx.AsyncClient) -> tuple[str, httpx.Response] | None:
    """Ten runs then an eleventh in one minute window; None if the window turned meanwhile."""
    window = int(time.time() // 60)
    session_id = await open_session(client, "bash", "echo ok")
    for _ in range(10):
        await submit(client, session_id)
    refused = await client.post(f"/code-sessions/{session_id}/run")
    if int(time.time() // 60) != window:
        return None
    return session_id, refused


async def test_eleventh_run_in_a_minute_is_429(client: httpx.AsyncClient) -> None:
    found = await _fill_the_minute(client) or await _fill_the_minute(client)
    assert found is not None, "two minute windows turned during ten runs"
    session_id, refused = found
    body = assert_error(refused, 429, "rate_limited")
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert body["retryAfter"] == retry_after
    listed = (
        await client.get(f"/code-sessions/{session_id}/executions", params={"limit": 100})
    ).json()
    assert len(listed["executions"]) == 10
    # Another session is not affected.
    assert await submit(client, await open_session(client, "bash", "echo ok"))


async def test_five_failures_in_a_row_cool_the_session_down(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "bash", "exit 1")
    for _ in range(5):
        result = await wait_result(client, await submit(client, session_id))
        assert result["status"] == "FAILED"
    refused = await client.post(f"/code-sessions/{session_id}/run")
    body = assert_error(refused, 429, "rate_limited")
    assert body["details"]["reason"] == "failure_streak"
    assert 1 <= body["retryAfter"] == int(refused.headers["Retry-After"]) <= 60
    # Fixing the code does not lift the cooldown early; the session is still readable.
    await client.patch(f"/code-sessions/{session_id}", json={"source_code": "echo fixed"})
    assert_error(await client.post(f"/code-sessions/{session_id}/run"), 429)


async def read_events(client: httpx.AsyncClient, execution_id: str) -> list[tuple[str, str]]:
    """The whole SSE stream of one execution as (event, data) pairs, until the server ends it."""
    found: list[tuple[str, str]] = []
    event, data = "message", []
    async with client.stream("GET", f"/executions/{execution_id}/events", timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data.append(line.removeprefix("data:").removeprefix(" "))
            elif line == "" and data:
                found.append((event, "\n".join(data)))
                event, data = "message", []
    return found


async def test_live_events_end_with_the_result(client: httpx.AsyncClient) -> None:
    source = "import time\ntime.sleep(0.8)\nprint('one', flush=True)\ntime.sleep(0.3)\nprint('two')"
    session_id = await open_session(client, "python", source)
    execution_id = await submit(client, session_id)
    stream = await asyncio.wait_for(read_events(client, execution_id), 120)
    names = [name for name, _ in stream]
    assert names[-1] == "result", stream
    statuses = [data for name, data in stream if name == "status"]
    assert statuses[-1] == "COMPLETED" and statuses[0] in {"QUEUED", "RUNNING"}, statuses
    order = ["QUEUED", "RUNNING", "COMPLETED"]
    assert [order.index(s) for s in statuses] == sorted(order.index(s) for s in statuses)
    # Output arrives live, before the end, and adds up to stdout.
    chunks = [orjson.loads(data) for name, data in stream if name == "output"]
    assert chunks, stream
    assert "".join(c["data"] for c in chunks if c["stream"] == "stdout") == "one\ntwo\n"
    result = orjson.loads(stream[-1][1])
    assert (result["status"], result["stdout"]) == ("COMPLETED", "one\ntwo\n")
    assert result == (await client.get(f"/executions/{execution_id}")).json()

    # Following a finished execution: the same events, from its recorded stream, at once.
    replayed = await asyncio.wait_for(read_events(client, execution_id), 10)
    assert replayed == stream


async def test_nul_bytes_in_stdin_and_output_are_kept_visible(client: httpx.AsyncClient) -> None:
    """Binary-ish I/O: PostgreSQL text cannot hold NUL, so the projection shows U+FFFD."""
    source = "import sys\ndata = sys.stdin.read()\nprint(len(data), repr(data))\nsys.stdout.write('a\\x00b')"
    session_id = await open_session(client, "python", source)
    execution_id = await submit(client, session_id, {"stdin": "x\u0000y"})
    result = await wait_result(client, execution_id)
    assert result["status"] == "COMPLETED", result
    assert result["stdout"] == "3 'x\\x00y'\na\ufffdb"


async def test_source_with_nul_is_refused(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "python", "print(1)")
    response = await client.patch(
        f"/code-sessions/{session_id}", json={"source_code": "print(1)\u0000"}
    )
    assert_error(response, 422, "invalid_input")
    assert (await client.get(f"/code-sessions/{session_id}")).json()["source_code"] == "print(1)"
