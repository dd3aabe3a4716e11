"""The sandbox refuses to start on a host where it could not enforce its limits, and says why."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import Sandbox, SandboxUnavailable

REPO = Path(__file__).resolve().parents[3]


def test_no_usable_cgroup_refuses_to_start(sandbox: Sandbox, tmp_path: Path) -> None:
    empty = tmp_path / "not-a-cgroup-fs"
    empty.mkdir()
    with pytest.raises(SandboxUnavailable) as refused:
        Sandbox(dataclasses.replace(sandbox.settings, cgroup_root=empty))
    message = str(refused.value)
    # What is missing, where it was looked for, and how to fix it.
    assert "cgroup" in message and str(empty) in message and "SANDBOX_CGROUP_ROOT" in message


def test_no_tmpfs_mount_refuses_to_start(sandbox: Sandbox) -> None:
    # A real failure: root without CAP_SYS_ADMIN cannot mount (but can still write cgroup files).
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv (util-linux) is needed to start the sandbox without CAP_SYS_ADMIN")
    s = sandbox.settings
    script = (
        "import dataclasses, pathlib, sys\nfrom sandbox import Sandbox, SandboxSettings, "
        "SandboxUnavailable\n"
        f"s = dataclasses.replace(SandboxSettings.from_env(), root=pathlib.Path({str(s.root)!r}),"
        f" slots={s.slots})\n"
        "try:\n    Sandbox(s)\nexcept SandboxUnavailable as e:\n    print('REFUSED', e)\n"
        "else:\n    print('STARTED')\n"
    )
    done = subprocess.run(
        [setpriv, "--inh-caps=-sys_admin", "--bounding-set=-sys_admin", sys.executable, "-c",
         script], capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
    )  # fmt: skip
    assert done.stdout.startswith("REFUSED"), (done.stdout, done.stderr)
    assert "tmpfs" in done.stdout and "CAP_SYS_ADMIN" in done.stdout, done.stdout
