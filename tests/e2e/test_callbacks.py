"""Callbacks as a receiver meets them: a signed result when a run ends, retries recorded in the
history, private destinations refused without a connection, and a dead receiver holding up
nothing. The receivers are plain sockets of the test on the allow-listed loopback ports."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from eventlog import topics
from tests.e2e.conftest import Engine, free_port
from tests.e2e.fixtures_fleet import VANISHED, accepted_run, produce, wait_terminal
from tests.e2e.fixtures_runs import open_session, submit, wait_result

DEADLINE_S = 60.0
LogPlace = tuple[TopicPartition, int]


@dataclass
class Received:
    """One request as the receiver read it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    method: str = "POST"


@dataclass
class Receiver:
    """An HTTP receiver on one port: answers each request with the next of `statuses` (then
    200), or never answers when `hang`; counts every connection, whatever it carried."""

    statuses: list[int] = field(default_factory=list)
    hang: bool = False
    hang_first: int = 0  # this many requests get no answer (until the test ends), then as above
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    open_connections: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            method, path = request_line.split()[:2]
            self.received.append(Received(path, headers, body, time.time(), method))
            if self.hang or len(self.received) <= self.hang_first:
                await self.released.wait()  # until the test ends
            status = self.statuses.pop(0) if self.statuses else 200
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self.open_connections -= 1
            writer.close()

    def of(self, execution_id: str) -> list[Received]:
        return [r for r in self.received if r.headers.get("x-runbox-execution") == execution_id]

    async def wait_for(self, execution_id: str, count: int = 1) -> list[Received]:
        deadline = time.monotonic() + DEADLINE_S
        while len(self.of(execution_id)) < count:
            assert time.monotonic() < deadline, f"{len(self.of(execution_id))} of {count} came"
            await asyncio.sleep(0.05)
        return self.of(execution_id)


@contextlib.asynccontextmanager
async def listening(receiver: Receiver, port: int, *hosts: str) -> AsyncIterator[Receiver]:
    servers = []
    try:
        for host in hosts or ("127.0.0.1",):
            servers.append(await asyncio.start_server(receiver.handle, host, port))
        yield receiver
    finally:
        receiver.released.set()
        for server in servers:
            server.close()


async def terminal_offset(client: httpx.AsyncClient, execution_id: str) -> LogPlace:
    """Where the execution's RunFinished is in the log (from its history)."""
    events = (await client.get(f"/executions/{execution_id}/history")).json()["events"]
    (finished,) = [e for e in events if e["type"] == "RunFinished"]
    return TopicPartition(finished["topic"], finished["partition"]), finished["offset"]


async def committed_up_to(engine: Engine, where: LogPlace) -> None:
    """Until the deliverer's group has committed its offsets as far as `where` (which a correct
    deliverer, still delivering that message, commits exactly, and never past)."""
    tp, offset = where
    admin = AIOKafkaAdminClient(bootstrap_servers=engine.env["KAFKA_BOOTSTRAP_SERVERS"])
    await admin.start()
    try:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            found = await admin.list_consumer_group_offsets("runbox-callbacks", partitions=[tp])
            if tp in found and found[tp].offset >= offset:
                return
            assert time.monotonic() < deadline, f"the deliverer committed nothing up to {where}"
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


def allowed_ports(engine: Engine) -> tuple[int, int]:
    first, second = engine.env["E2E_CALLBACK_PORTS"].split(",")
    return int(first), int(second)


def ipv6_loopback() -> bool:
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        return True
    return False


def signed_correctly(engine: Engine, received: Received) -> bool:
    """The test's own HMAC-SHA256 of `<timestamp>.<body>` with the deployment's secret."""
    timestamp = received.headers["x-runbox-timestamp"]
    expected = hmac.new(
        engine.env["CALLBACK_SECRET"].encode(),
        timestamp.encode() + b"." + received.body,
        hashlib.sha256,
    ).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", received.headers["x-runbox-signature"])


async def callback_attempts(
    client: httpx.AsyncClient, execution_id: str, until_final: bool = True
) -> list[dict[str, Any]]:
    """The CallbackAttempted events of the execution's history, once the final one is there."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        response = await client.get(f"/executions/{execution_id}/history")
        assert response.status_code == 200, response.text
        attempts = [
            e["payload"] for e in response.json()["events"] if e["type"] == "CallbackAttempted"
        ]
        if attempts and (attempts[-1]["final"] or not until_final):
            return attempts
        assert time.monotonic() < deadline, f"no final callback attempt: {attempts}"
        await asyncio.sleep(0.1)


async def test_the_result_reaches_the_receiver_signed(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    port, _ = allowed_ports(engine)
    async with listening(Receiver(), port) as receiver:
        session_id = await open_session(client, "python", "print('hi')")
        url = f"http://127.0.0.1:{port}/hook?run=1"
        execution_id = await submit(client, session_id, {"callback_url": url})
        result = await wait_result(client, execution_id)
        (received,) = await receiver.wait_for(execution_id)

    assert signed_correctly(engine, received)
    assert abs(int(received.headers["x-runbox-timestamp"]) - time.time()) < 120
    tampered = Received(received.path, received.headers, received.body + b" ", received.at)
    assert not signed_correctly(engine, tampered)
    body = orjson.loads(received.body)
    assert received.path == "/hook?run=1"
    assert received.headers["content-type"] == "application/json"
    assert body["execution_id"] == execution_id == received.headers["x-runbox-execution"]
    assert body["delivery_id"] == received.headers["x-runbox-delivery"]
    assert (body["status"], body["stdout"], body["exit_code"], body["ended_by"]) == (
        "COMPLETED", "hi\n", 0, "RunFinished")  # fmt: skip
    for name in ("status", "error_code", "exit_code", "stdout", "stderr", "execution_time_ms"):
        assert body[name] == result[name], name  # the same result GET /executions/{id} shows

    (attempt,) = await callback_attempts(client, execution_id)
    assert (attempt["url"], attempt["attempt"], attempt["status_code"]) == (url, 1, 200)
    assert attempt["delivered"] and attempt["final"] and attempt["error"] is None
    assert attempt["delivery_id"] == body["delivery_id"]
    assert attempt["duration_ms"] >= 0

    # A re-run is a new execution, maybe asked for by someone else: it does not inherit the URL.
    rerun = await client.post(f"/executions/{execution_id}/rerun")
    assert rerun.status_code == 202, rerun.text
    rerun_id = rerun.json()["execution_id"]
    await wait_result(client, rerun_id)
    events = (await client.get(f"/executions/{rerun_id}/history")).json()["events"]
    assert events[0]["type"] == "RunRequested" and events[0]["payload"]["callback_url"] is None


async def test_a_refused_run_is_reported_too(engine: Engine, client: httpx.AsyncClient) -> None:
    port, _ = allowed_ports(engine)
    async with listening(Receiver(), port) as receiver:
        session_id = await open_session(client, "python", "while True:\n    pass\n")
        url = f"http://127.0.0.1:{port}/hook"
        execution_id = await submit(client, session_id, {"callback_url": url})
        result = await wait_result(client, execution_id)
        (received,) = await receiver.wait_for(execution_id)
    assert (result["status"], result["error_code"]) == ("FAILED", "E006")
    body = orjson.loads(received.body)
    assert (body["status"], body["error_code"], body["ended_by"]) == (
        "FAILED",
        "E006",
        "RunRejected",
    )
    assert body["error_message"] == result["error_message"]
    assert signed_correctly(engine, received)


async def test_a_dead_letter_is_reported_and_so_is_its_requeue(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    # Past the API onto the dispatch topic: no executor runs this language, a failure of ours
    # on every attempt, so the run ends E005 (as in test_failures.py).
    port, _ = allowed_ports(engine)
    accepted = accepted_run(language=VANISHED)
    request = msgspec.structs.replace(
        accepted.request, callback_url=f"http://127.0.0.1:{port}/dead"
    )
    execution_id = accepted.execution_id
    async with listening(Receiver(), port) as receiver:
        await produce(
            engine.env["KAFKA_BOOTSTRAP_SERVERS"],
            topics.DISPATCH,
            msgspec.structs.replace(accepted, request=request),
        )
        result = await wait_terminal(client, execution_id)
        (first,) = await receiver.wait_for(execution_id)
        requeued = await client.post(f"/dead-letters/{execution_id}/requeue", json={})
        assert requeued.status_code == 202, requeued.text
        second = (await receiver.wait_for(execution_id, count=2))[1]

    assert (result["status"], result["error_code"]) == ("FAILED", "E005")
    body = orjson.loads(first.body)
    assert (body["status"], body["error_code"], body["ended_by"]) == (
        "FAILED",
        "E005",
        "DeadLettered",
    )
    assert (body["attempt"], body["error_message"]) == (result["attempt"], result["error_message"])
    again = orjson.loads(second.body)
    assert (again["error_code"], again["ended_by"]) == ("E005", "DeadLettered")
    assert again["attempt"] > body["attempt"]  # the requeue's attempts
    assert again["delivery_id"] != body["delivery_id"]  # another ending, another delivery
    assert signed_correctly(engine, first) and signed_correctly(engine, second)


async def test_a_receiver_that_fails_twice_gets_the_result_on_the_third_attempt(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    port, _ = allowed_ports(engine)
    async with listening(Receiver(statuses=[500, 500]), port) as receiver:
        session_id = await open_session(client, "python", "print(6 * 7)")
        url = f"http://127.0.0.1:{port}/flaky"
        execution_id = await submit(client, session_id, {"callback_url": url})
        await wait_result(client, execution_id)
        received = await receiver.wait_for(execution_id, count=3)

    assert [r.headers["x-runbox-attempt"] for r in received] == ["1", "2", "3"]
    assert len({r.headers["x-runbox-delivery"] for r in received}) == 1  # one id to dedupe on
    assert len({r.body for r in received}) == 1  # the same body, signed afresh each time
    assert all(signed_correctly(engine, r) for r in received)
    assert received[1].at - received[0].at >= 0.1  # backed off (200 ms, jittered to >= 100)
    attempts = await callback_attempts(client, execution_id)
    assert [(a["attempt"], a["status_code"], a["delivered"], a["final"]) for a in attempts] == [
        (1, 500, False, False),
        (2, 500, False, False),
        (3, 200, True, True),
    ]


@pytest.mark.parametrize(
    "spelling",
    [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{trap}/",
        "http://0x7f000001:{trap}/",
        "http://2130706433:{trap}/",
        "http://[::ffff:127.0.0.1]:{trap}/",
        "http://127.0.0.1:{trap}/",
        "ftp://127.0.0.1:{trap}/",
        "file:///etc/passwd",
    ],
)
async def test_a_literal_private_address_or_bad_scheme_is_refused_at_submission(
    client: httpx.AsyncClient, spelling: str
) -> None:
    trap_port = free_port()  # not allow-listed
    hosts = ("127.0.0.1", "::1") if ipv6_loopback() else ("127.0.0.1",)
    async with listening(Receiver(), trap_port, *hosts) as trap:
        session_id = await open_session(client, "python", "print(1)")
        response = await client.post(
            f"/code-sessions/{session_id}/run",
            json={"callback_url": spelling.format(trap=trap_port)},
        )
        assert response.status_code == 422, response.text
        error = response.json()
        assert error["code"] == "invalid_input"
        assert error["details"]["field"] == "callback_url"
        assert set(error) == {"error", "code", "details"}
        executions = await client.get(f"/code-sessions/{session_id}/executions")
        assert executions.json()["executions"] == []  # nothing was queued
    assert trap.connections == 0


async def test_a_name_resolving_to_loopback_is_refused_at_delivery_without_connecting(
    client: httpx.AsyncClient,
) -> None:
    trap_port = free_port()  # not allow-listed
    hosts = ("127.0.0.1", "::1") if ipv6_loopback() else ("127.0.0.1",)
    async with listening(Receiver(), trap_port, *hosts) as trap:
        session_id = await open_session(client, "python", "print(1)")
        url = f"http://localhost:{trap_port}/hook"
        execution_id = await submit(client, session_id, {"callback_url": url})
        result = await wait_result(client, execution_id)
        (attempt,) = await callback_attempts(client, execution_id)
        assert trap.connections == 0
    assert result["status"] == "COMPLETED"  # the run is not the callback's business
    assert attempt["final"] and not attempt["delivered"] and attempt["status_code"] is None
    assert attempt["error"].startswith("refused: 127.0.0.1 is a loopback address"), attempt


async def test_a_dead_receiver_holds_up_no_other_run_or_delivery(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    good_port, dead_port = allowed_ports(engine)
    async with (
        listening(Receiver(hang=True), dead_port) as dead,
        listening(Receiver(), good_port) as good,
    ):
        stuck_session = await open_session(client, "python", "print('to nobody')")
        stuck_id = await submit(
            client, stuck_session, {"callback_url": f"http://127.0.0.1:{dead_port}/"}
        )
        await wait_result(client, stuck_id)
        await dead.wait_for(stuck_id)  # the deliverer is now waiting on a receiver that hangs

        others = []
        for n in range(3):
            session_id = await open_session(client, "python", f"print({n})")
            callback = {"callback_url": f"http://127.0.0.1:{good_port}/"} if n else {}
            others.append(await submit(client, session_id, callback))
        results = [await wait_result(client, e, deadline_s=30) for e in others]
        assert [r["stdout"] for r in results] == ["0\n", "1\n", "2\n"]
        for execution_id in others[1:]:
            await good.wait_for(execution_id)
        # All of that happened while the dead receiver still held its first connection.
        assert dead.open_connections == 1 and len(dead.of(stuck_id)) == 1


async def test_a_deliverer_killed_mid_delivery_delivers_again_after_its_restart(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    port, _ = allowed_ports(engine)
    async with listening(Receiver(hang_first=1), port) as receiver:
        session_id = await open_session(client, "python", "print('again')")
        url = f"http://127.0.0.1:{port}/again"
        execution_id = await submit(client, session_id, {"callback_url": url})
        await wait_result(client, execution_id)
        (held,) = await receiver.wait_for(execution_id)  # attempt 1, left without an answer
        await committed_up_to(engine, await terminal_offset(client, execution_id))
        deliverer = engine.processes.pop("callbacks")
        deliverer.kill()  # SIGKILL: no clean-up, no last commit
        deliverer.wait(10)
        engine.start("callbacks", "callbacks")
        first, again = await receiver.wait_for(execution_id, count=2)

    assert first is held
    assert again.headers["x-runbox-delivery"] == held.headers["x-runbox-delivery"]
    assert again.body == held.body and signed_correctly(engine, again)
    attempts = await callback_attempts(client, execution_id)
    assert [(a["status_code"], a["delivered"]) for a in attempts] == [(200, True)]


async def test_a_judge0_submission_is_called_back_as_judge0_does_it(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    # Judge0's documentation: a PUT of the submission (its default fields, Base64) to callback_url.
    port, _ = allowed_ports(engine)
    submission = {
        "source_code": "print(input()[::-1])", "language_id": 71, "stdin": "aloh",
        "expected_output": "hola\n",
    }  # fmt: skip
    async with listening(Receiver(), port) as receiver:
        url = f"http://127.0.0.1:{port}/judge0-hook"
        answer = await client.post("/judge0/submissions", json={**submission, "callback_url": url})
        assert answer.status_code == 201, answer.text
        token = answer.json()["token"]
        (received,) = await receiver.wait_for(token)
    assert (received.method, received.path) == ("PUT", "/judge0-hook")
    body = orjson.loads(received.body)
    fields = {"token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status"}
    assert set(body) == fields, body
    assert body["token"] == token
    assert body["status"] == {"id": 3, "description": "Accepted"}
    assert base64.b64decode(body["stdout"]) == b"hola\n"
    assert float(body["time"]) >= 0 and body["memory"] > 0
    # What Judge0's GET of the submission answers too, once the projection has it (the callback,
    # read from the log, may come a few milliseconds before).
    deadline = time.monotonic() + DEADLINE_S
    while True:
        shown = await client.get(f"/judge0/submissions/{token}", params={"base64_encoded": "true"})
        if shown.json()["status"]["id"] > 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert body == shown.json()

    for private in ("http://10.0.0.1/hook", "http://169.254.169.254/latest"):
        refused = await client.post(
            "/judge0/submissions", json={**submission, "callback_url": private}
        )
        assert refused.status_code == 422, refused.text
        assert list(refused.json()) == ["callback_url"], refused.text
