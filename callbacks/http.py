"""One guarded POST of a callback: resolve once, check every address, connect to a checked one.

The name is resolved here, once; each address it gave is checked against the policy (any refused
one refuses the delivery: a name that also points inside is not trusted), and the connection goes
to an address that was checked, so a second answer from DNS (rebinding) cannot move it. TLS still
checks the certificate against the name. No proxy from the environment, no redirect followed, and
only the status line of the answer is read, within CALLBACK_MAX_RESPONSE_BYTES and the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from config.callbacks import (
    Address,
    AllowList,
    CallbackRefused,
    Target,
    check_address,
    ip_literal,
    parse_url,
)

Resolver = Callable[[str, int], Awaitable[list[Address]]]
USER_AGENT = "runbox-callbacks"


@dataclass(frozen=True)
class Answer:
    """How one attempt went: the receiver's status code, or why there was none."""

    status_code: int | None = None
    error: str | None = None
    permanent: bool = False  # another attempt would meet the same answer: give up

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def resolve(host: str, port: int) -> list[Address]:
    """Every address the system resolver gives for `host`, in its order."""
    loop = asyncio.get_running_loop()
    found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[Address] = []
    for _family, _type, _proto, _name, sockaddr in found:
        address = ip_literal(str(sockaddr[0]).split("%", 1)[0])
        if address is not None and address not in addresses:
            addresses.append(address)
    return addresses


async def destinations(target: Target, allow: AllowList, resolver: Resolver) -> list[Address]:
    """The addresses this delivery may connect to; CallbackRefused if any is not allowed."""
    if target.address is not None:
        check_address(target.address, target.port, allow)
        return [target.address]
    try:
        addresses = await resolver(target.host, target.port)
    except OSError as exc:
        raise LookupError(f"could not resolve {target.host}: {exc}") from exc
    if not addresses:
        raise LookupError(f"{target.host} has no address")
    if not allow.allows_name(target.host, target.port):
        for address in addresses:
            check_address(address, target.port, allow)
    return addresses


def classify(status_code: int) -> Answer:
    if 200 <= status_code < 300:
        return Answer(status_code)
    if 300 <= status_code < 400:
        return Answer(status_code, "redirects are not followed", permanent=True)
    if 400 <= status_code < 500 and status_code not in (408, 425, 429):
        return Answer(status_code, "the receiver refused the request", permanent=True)
    return Answer(status_code)


async def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    allow: AllowList,
    timeout_s: float,
    max_response_bytes: int,
    resolver: Resolver = resolve,
    trust: ssl.SSLContext | None = None,
    method: str = "POST",
) -> Answer:
    """POST (or `method`: PUT for a Judge0 submission) `body` to `url` once; never raises for
    anything the network or receiver does. `trust`: the TLS context (default: the system's
    certificate authorities)."""
    try:
        async with asyncio.timeout(timeout_s):
            return await _post(url, body, headers, allow, max_response_bytes, resolver, trust,
                               method)  # fmt: skip
    except CallbackRefused as exc:
        return Answer(error=f"refused: {exc}", permanent=True)
    except TimeoutError:
        return Answer(error=f"no answer within {timeout_s:g}s")
    except LookupError as exc:
        return Answer(error=str(exc))
    except (OSError, ValueError, asyncio.IncompleteReadError) as exc:  # ssl.SSLError included
        return Answer(error=f"{type(exc).__name__}: {exc}"[:500])


async def _post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    allow: AllowList,
    max_response_bytes: int,
    resolver: Resolver,
    trust: ssl.SSLContext | None,
    method: str = "POST",
) -> Answer:
    target = parse_url(url)
    addresses = await destinations(target, allow, resolver)
    tls = None
    if target.scheme == "https":
        tls = trust or ssl.create_default_context()
    reader, writer = await _connect(addresses, target, tls, max_response_bytes)
    try:
        lines = [
            f"{method} {target.path} HTTP/1.1",
            f"Host: {target.host_header}",
            f"User-Agent: {USER_AGENT}",
            f"Content-Length: {len(body)}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body)
        await writer.drain()
        status_line = await reader.readline()  # at most max_response_bytes (the stream's limit)
        return classify(_status_code(status_line))
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def _connect(
    addresses: list[Address], target: Target, tls: ssl.SSLContext | None, limit: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the first checked address that accepts one."""
    failure: OSError | None = None
    for address in addresses:
        try:
            return await asyncio.open_connection(
                str(address),
                target.port,
                ssl=tls,
                server_hostname=target.host if tls is not None else None,
                limit=limit,
            )
        except OSError as exc:
            failure = exc
    assert failure is not None
    raise failure


def _status_code(line: bytes) -> int:
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP answer: {line[:80]!r}")
    code = int(parts[1])
    if not 200 <= code <= 599:
        raise ValueError(f"unexpected status {code}")
    return code
