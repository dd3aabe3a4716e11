"""Steps started through launchers armed ahead of time (sandbox/armed.py): the same isolation and
limits as a launcher spawned per step, a fallback when one died, nothing left after close."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from sandbox import ErrorCode, Limits, Sandbox, Status
from sandbox.armed import Armory

pytestmark = pytest.mark.usefixtures("clean_host")


async def _ready(sb: Sandbox, count: int) -> Armory:
    assert sb.armory is not None, "the C launcher and cgroups are needed for armed launchers"
    deadline = time.monotonic() + 5
    while sb.armory.ready_count() < count:
        assert time.monotonic() < deadline, "launchers did not arm within 5 s"
        await asyncio.sleep(0.01)
    return sb.armory


async def test_a_run_takes_an_armed_launcher_with_the_usual_isolation(sandbox: Sandbox) -> None:
    armory = await _ready(sandbox, 1)
    taken = armory.taken
    src = "read x; echo \"got $x\"; echo oops >&2; id -u; ls /proc/self/fd | tr '\\n' ' '"
    result = await sandbox.run("bash", src, stdin="héllo\n")
    assert armory.taken == taken + 1
    assert result.status is Status.COMPLETED, result
    lines = result.stdout.splitlines()
    # Only stdin, stdout, stderr (and the descriptor ls reads /proc/self/fd through).
    assert lines[0] == "got héllo" and lines[2].split() == ["0", "1", "2", "3"]
    # The user of the slot that took it, not one fixed when it was armed.
    base = sandbox.settings.uid_base
    assert base <= int(lines[1]) < base + sandbox.slots
    assert result.stderr == "oops\n"
    assert result.cpu_time_ms is not None and result.memory_peak_kb is not None


async def test_compile_and_run_both_take_armed_launchers(sandbox: Sandbox) -> None:
    armory = await _ready(sandbox, 2)
    taken = armory.taken
    src = '#include <stdio.h>\nint main(void){puts("compiled");return 3;}\n'
    result = await sandbox.run("c", src)
    assert armory.taken == taken + 2
    assert result.stdout == "compiled\n" and result.exit_code == 3


@pytest.mark.parametrize("hog", ["spin", "memory"])
async def test_limits_hold_through_an_armed_launcher(sandbox: Sandbox, hog: str) -> None:
    armory = await _ready(sandbox, 1)
    taken = armory.taken
    if hog == "spin":
        result = await sandbox.run("python", "while True: pass\n",
                                   limits=Limits(time_limit_ms=500))  # fmt: skip
        assert result.status is Status.TIMEOUT and result.error_code is ErrorCode.TIME
    else:
        src = "x = []\nwhile True:\n    x.append(bytearray(16 << 20))\n"
        result = await sandbox.run("python", src, limits=Limits(memory_mb=64))
        assert result.error_code is ErrorCode.MEMORY
        assert result.memory_peak_kb is not None and result.memory_peak_kb <= 65 * 1024
    assert armory.taken == taken + 1


async def test_a_dead_armed_launcher_falls_back_to_spawning(sandbox: Sandbox) -> None:
    armory = await _ready(sandbox, sandbox.settings.slots)
    for pid in armory.pids():
        os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(0.05)
    result = await sandbox.run("bash", "echo still fine")
    assert result.status is Status.COMPLETED and result.stdout == "still fine\n"
    # The dead ones were reaped and replaced after that run.
    await _ready(sandbox, sandbox.settings.slots)


def test_close_kills_the_armed_launchers_and_removes_their_cgroups(sandbox: Sandbox) -> None:
    sb = Sandbox(sandbox.settings)
    assert sb.armory is not None and sb.cgroups is not None and sb.pool is not None
    # Armed or still arming, and the warm sandboxes' (each an armed launcher that was sent its
    # go): each already has its cgroups.
    pids = sb.armory.pids() + sb.pool.pids()
    assert sb.pool.pids(), "the default settings keep a warm python sandbox"
    c = sb.cgroups
    base = c.root / c.parent if c.version == 2 else c.root / "memory" / c.parent
    # This process's only (named "<pid>-<n>-armed"): other workers on the host arm and use theirs
    # meanwhile.
    ours = f"{os.getpid()}-"
    armed_before = {
        d for d in base.iterdir() if d.name.startswith(ours) and d.name.endswith("-armed")
    }
    sb.close()
    assert pids and not [pid for pid in pids if os.path.exists(f"/proc/{pid}")]
    armed_after = {
        d for d in base.iterdir() if d.name.startswith(ours) and d.name.endswith("-armed")
    }
    # Those of the shared `sandbox` fixture stay; this one's are gone.
    assert armed_after < armed_before and len(armed_before - armed_after) == len(pids)
