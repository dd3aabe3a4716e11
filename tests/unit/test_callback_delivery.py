"""One callback attempt against local sockets (no services): signing, the body, the address
checks at send time, no redirects, bounded reads; and the retry and commit bookkeeping."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import random
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from aiokafka import TopicPartition

from api.dto import RunOptions
from api.idempotency import fingerprint
from callbacks.body import callback_of, signature, signed_headers
from callbacks.deliverer import Offsets, backoff_s
from callbacks.http import Answer, Resolver, post, resolve
from callbacks.settings import CallbackSettings
from config.callbacks import Address, AllowList
from schemas import Envelope, new_event
from schemas.events import DeadLettered, Event, Outcome, RunFinished, RunRejected
from tests.unit.test_schemas import REQUEST

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SECRET = "a-secret-of-sixteen+"


@dataclass
class Listener:
    """A local TCP server that records what reaches it and answers with `reply` (or not)."""

    reply: bytes | None = b"HTTP/1.1 204 No Content\r\n\r\n"
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            self.requests.append(head + await reader.readexactly(length))
            if self.reply is None:
                await asyncio.sleep(3600)  # a receiver that never answers
            else:
                writer.write(self.reply)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    found = Listener()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    async with server:
        yield found
        server.close()


def resolver_to(*addresses: str, calls: list[str] | None = None) -> Resolver:
    async def resolve(host: str, port: int) -> list[Address]:
        if calls is not None:
            calls.append(host)
        return [ipaddress.ip_address(a) for a in addresses]

    return resolve


async def send(
    url: str, allow: AllowList, resolver: Resolver = resolve, timeout_s: float = 2.0
) -> Answer:
    return await post(url, b'{"x":1}', {"X-Test": "1"}, allow, timeout_s, 1024, resolver)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"status":"COMPLETED"}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1700000000, body) == f"sha256={expected}"
    assert signature(SECRET, 1700000001, body) != signature(SECRET, 1700000000, body)
    assert signature(SECRET, 1700000000, body + b" ") != signature(SECRET, 1700000000, body)
    headers = signed_headers(SECRET, 1700000000, body, "d-1", "e-1", 2)
    assert headers["X-Runbox-Signature"] == f"sha256={expected}"
    assert (headers["X-Runbox-Timestamp"], headers["X-Runbox-Delivery"]) == ("1700000000", "d-1")
    assert (headers["X-Runbox-Execution"], headers["X-Runbox-Attempt"]) == ("e-1", "2")


def test_every_terminal_event_with_a_callback_becomes_a_body_and_others_none() -> None:
    finished: Envelope[Event] = new_event(
        RunFinished(
            execution_id="e1",
            attempt=2,
            worker_id="w",
            started_at=NOW,
            finished_at=NOW,
            outcome=Outcome(status="COMPLETED", exit_code=0, stdout="hi\n"),
            callback_url="https://example.com/h",
        )
    )
    found = callback_of(finished)
    assert found is not None
    url, body = found
    assert url == "https://example.com/h"
    assert (body.status, body.stdout, body.attempt, body.ended_by) == (
        "COMPLETED", "hi\n", 2, "RunFinished")  # fmt: skip
    assert body.delivery_id == str(finished.event_id)
    rejected = callback_of(
        new_event(
            RunRejected(
                execution_id="e2", reason="loop", rejected_at=NOW, callback_url="http://x.io/"
            )
        )
    )
    assert rejected is not None
    assert (rejected[1].status, rejected[1].error_code, rejected[1].error_message) == (
        "FAILED", "E006", "loop")  # fmt: skip
    request = msgspec.structs.replace(REQUEST, callback_url="http://x.io/")
    dead = callback_of(
        new_event(
            DeadLettered(
                execution_id=request.execution_id,
                attempts=4,
                reason="sandbox broke",
                request=request,
                dead_lettered_at=NOW,
            )
        )
    )
    assert dead is not None and (dead[1].error_code, dead[1].attempt) == ("E005", 4)
    assert (
        callback_of(new_event(RunRejected(execution_id="e3", reason="x", rejected_at=NOW))) is None
    )


async def test_a_delivery_reaches_the_checked_address_with_the_original_host(
    listener: Listener,
) -> None:
    calls: list[str] = []
    allow = AllowList.parse(f"127.0.0.1:{listener.port}")
    url = f"http://hooks.example:{listener.port}/in?k=v"
    answer = await send(url, allow, resolver_to("127.0.0.1", calls=calls))
    assert (answer.status_code, answer.delivered, answer.error) == (204, True, None)
    assert calls == ["hooks.example"]  # resolved once, then connected to what was checked
    request = listener.requests[0]
    assert request.startswith(b"POST /in?k=v HTTP/1.1\r\n")
    assert f"Host: hooks.example:{listener.port}\r\n".encode() in request
    assert request.endswith(b'\r\n\r\n{"x":1}')


async def test_a_name_resolving_to_a_private_address_is_refused_without_connecting(
    listener: Listener,
) -> None:
    for addresses in (("127.0.0.1",), ("93.184.216.34", "127.0.0.1"), ("::ffff:127.0.0.1",)):
        answer = await send(
            f"http://evil.example:{listener.port}/", AllowList(), resolver_to(*addresses)
        )
        assert answer.permanent and not answer.delivered
        assert answer.error is not None and answer.error.startswith("refused: "), answer.error
        assert "127.0.0.1" in answer.error
    for literal in ("127.0.0.1", "0x7f000001", "[::ffff:127.0.0.1]", "2130706433"):
        answer = await send(f"http://{literal}:{listener.port}/", AllowList())
        assert answer.permanent and answer.error is not None and "loopback" in answer.error
    assert listener.connections == 0


async def test_the_real_resolver_is_checked_too(listener: Listener) -> None:
    answer = await send(f"http://localhost:{listener.port}/", AllowList())
    assert answer.permanent and answer.error is not None and "loopback" in answer.error
    assert listener.connections == 0


async def test_redirects_are_not_followed(listener: Listener) -> None:
    listener.reply = b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\n\r\n"
    answer = await send(f"http://127.0.0.1:{listener.port}/", AllowList.parse("127.0.0.1/32"))
    assert (answer.status_code, answer.delivered, answer.permanent) == (302, False, True)
    assert listener.connections == 1


@pytest.mark.parametrize(
    ("reply", "retried"),
    [
        (b"HTTP/1.1 500 Oops\r\n\r\n", True),
        (b"HTTP/1.1 429 Slow down\r\n\r\n", True),
        (b"HTTP/1.1 404 Not Found\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\n\r\n", None),
    ],
)
async def test_answers_are_classified(
    listener: Listener, reply: bytes, retried: bool | None
) -> None:
    listener.reply = reply
    answer = await send(f"http://127.0.0.1:{listener.port}/", AllowList.parse("127.0.0.1/32"))
    if retried is None:
        assert answer.delivered
    else:
        assert not answer.delivered and answer.permanent is not retried


async def test_an_endless_or_silent_answer_is_bounded(listener: Listener) -> None:
    listener.reply = b"HTTP/1.1 200 " + b"x" * 100_000
    allow = AllowList.parse("127.0.0.1/32")
    answer = await send(f"http://127.0.0.1:{listener.port}/", allow)
    assert not answer.delivered and answer.error is not None
    listener.reply = None
    started = asyncio.get_running_loop().time()
    answer = await send(f"http://127.0.0.1:{listener.port}/", allow, timeout_s=0.5)
    assert answer.error == "no answer within 0.5s" and not answer.permanent
    assert asyncio.get_running_loop().time() - started < 2


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    settings = CallbackSettings(callback_backoff_ms=1000, callback_max_backoff_ms=5000)
    rng = random.Random(7)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0), (60, 5.0)):
        waits = [backoff_s(settings, attempt, rng) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits), (attempt, waits)
        assert len(set(waits)) > 1  # jittered


def test_an_offset_is_committed_only_once_every_delivery_before_it_ended() -> None:
    tp = TopicPartition("executions.events", 0)
    offsets = Offsets()
    for offset in range(5):
        offsets.read(tp, offset)
    offsets.started(tp, 1)
    offsets.started(tp, 3)
    assert offsets.committable() == {tp: 1}
    offsets.ended(tp, 1)
    assert offsets.committable() == {tp: 3}
    offsets.ended(tp, 3)
    assert offsets.committable() == {tp: 5}


def test_an_idempotency_fingerprint_without_a_callback_is_what_it_was_before_callbacks() -> None:
    # Keys are remembered for a day: a retry that spans an upgrade must still match its key.
    before = b'{"time_limit_ms":2000,"memory_mb":null,"stdin":"x","args":null}'
    assert (
        fingerprint(RunOptions(time_limit_ms=2000, stdin="x")) == hashlib.sha256(before).hexdigest()
    )
    with_callback = RunOptions(time_limit_ms=2000, stdin="x", callback_url="https://example.com/")
    assert fingerprint(with_callback) != fingerprint(RunOptions(time_limit_ms=2000, stdin="x"))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for hooks.example (and its key)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=hooks.example", "-addext", "subjectAltName=DNS:hooks.example"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_https_connects_to_the_checked_address_and_verifies_the_name(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    names: list[str | None] = []

    def record_name(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        names.append(name)

    server_tls.sni_callback = record_name
    listener = Listener()
    server = await asyncio.start_server(listener.handle, "127.0.0.1", 0, ssl=server_tls)
    port = server.sockets[0].getsockname()[1]
    trust = ssl.create_default_context(cafile=str(cert))
    allow = AllowList.parse(f"127.0.0.1:{port}")
    async with server:
        answer = await post(
            f"https://hooks.example:{port}/tls", b"{}", {}, allow, 5, 1024,
            resolver_to("127.0.0.1"), trust,
        )  # fmt: skip
        assert (answer.status_code, answer.delivered) == (204, True), answer
        assert names == ["hooks.example"]  # SNI names the host, though we dialled the address
        assert f"Host: hooks.example:{port}\r\n".encode() in listener.requests[0]
        wrong = await post(
            f"https://other.example:{port}/tls", b"{}", {}, allow, 5, 1024,
            resolver_to("127.0.0.1"), trust,
        )  # fmt: skip
        assert not wrong.delivered and wrong.error is not None
        assert "CERTIFICATE_VERIFY_FAILED" in wrong.error, wrong.error
        assert len(listener.requests) == 1  # nothing was sent to a server of another name
