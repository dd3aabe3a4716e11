"""The SDK without a server: its event-stream parser, its retries and its resumption of a
dropped stream, against httpx's mock transport."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

import runbox
from runbox import AsyncClient, Client, Retry, errors
from runbox.calls import IDEMPOTENCY_HEADER, Call, retry_after
from runbox.cli import EXIT_COMPILE_ERROR, EXIT_ENGINE, EXIT_TIMEOUT, exit_code_for
from runbox.sse import Parser
from runbox.types import ExecutionResult, OutputEvent, ResultEvent, StatusEvent

FAST = Retry(attempts=4, backoff_s=0.0)
RESULT = {"execution_id": "e1", "status": "COMPLETED", "exit_code": 0, "stdout": "a\nb\n"}


def feed(parser: Parser, text: str) -> list[tuple[str, str, str | None]]:
    messages = [parser.feed(line) for line in text.split("\n")]
    return [(m.event, m.data, m.id) for m in messages if m is not None]


def test_parser_follows_the_event_stream_format() -> None:
    parser = Parser()
    text = (
        ": keep-alive\n"
        "retry: 2500\n"
        "event: status\ndata: QUEUED\n\n"
        "id: 7\nevent: output\ndata: line one\ndata:line two\n\n"
        "data: unnamed\n\n"
        "event: nothing\n\n"  # no data: nothing is dispatched
    )
    assert feed(parser, text) == [
        ("status", "QUEUED", None),
        ("output", "line one\nline two", "7"),
        ("message", "unnamed", "7"),  # the last id stays until another replaces it
    ]
    assert (parser.retry_ms, parser.last_event_id) == (2500, "7")
    feed(parser, "retry: soon\nid: 8\0\n\n")  # ignored, as the standard says
    assert (parser.retry_ms, parser.last_event_id) == (2500, "7")
    feed(parser, "id\n\n")  # an empty id resets it
    assert parser.last_event_id is None


def test_a_message_cut_by_a_dropped_connection_is_not_dispatched() -> None:
    parser = Parser()
    feed(parser, "event: output\ndata: half")
    parser.interrupted()
    assert feed(parser, "data: whole\n\n") == [("message", "whole", None)]


class Broken(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that sends some bytes, then drops the connection."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        raise httpx.ReadError("connection reset")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        raise httpx.ReadError("connection reset")


def stream_server(seen: list[httpx.Request]) -> Callable[[httpx.Request], httpx.Response]:
    """First connection: status, one chunk with an id, then a drop. Second: the rest."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {"content-type": "text/event-stream"}
        if len(seen) == 1:
            first = (
                b"retry: 1\nevent: status\ndata: RUNNING\n\n"
                b'id: 1\nevent: output\ndata: {"stream":"stdout","seq":0,"data":"a\\n"}\n\n'
                b'event: output\ndata: {"stream":"stdout","se'  # cut mid-message
            )
            return httpx.Response(200, headers=headers, stream=Broken([first]))
        rest = (
            b'id: 2\nevent: output\ndata: {"stream":"stdout","seq":1,"data":"b\\n"}\n\n'
            b"event: result\ndata: " + msgspec.json.encode(RESULT) + b"\n\n"
        )
        return httpx.Response(200, headers=headers, content=rest)

    return handle


EXPECTED = [
    StatusEvent(status="RUNNING"),
    OutputEvent(stream="stdout", seq=0, data="a\n"),
    OutputEvent(stream="stdout", seq=1, data="b\n"),
    ResultEvent(result=msgspec.convert(RESULT, ExecutionResult)),
]


def test_a_dropped_stream_resumes_from_the_last_event_id() -> None:
    seen: list[httpx.Request] = []
    http = httpx.Client(
        base_url="http://runbox", transport=httpx.MockTransport(stream_server(seen))
    )
    with Client("http://runbox", http=http, retry=FAST) as client:
        assert list(client.events("e1")) == EXPECTED
    assert [r.headers.get("Last-Event-ID") for r in seen] == [None, "1"]


async def test_a_dropped_stream_resumes_from_the_last_event_id_async() -> None:
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(stream_server(seen))
    http = httpx.AsyncClient(base_url="http://runbox", transport=transport)
    async with AsyncClient("http://runbox", http=http, retry=FAST) as client:
        assert [event async for event in client.events("e1")] == EXPECTED
    assert [r.headers.get("Last-Event-ID") for r in seen] == [None, "1"]


def test_a_stream_that_keeps_breaking_raises_after_the_attempts() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Broken([b"event: status\ndata: RUNNING\n\n"]))

    http = httpx.Client(base_url="http://runbox", transport=httpx.MockTransport(handle))
    with Client("http://runbox", http=http, retry=FAST) as client:
        events = client.events("e1")
        assert next(events) == StatusEvent(status="RUNNING")
        # Each reconnection brings an event, so the stream counts as alive: it keeps going.
        assert next(events) == StatusEvent(status="RUNNING")

    def dead(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Broken([]))

    http = httpx.Client(base_url="http://runbox", transport=httpx.MockTransport(dead))
    with (
        Client("http://runbox", http=http, retry=FAST) as client,
        pytest.raises(errors.StreamError),
    ):
        list(client.events("e1"))


def busy_then_ok(seen: list[httpx.Request], busy: int, code: str = "backpressure"):  # type: ignore[no-untyped-def]
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) <= busy:
            body = {"error": "wait", "code": code, "details": {}, "retryAfter": 0}
            return httpx.Response(503, json=body, headers={"Retry-After": "0"})
        return httpx.Response(202, json={"execution_id": "e1", "status": "QUEUED"})

    return handle


def test_a_run_is_retried_after_503_under_one_idempotency_key() -> None:
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(busy_then_ok(seen, busy=2))
    http = httpx.Client(base_url="http://runbox", transport=transport)
    with Client("http://runbox", http=http, retry=FAST) as client:
        queued = client.run("s1", stdin="x")
    assert queued.execution_id == "e1"
    keys = {r.headers[IDEMPOTENCY_HEADER] for r in seen}
    assert len(seen) == 3 and len(keys) == 1 and keys != {""}


async def test_a_run_gives_up_after_the_attempts_with_the_code_and_status() -> None:
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(busy_then_ok(seen, busy=99))
    http = httpx.AsyncClient(base_url="http://runbox", transport=transport)
    async with AsyncClient("http://runbox", http=http, retry=FAST) as client:
        with pytest.raises(errors.Unavailable) as raised:
            await client.run("s1")
    assert (raised.value.status, raised.value.code, raised.value.retry_after) == (
        503,
        "backpressure",
        0,
    )
    assert len(seen) == FAST.attempts


def test_a_recorded_write_is_not_sent_again() -> None:
    # projection_behind: the session was created, only not visible yet; a retry would make two.
    seen: list[httpx.Request] = []
    view = {
        "session_id": "s9",
        "status": "ACTIVE",
        "language_id": "l",
        "language_name": "Python 3",
        "source_code": "print(1)",
        "runtime": "python3",
        "version": "3.11",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "revision": 1,
    }

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            body = {"error": "behind", "code": "projection_behind", "details": {"session_id": "s9"}}
            return httpx.Response(503, json=body, headers={"Retry-After": "0"})
        if len(seen) < 4:  # visible from the third read on
            return httpx.Response(404, json={"error": "no", "code": "not_found", "details": {}})
        return httpx.Response(200, json=view)

    http = httpx.Client(base_url="http://runbox", transport=httpx.MockTransport(handle))
    with Client("http://runbox", http=http, retry=FAST) as client:
        created = client.create_session("python", "print(1)")
    assert (created.session_id, created.revision) == ("s9", 1)
    assert [r.method for r in seen] == ["POST", "GET", "GET", "GET"]

    # A save recorded but not visible is not sent again either: it says so.
    seen.clear()
    transport = httpx.MockTransport(busy_then_ok(seen, busy=1, code="projection_behind"))
    http = httpx.Client(base_url="http://runbox", transport=transport)
    with (
        Client("http://runbox", http=http, retry=FAST) as client,
        pytest.raises(errors.Unavailable) as raised,
    ):
        client.save("s1", "print(2)")
    assert raised.value.code == "projection_behind" and len(seen) == 1


def test_a_lost_answer_is_resent_only_where_that_is_safe() -> None:
    run = Call("POST", "/code-sessions/s/run", idempotent=True)
    create = Call("POST", "/code-sessions", idempotent=False)
    lost = httpx.ReadError("reset")
    unsent = httpx.ConnectError("refused")
    assert FAST.after_error(run, 1, lost) is not None
    assert FAST.after_error(create, 1, lost) is None
    assert FAST.after_error(create, 1, unsent) is not None
    assert FAST.after_error(run, FAST.attempts, unsent) is None


def test_retry_after_is_obeyed_up_to_the_ceiling() -> None:
    retry = Retry(max_delay_s=10)
    call = Call("GET", "/languages")
    answer = httpx.Response(429, headers={"Retry-After": "3"})
    assert retry_after(answer) == 3.0
    assert retry.after_answer(call, 1, answer) == 3.0
    assert retry.after_answer(call, 1, httpx.Response(503, headers={"Retry-After": "99"})) == 10
    assert retry.after_answer(call, 1, httpx.Response(500)) is None
    date = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after(date) == 0.0  # a date in the past: now


def test_errors_carry_code_status_and_details() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        body = {"error": "lost a race", "code": "conflict", "details": {"revision": 4}}
        return httpx.Response(409, json=body)

    http = httpx.Client(base_url="http://runbox", transport=httpx.MockTransport(handle))
    with (
        Client("http://runbox", http=http, retry=FAST) as client,
        pytest.raises(errors.Conflict) as raised,
    ):
        client.save("s1", "x", expected_revision=3)
    assert (raised.value.status, raised.value.code) == (409, "conflict")
    assert raised.value.current_revision == 4


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        ({"status": "COMPLETED", "exit_code": 0}, 0),
        ({"status": "FAILED", "error_code": "E002", "exit_code": 3}, 3),
        ({"status": "FAILED", "error_code": "E002", "signal": 11}, 139),
        ({"status": "FAILED", "error_code": "E001", "exit_code": 1}, EXIT_COMPILE_ERROR),
        ({"status": "TIMEOUT", "error_code": "E004"}, EXIT_TIMEOUT),
        ({"status": "FAILED", "error_code": "E005"}, EXIT_ENGINE),
    ],
)
def test_the_cli_exit_status(outcome: dict[str, object], code: int) -> None:
    assert exit_code_for(msgspec.convert({"execution_id": "e", **outcome}, ExecutionResult)) == code


def test_the_sdk_imports_nothing_of_the_engine() -> None:
    # It ships to users alone: only httpx, msgspec and the standard library.
    engine = {"api", "processors", "projections", "sandbox", "schemas", "config", "telemetry"}
    engine |= {"eventlog", "fleet", "devstack", "bench", "chaos", "tests"}
    root = Path(runbox.__file__).parent
    for module in root.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in engine, f"{module.name} imports {name}"
