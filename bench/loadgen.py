"""A bounded HTTP/1.1 load generator, run as its own process: `python -m bench.loadgen ...`.

Open loop at a fixed rate (or closed loop with --rate 0) over keep-alive connections to
127.0.0.1 only, for at most --duration seconds. Latency is measured from when a request was due
(so a stalled server shows up as latency, not as fewer requests) and from when it was sent.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from urllib.parse import urlsplit

import orjson

from bench.stats import Summary


class Connection:
    """One keep-alive connection that sends a request and reads a Content-Length response."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> int:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status


def build(method: str, path: str, host: str, body: bytes | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def run(args: argparse.Namespace) -> dict[str, object]:
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit("the load generator only targets 127.0.0.1")
    body = args.body.encode() if args.body else None
    requests = itertools.cycle([build(args.method, p, host, body) for p in args.paths])
    total = int(args.rate * args.duration) if args.rate > 0 else 10**9
    interval = 1 / args.rate if args.rate > 0 else 0.0
    due_ms: list[float] = []
    sent_ms: list[float] = []
    errors = 0
    started = time.perf_counter()
    deadline = started + args.duration
    counter = itertools.count()

    async def worker() -> None:
        nonlocal errors
        conn = Connection(host, port)
        while True:
            i = next(counter)
            if i >= total:
                return
            due = started + i * interval
            now = time.perf_counter()
            if now > deadline + 1 or (args.rate <= 0 and now > deadline):
                return
            if due > now:
                await asyncio.sleep(due - now)
            sent = time.perf_counter()
            try:
                status = await conn.request(next(requests))
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                conn = Connection(host, port)
                continue
            done = time.perf_counter()
            if status >= 400:
                errors += 1
            due_ms.append((done - min(due, sent)) * 1000 if interval else (done - sent) * 1000)
            sent_ms.append((done - sent) * 1000)

    await asyncio.gather(*(worker() for _ in range(args.connections)))
    elapsed = time.perf_counter() - started
    return {
        "method": args.method,
        "target_rate": args.rate,
        "connections": args.connections,
        "requests": len(sent_ms),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "rate": round(len(sent_ms) / elapsed, 1),
        "latency_from_due": Summary.of(due_ms).to_dict(),
        "latency_from_send": Summary.of(sent_ms).to_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", help="JSON body sent with every request")
    parser.add_argument("--rate", type=float, default=500, help="requests/s; 0 = closed loop")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    sys.stdout.write(orjson.dumps(asyncio.run(run(args))).decode() + "\n")


if __name__ == "__main__":
    main()
