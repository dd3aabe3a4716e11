"""Tearing a run down (unmounts, cgroup removal) never stalls the event loop other runs share."""

from __future__ import annotations

import asyncio
import time

import pytest

from sandbox import Sandbox, Status
from sandbox.workdir import Workdir

pytestmark = pytest.mark.usefixtures("clean_host")


async def test_a_slow_teardown_does_not_block_the_event_loop(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel can take seconds to let go of a cgroup or a mount: stand in for that with a
    # workdir removal that takes 0.6 s, and watch how long the loop goes without running a tick.
    original = Workdir.remove

    def slow_remove(self: Workdir) -> None:
        time.sleep(0.6)  # the point: a blocking call inside the teardown
        original(self)

    monkeypatch.setattr(Workdir, "remove", slow_remove)
    longest_gap = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal longest_gap
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.monotonic()
            longest_gap = max(longest_gap, now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    result = await sandbox.run("python", "print('hi')")
    assert result.status is Status.COMPLETED
    await asyncio.sleep(1.0)  # the teardown (0.02 s after the result, then 0.6 s) happens here
    stop.set()
    await ticking
    assert longest_gap < 0.3, f"the event loop was blocked for {longest_gap:.2f} s"
