"""One CPU per run (the cgroup's CPU quota, SANDBOX_CPUS), and a wall-clock limit that is a
documented multiple of the CPU time limit (sandbox/limits.py)."""

from __future__ import annotations

import asyncio

import pytest

from sandbox import ErrorCode, Limits, Sandbox, Status
from sandbox.limits import WALL_EXTRA_MS, WALL_MULTIPLE

pytestmark = pytest.mark.usefixtures("clean_host")

# THREADS threads spin for SECONDS of wall-clock time, then the program exits 0.
BUSY_THREADS = r"""
#include <pthread.h>
#include <stdio.h>
#include <time.h>
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
static double until;
static void *spin(void *arg) {
    volatile unsigned long n = 0;
    while (now() < until) n++;
    return arg;
}
int main(void) {
    pthread_t t[THREADS];
    until = now() + SECONDS;
    puts("spinning");
    fflush(stdout);
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, spin, NULL);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    puts("done");
    return 0;
}
"""
# About 0.2 s of CPU in one thread.
SINGLE_THREADED_WORK = "n = 0\nfor i in range(4_000_000):\n    n += i & 7\nprint(n)\n"


def busy(threads: int, seconds: float) -> str:
    return BUSY_THREADS.replace("THREADS", str(threads)).replace("SECONDS", str(seconds))


async def test_four_busy_threads_get_one_cpu(sandbox: Sandbox) -> None:
    result = await sandbox.run("c", busy(4, 1.5), limits=Limits(time_limit_ms=5000))
    assert result.status is Status.COMPLETED, result
    assert result.cpu_time_ms is not None and result.execution_time_ms is not None
    # Without a quota they took both cores: about twice the wall-clock time in CPU time.
    assert result.cpu_time_ms <= 1.1 * result.execution_time_ms, result


async def test_a_tight_run_beside_a_multithreaded_one_still_completes(sandbox: Sandbox) -> None:
    assert sandbox.slots >= 2
    spinning = asyncio.Event()

    def on_output(_stream: str, data: bytes) -> None:
        if b"spinning" in data:
            spinning.set()

    # Without a quota its 16 threads would leave the tight run 2 cores / 17 threads: 0.2 s of CPU
    # would take 1.7 s, past its old wall-clock limit (1 s). With it, the busy run is one CPU.
    hog = asyncio.ensure_future(
        sandbox.run("c", busy(16, 4), limits=Limits(time_limit_ms=10_000), on_output=on_output)
    )
    try:
        await asyncio.wait_for(spinning.wait(), timeout=30)
        tight = await sandbox.run("python", SINGLE_THREADED_WORK, limits=Limits(time_limit_ms=1000))
        assert hog.done() is False, "the busy run ended before the tight one: nothing was shared"
    finally:
        hogged = await hog
    assert (tight.status, tight.error_code) == (Status.COMPLETED, None), tight
    assert tight.cpu_time_ms is not None and tight.cpu_time_ms < 1000
    assert hogged.status is Status.COMPLETED, hogged


def test_the_wall_clock_limit_is_a_multiple_of_the_cpu_limit() -> None:
    assert Limits(time_limit_ms=1500).wall_ms == WALL_MULTIPLE * 1500 + WALL_EXTRA_MS == 3500
    assert Limits(time_limit_ms=1500, wall_time_limit_ms=2000).wall_ms == 2000


async def test_sleeping_past_the_cpu_limit_but_within_the_wall_clock_limit_completes(
    sandbox: Sandbox,
) -> None:
    # Waiting uses no CPU: only the wall-clock limit (here 3.5 s) bounds it.
    result = await sandbox.run("python", "import time\ntime.sleep(2)\nprint('awake')\n",
                               limits=Limits(time_limit_ms=1500))  # fmt: skip
    assert (result.status, result.stdout) == (Status.COMPLETED, "awake\n"), result


async def test_sleeping_past_the_wall_clock_limit_is_a_timeout(sandbox: Sandbox) -> None:
    limits = Limits(time_limit_ms=1500)
    result = await sandbox.run("python", "import time\ntime.sleep(60)\n", limits=limits)
    assert (result.status, result.error_code) == (Status.TIMEOUT, ErrorCode.TIME), result
    assert result.execution_time_ms is not None
    assert limits.wall_ms <= result.execution_time_ms < limits.wall_ms + 1000
