"""Runs at once, live output, output caps, setup failures and the CLI, against real bubblewrap."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox import ErrorCode, Limits, Sandbox, Status, UnknownLanguage

pytestmark = pytest.mark.usefixtures("clean_host")


async def test_slots_run_at_once_without_interfering(sandbox: Sandbox) -> None:
    # Each run sleeps 0.5 s, uses its own files and prints its own stdin.
    src = (
        "import sys, time, os\nname = sys.stdin.read()\nopen('mine', 'w').write(name)\n"
        "time.sleep(0.5)\nprint(name, open('mine').read(), sorted(os.listdir('.')))\n"
    )
    runs = 2 * sandbox.slots
    start = time.monotonic()
    results = await asyncio.gather(
        *(sandbox.run("python", src, stdin=f"run{i}") for i in range(runs))
    )
    elapsed = time.monotonic() - start
    for i, result in enumerate(results):
        assert result.status is Status.COMPLETED, result
        assert result.stdout == f"run{i} run{i} ['main.py', 'mine']\n"
    # Two waves of `slots` parallel runs, not `runs` sequential ones.
    assert elapsed < runs * 0.5


async def test_live_output_arrives_while_the_program_runs(sandbox: Sandbox) -> None:
    events: list[tuple[str, bytes, float]] = []

    async def on_output(stream: str, data: bytes) -> None:
        events.append((stream, data, time.monotonic()))

    src = "import sys, time\nprint('first')\nprint('oops', file=sys.stderr)\ntime.sleep(0.6)\nprint('last')\n"
    result = await sandbox.run("python", src, on_output=on_output)
    end = time.monotonic()
    assert result.stdout == "first\nlast\n" and result.stderr == "oops\n"
    early = [(stream, data) for stream, data, at in events if end - at > 0.4]
    assert b"".join(d for s, d in early if s == "stdout") == b"first\n"
    assert b"".join(d for s, d in early if s == "stderr") == b"oops\n"
    assert b"".join(d for s, d, _ in events if s == "stdout") == b"first\nlast\n"


async def test_output_caps_are_per_stream_and_flagged(sandbox: Sandbox) -> None:
    src = "import sys\nsys.stdout.write('o' * 5000)\nsys.stderr.write('e' * 500)\n"
    result = await sandbox.run("python", src, limits=Limits(stdout_bytes=2048, stderr_bytes=1024))
    assert (len(result.stdout), result.stdout_truncated) == (2048, True)
    assert (len(result.stderr), result.stderr_truncated) == (500, False)


async def test_unknown_language_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(UnknownLanguage):
        await sandbox.run("cobol", "DISPLAY 'HI'.")


async def test_result_says_which_limits_were_enforced(sandbox: Sandbox) -> None:
    result = await sandbox.run("bash", "echo ok")
    assert {
        "memory",
        "cpu_time",
        "cpu_quota",
        "pids",
        "wall_time",
        "seccomp",
        "workdir_size",
    } <= set(result.enforced)
    assert result.to_dict()["status"] == "COMPLETED"


def test_cli_runs_a_file_and_lists_languages(tmp_path: Path) -> None:
    program = tmp_path / "main.py"
    program.write_text("print(input() * 2)\n")
    stdin = tmp_path / "in.txt"
    stdin.write_text("ab\n")
    env = {**os.environ, "SANDBOX_ROOT": "/var/lib/sandbox/tests"}
    repo = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-m", "sandbox", "run", "--language", "python", str(program),
         "--stdin", str(stdin), "--time-limit-ms", "2000"],
        capture_output=True, text=True, check=True, cwd=repo, env=env, timeout=60,
    )  # fmt: skip
    assert json.loads(done.stdout)["stdout"] == "abab\n"
    listed = subprocess.run([sys.executable, "-m", "sandbox", "languages"], capture_output=True,
                            text=True, check=True, cwd=repo, timeout=60)  # fmt: skip
    assert json.loads(listed.stdout)["total"] == 11


async def test_fallback_without_the_c_launcher_is_as_strict(sandbox: Sandbox) -> None:
    # fork + preexec_fn instead of the vfork-able shim: same identity, same limits.
    settings = dataclasses.replace(sandbox.settings, use_launcher=False)
    plain = Sandbox(settings)
    assert plain.launcher is None and sandbox.launcher is not None
    ids = await plain.run("python", "import os\nprint(os.getuid(), os.getgid(), os.getgroups())\n")
    assert ids.stdout == f"{settings.uid_base} {settings.gid_base} []\n"  # slot 0's
    bomb = await plain.run("python", "x = bytearray(1 << 30)\n", limits=Limits(memory_mb=64))
    assert bomb.error_code is ErrorCode.MEMORY


async def test_a_cancelled_run_leaves_nothing_and_frees_its_slot(sandbox: Sandbox) -> None:
    started = asyncio.Event()

    def on_output(_stream: str, _data: bytes) -> None:
        started.set()

    src = "import time\nprint('ready', flush=True)\ntime.sleep(30)\n"
    task = asyncio.ensure_future(sandbox.run("python", src, on_output=on_output))
    await asyncio.wait_for(started.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Every slot is free again: as many runs as slots at once, plus one, all finish.
    results = await asyncio.wait_for(
        asyncio.gather(*(sandbox.run("bash", "echo ok") for _ in range(sandbox.slots + 1))), 20
    )
    assert [r.stdout for r in results] == ["ok\n"] * (sandbox.slots + 1)
