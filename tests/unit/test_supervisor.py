"""`make up` keeps its processes running: restarts with backoff, gives up on a crash loop, stops.

Real child processes (tiny Python programs) under a fast restart policy; no services.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from devstack.services import REPO, Process
from devstack.supervisor import CrashLoop, RestartPolicy, Supervisor

FAST = RestartPolicy(
    first_delay_s=0.1, max_delay_s=0.8, stable_after_s=1.0, crash_limit=5, crash_window_s=60
)

# Appends its start time (CLOCK_MONOTONIC, shared by every process) to argv[1], then exits with
# argv[2] while fewer than argv[3] starts are recorded; after that it runs until stopped.
CRASH_THEN_RUN = """
import sys, time
starts, code, crashes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(starts, "a") as f:
    f.write(f"{time.monotonic()}\\n")
with open(starts) as f:
    n = len(f.read().split())
if n <= crashes:
    print(f"error: start {n} fails on purpose", flush=True)
    sys.exit(code)
time.sleep(3600)
"""

# Runs argv[1] seconds, then exits 1: an unexpected exit after a stable run.
RUN_THEN_EXIT = "import sys, time; time.sleep(float(sys.argv[1])); sys.exit(1)"

# Runs until SIGTERM, then appends its name to argv[1] and exits.
RUN_UNTIL_TERM = """
import signal, sys, time
def done(*_):
    with open(sys.argv[1], "a") as f:
        f.write(sys.argv[2] + "\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
print("running", flush=True)
time.sleep(3600)
"""

# Starts a grandchild in its process group, appends the grandchild's pid to argv[1], exits 1.
LEAVES_A_CHILD = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
open(sys.argv[1], "a").write(f"{child.pid}\\n")
sys.exit(1)
"""


def python(name: str, tmp_path: Path, program: str, *args: object) -> Process:
    return Process(name, [sys.executable, "-c", program, *map(str, args)], tmp_path / f"{name}.log")


def starts(path: Path) -> list[float]:
    return [float(t) for t in path.read_text().split()] if path.exists() else []


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent, init here) is gone for our purpose.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    return False


@contextlib.asynccontextmanager
async def watching(supervisor: Supervisor) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(supervisor.watch(stop))
    try:
        yield task
    finally:
        stop.set()
        with contextlib.suppress(CrashLoop):
            await task
        supervisor.stop()


def announced_delays(said: list[str]) -> list[float]:
    return [float(m) for line in said for m in re.findall(r"restarting it in ([\d.]+)s", line)]


async def test_a_crashing_component_is_restarted_with_doubling_delays(tmp_path: Path) -> None:
    said: list[str] = []
    supervisor = Supervisor(FAST, announce=said.append)
    record = tmp_path / "starts"
    supervisor.start(python("projector", tmp_path, CRASH_THEN_RUN, record, 3, 4))
    async with watching(supervisor) as task:
        await until(lambda: len(starts(record)) == 5)
        assert not task.done()
        times = starts(record)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # Each restart waited at least its delay, and the delay doubled each time.
        for gap, delay in zip(gaps, [0.1, 0.2, 0.4, 0.8], strict=True):
            assert gap >= delay, (gaps, delay)
        assert announced_delays(said) == [0.1, 0.2, 0.4, 0.8]
        assert supervisor.restarts == {"projector": 4}
        assert all("projector exited with code 3" in line for line in said), said
        assert all("projector.log" in line for line in said), said
        assert [f"restart {n};" in line for n, line in enumerate(said, 1)] == [True] * 4
    assert supervisor.summary() == "restarts: projector 4"


async def test_the_delay_is_capped(tmp_path: Path) -> None:
    said: list[str] = []
    policy = RestartPolicy(first_delay_s=0.05, max_delay_s=0.2, stable_after_s=5, crash_limit=9)
    supervisor = Supervisor(policy, announce=said.append)
    record = tmp_path / "starts"
    supervisor.start(python("api", tmp_path, CRASH_THEN_RUN, record, 1, 6))
    async with watching(supervisor):
        await until(lambda: len(starts(record)) == 7)
    assert announced_delays(said) == [0.05, 0.1, 0.2, 0.2, 0.2, 0.2]


async def test_the_backoff_starts_afresh_after_a_stable_run(tmp_path: Path) -> None:
    said: list[str] = []
    policy = RestartPolicy(first_delay_s=0.1, max_delay_s=5, stable_after_s=0.3, crash_limit=2)
    supervisor = Supervisor(policy, announce=said.append)
    supervisor.start(python("processors", tmp_path, RUN_THEN_EXIT, 0.5))
    async with watching(supervisor) as task:
        await until(lambda: supervisor.restarts["processors"] == 4)
        # Exits after a stable run are neither a crash loop nor a reason to wait longer.
        assert not task.done()
    assert announced_delays(said) == [0.1] * 4


async def test_a_crash_loop_stops_naming_the_component_and_its_log(tmp_path: Path) -> None:
    said: list[str] = []
    supervisor = Supervisor(FAST, announce=said.append)
    record = tmp_path / "starts"
    supervisor.start(python("redis", tmp_path, RUN_UNTIL_TERM, tmp_path / "stopped", "redis"))
    supervisor.start(python("api", tmp_path, CRASH_THEN_RUN, record, 2, 1000))
    stop = asyncio.Event()
    try:
        with pytest.raises(CrashLoop) as raised:
            await asyncio.wait_for(supervisor.watch(stop), 30)
    finally:
        supervisor.stop()
    message = str(raised.value)
    assert message.startswith("api keeps exiting right after it starts (5 times within 60s")
    assert "the last one exited with code 2" in message
    assert str(tmp_path / "api.log") in message
    # The end of the log is the last run's own output, not the same error from every run.
    assert message.endswith("which ends:\n    error: start 5 fails on purpose"), message
    # It gave up at the fifth exit: four restarts, no sixth start.
    assert len(starts(record)) == 5
    assert supervisor.restarts == {"redis": 0, "api": 4}


async def test_stop_is_prompt_in_reverse_order_and_restarts_nothing(tmp_path: Path) -> None:
    said: list[str] = []
    slow = RestartPolicy(first_delay_s=30, stable_after_s=60)
    supervisor = Supervisor(slow, announce=said.append)
    stopped = tmp_path / "stopped"
    record = tmp_path / "starts"
    for name in ("kafka", "postgres", "api"):
        supervisor.start(python(name, tmp_path, RUN_UNTIL_TERM, stopped, name))
    supervisor.start(python("projector", tmp_path, CRASH_THEN_RUN, record, 1, 1))
    stop = asyncio.Event()
    task = asyncio.create_task(supervisor.watch(stop))
    try:
        # The projector crashed and waits 30 s to be restarted; the others are up (their
        # SIGTERM handlers installed).
        await until(lambda: supervisor.restarts["projector"] == 1)
        logs = [tmp_path / f"{name}.log" for name in ("kafka", "postgres", "api")]
        await until(lambda: all("running" in log.read_text() for log in logs))
        asked = time.monotonic()
        stop.set()
        await asyncio.wait_for(task, 2)
    finally:
        supervisor.stop()
    assert time.monotonic() - asked < 10  # not the 30 s backoff, nor a stop timeout
    assert stopped.read_text().split() == ["api", "postgres", "kafka"]
    assert len(starts(record)) == 1  # the projector was not restarted while stopping
    assert supervisor.summary() == "restarts: projector 1"


async def test_what_an_exited_component_left_behind_is_killed(tmp_path: Path) -> None:
    said: list[str] = []
    supervisor = Supervisor(FAST, announce=said.append)
    pid_file = tmp_path / "grandchild"
    supervisor.start(python("postgres", tmp_path, LEAVES_A_CHILD, pid_file))
    try:
        async with watching(supervisor):
            await until(lambda: supervisor.restarts["postgres"] >= 1 and pid_file.exists())
            first = int(pid_file.read_text().split()[0])
            await until(lambda: not alive(first))
    finally:  # whatever the outcome, leave no sleeper behind
        for pid in map(int, pid_file.read_text().split()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


async def test_a_component_that_cannot_be_started_is_reported(tmp_path: Path) -> None:
    said: list[str] = []
    supervisor = Supervisor(FAST, announce=said.append)
    record = tmp_path / "starts"
    proc = python("kafka", tmp_path, CRASH_THEN_RUN, record, 1, 1)
    supervisor.start(proc)
    await until(lambda: proc.returncode is not None)
    proc.argv = [str(tmp_path / "missing-binary")]  # e.g. java uninstalled meanwhile
    with pytest.raises(CrashLoop) as raised:
        await asyncio.wait_for(supervisor.watch(asyncio.Event()), 30)
    supervisor.stop()
    assert "kafka could not be started: [Errno 2]" in said[1]
    assert "the last one could not be started" in str(raised.value)


async def test_the_processors_wait_for_kafka_instead_of_exiting(tmp_path: Path) -> None:
    # Faust's worker exits when it cannot bootstrap at start; during a Kafka restart that would
    # be a crash loop, and `make up` would stop everything. The processors must wait instead.
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
            "REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "PYTHONUNBUFFERED": "1",
        }
        proc = Process(
            "processors",
            [sys.executable, "-m", "processors"],
            tmp_path / "processors.log",
            env,
            REPO,
        )
        said: list[str] = []
        supervisor = Supervisor(FAST, announce=said.append)
        supervisor.start(proc)

        def waits() -> int:
            return proc.log_path.read_text().count("Kafka is not answering")

        async with watching(supervisor):
            await until(lambda: waits() >= 2 or supervisor.restarts["processors"] > 0, 60)
            assert said == [], proc.log_path.read_text()[-2000:]
            assert proc.returncode is None
