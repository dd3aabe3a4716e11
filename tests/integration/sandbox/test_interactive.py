"""Interactive runs: stdin is a pipe the parent feeds while the program runs (sandbox/stdin.py).

What a user notices (answers arrive before the next line is sent, EOF when the input ends) and
what a hostile program must not get: a way to block the worker through the pipe, to write into
its own input, or to reach anything of the parent's through it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Callable

import pytest

from sandbox import ErrorCode, Limits, Sandbox, Status

pytestmark = pytest.mark.usefixtures("clean_host")


class QueueFeed:
    """A StdinFeed the test drives: put chunks in `queue`, None to end the input."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.given: list[bytes] = []
        self.asked = 0

    async def next_chunk(self) -> bytes | None:
        self.asked += 1
        return await self.queue.get()

    def delivered(self, data: bytes) -> None:
        self.given.append(data)


class Flood(QueueFeed):
    """Offers `chunk` for ever, as fast as it is taken."""

    def __init__(self, chunk: bytes) -> None:
        super().__init__()
        self.chunk = chunk

    async def next_chunk(self) -> bytes | None:
        self.asked += 1
        return self.chunk


class LoopWatch:
    """Measures the longest the event loop went without running a 5 ms ticker."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            self.longest = max(self.longest, now - last)
            last = now

    async def stop(self) -> float:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.longest


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.01)


async def test_each_answer_comes_before_the_next_line_is_sent(sandbox: Sandbox) -> None:
    out = bytearray()

    def on_output(stream: str, data: bytes) -> None:
        if stream == "stdout":
            out.extend(data)

    src = "for i in range(3):\n    name = input()\n    print(f'hello {name} #{i}')\n"
    feed = QueueFeed()
    run = asyncio.ensure_future(
        sandbox.run("python", src, stdin="", on_output=on_output, stdin_feed=feed)
    )
    names = ["ann", "bob", "cy"]
    for i, name in enumerate(names):
        feed.queue.put_nowait(f"{name}\n".encode())
        await until(lambda: f"hello {name} #{i}\n".encode() in out, 10, f"answer {i}")  # noqa: B023
        assert out.count(b"hello") == i + 1, out  # nothing else was answered yet
    result = await asyncio.wait_for(run, 10)
    assert result.status is Status.COMPLETED, result
    assert result.stdout == "".join(f"hello {n} #{i}\n" for i, n in enumerate(names))
    assert feed.given == [b"ann\n", b"bob\n", b"cy\n"]


async def test_initial_stdin_then_live_input_then_end_of_file(sandbox: Sandbox) -> None:
    # Through the armed launcher and through the fallback spawn alike.
    plain = Sandbox(dataclasses.replace(sandbox.settings, use_launcher=False))
    src = "import sys\ndata = sys.stdin.read()\nprint(repr(data), 'EOF')\n"
    for box in (sandbox, plain):
        feed = QueueFeed()
        for chunk in (b"live 1\n", b"live 2\n", None):
            feed.queue.put_nowait(chunk)
        result = await box.run("python", src, stdin="first\n", stdin_feed=feed)
        assert result.status is Status.COMPLETED, result
        assert result.stdout == "'first\\nlive 1\\nlive 2\\n' EOF\n"
        assert feed.given == [b"live 1\n", b"live 2\n"]  # the initial stdin is the request's
    plain.close()


async def test_a_large_input_through_a_shrunk_pipe_arrives_whole_and_in_order(
    sandbox: Sandbox,
) -> None:
    # The program makes its pipe as small as it can and reads a byte at a time: the parent
    # writes only as the pipe makes room, and the worker's loop carries on meanwhile.
    chunks = [bytes([65 + i % 26]) * (1000 + 997 * i) for i in range(40)]  # 0.8 MB, uneven
    expected = b"".join(chunks)
    src = """
import fcntl, hashlib, os
h, n = hashlib.sha256(), 0
while True:
    try:
        fcntl.fcntl(0, 1031, 4096)  # F_SETPIPE_SZ; EBUSY while more than that is in the pipe
        break
    except OSError:
        b = os.read(0, 65536)
        h.update(b); n += len(b)
while b := os.read(0, 1):
    h.update(b); n += 1
print(n, h.hexdigest())
"""
    feed = QueueFeed()
    for chunk in [*chunks, None]:
        feed.queue.put_nowait(chunk)
    watch = LoopWatch()
    result = await sandbox.run("python", src, limits=Limits(time_limit_ms=10_000), stdin_feed=feed)
    longest = await watch.stop()
    assert result.status is Status.COMPLETED, result
    assert result.stdout == f"{len(expected)} {hashlib.sha256(expected).hexdigest()}\n"
    assert b"".join(feed.given) == expected
    assert longest < 0.25, f"the event loop stalled {longest:.3f}s"


async def test_a_program_that_never_reads_cannot_block_the_worker(sandbox: Sandbox) -> None:
    flood = Flood(b"x" * 65536)
    watch = LoopWatch()
    start = time.monotonic()
    result = await sandbox.run(
        "python", "import time\ntime.sleep(60)\n", limits=Limits(time_limit_ms=500),
        stdin_feed=flood,
    )  # fmt: skip
    elapsed = time.monotonic() - start
    longest = await watch.stop()
    # Stopped at its wall limit (2 x 500 + 500 ms), the flood notwithstanding.
    assert (result.status, result.error_code) == (Status.TIMEOUT, ErrorCode.TIME), result
    assert 1.4 < elapsed < 4.0, elapsed
    assert longest < 0.25, f"the event loop stalled {longest:.3f}s"
    # Only what fit in the pipe was ever written: the rest was never taken from the feed.
    assert sum(map(len, flood.given)) <= 2 * 65536
    assert flood.asked <= 3


async def test_a_program_cannot_write_into_its_input_or_reach_the_writer(sandbox: Sandbox) -> None:
    src = r"""
import errno, os
def attempt(name, call):
    try:
        call()
        print(name, "done")
    except OSError as e:
        print(name, errno.errorcode[e.errno])
attempt("write-stdin", lambda: os.write(0, b"forged\n"))
attempt("reopen-write", lambda: os.close(os.open("/proc/self/fd/0", os.O_WRONLY)))
attempt("reopen-rdwr", lambda: os.close(os.open("/proc/self/fd/0", os.O_RDWR)))
fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
print("fds", fds[:3], len(fds))
print("read", os.read(0, 100))
"""
    feed = QueueFeed()
    feed.queue.put_nowait(b"ours\n")
    result = await sandbox.run("python", src, stdin_feed=feed)
    assert result.status is Status.COMPLETED, result
    lines = result.stdout.splitlines()
    assert lines[0] == "write-stdin EBADF"  # the read end only
    assert lines[1] in {"reopen-write EACCES", "reopen-write EPERM"}, lines
    assert lines[2] in {"reopen-rdwr EACCES", "reopen-rdwr EPERM"}, lines
    # stdin, stdout, stderr and the listing's own descriptor: no write end of the pipe.
    assert lines[3] == "fds [0, 1, 2] 4", lines
    assert lines[4] == "read b'ours\\n'"  # only what the parent wrote


async def test_a_program_that_closes_its_stdin_stops_the_feed(sandbox: Sandbox) -> None:
    flood = Flood(b"y" * 4096)
    src = "import os, time\nos.read(0, 10)\nos.close(0)\ntime.sleep(0.5)\nprint('done')\n"
    result = await sandbox.run("python", src, stdin_feed=flood)
    assert (result.status, result.stdout) == (Status.COMPLETED, "done\n"), result
    # Writes failed once the reader was gone: the feed was not drained for nothing.
    assert flood.asked < 100


async def test_a_failing_feed_ends_the_input_not_the_run(sandbox: Sandbox) -> None:
    class Broken(QueueFeed):
        async def next_chunk(self) -> bytes | None:
            raise RuntimeError("the feed broke")

    src = "import sys\nprint(repr(sys.stdin.read()))\n"
    result = await sandbox.run("python", src, stdin="start\n", stdin_feed=Broken())
    assert (result.status, result.stdout) == (Status.COMPLETED, "'start\\n'\n"), result
