"""Per-run I/O bytes and context switches, as the kernel counted them, for every process of a run.

The oracle is what the programs do: bytes they write and read back, sleeps they take, CPU they
fight over. A program cannot hide from the figures by leaving its work to an orphan.
"""

from __future__ import annotations

import pytest

from sandbox import Limits, Sandbox, Status

pytestmark = pytest.mark.usefixtures("clean_host")

MB = 1 << 20


async def test_bytes_written_and_read_back_are_counted(sandbox: Sandbox) -> None:
    src = (
        "data = b'x' * (3 << 20)\n"
        "with open('big', 'wb') as f:\n    f.write(data)\n"
        "with open('big', 'rb') as f:\n    assert len(f.read(2 << 20)) == 2 << 20\n"
    )
    result = await sandbox.run("python", src)
    assert result.status is Status.COMPLETED, result
    assert result.written_bytes is not None and result.read_bytes is not None
    assert 3 * MB <= result.written_bytes < 4 * MB, result
    assert 2 * MB <= result.read_bytes < 2 * MB + 16 * MB, result  # plus the interpreter's files

    quiet = await sandbox.run("python", "pass\n")
    assert quiet.written_bytes is not None and quiet.written_bytes < MB, quiet


async def test_an_orphan_cannot_hide_its_io_from_the_figures(sandbox: Sandbox) -> None:
    # The child forks a grandchild and exits at once; the grandchild (reparented to the sandbox's
    # init) writes 4 MB to stdout, dropped by the output cap but still written.
    src = (
        "import os, sys\n"
        "if os.fork() == 0:\n"
        "    if os.fork() == 0:\n"
        "        os.write(1, b'y' * (4 << 20))\n"
        "    os._exit(0)\n"
        "os.wait()\n"
        "import time\n"
        "time.sleep(0.5)\n"
    )
    result = await sandbox.run("python", src, limits=Limits(stdout_bytes=1024))
    assert result.status is Status.COMPLETED, result
    assert result.stdout_truncated
    assert result.written_bytes is not None and result.written_bytes >= 4 * MB, result


async def test_sleeps_are_voluntary_and_contention_involuntary_switches(sandbox: Sandbox) -> None:
    sleeper = await sandbox.run(
        "python", "import time\nfor _ in range(40):\n    time.sleep(0.005)\n"
    )
    assert sleeper.voluntary_context_switches is not None, sleeper
    assert sleeper.voluntary_context_switches >= 40, sleeper

    # Three busy processes on a quota of at most one CPU per step: the scheduler must take the
    # CPU from them, which only involuntary switches record.
    busy = (
        "import os, time\n"
        "for _ in range(2):\n"
        "    if os.fork() == 0:\n"
        "        break\n"
        "end = time.monotonic() + 0.4\n"
        "while time.monotonic() < end:\n    pass\n"
        "try:\n    while True:\n        os.wait()\nexcept ChildProcessError:\n    pass\n"
    )
    fighting = await sandbox.run("python", busy)
    assert fighting.status is Status.COMPLETED, fighting
    assert fighting.involuntary_context_switches is not None, fighting
    assert fighting.involuntary_context_switches >= 10, fighting
