"""Importing any module of the engine starts nothing: no process, no mount, no file written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "callbacks", "processors", "projections", "sandbox", "schemas", "config",
            "telemetry", "eventlog", "fleet", "verdicts", "dropin", "devstack", "bench",
            "runbox")  # fmt: skip

PROBE = """
import importlib, json, os, pkgutil, sys
def children():
    found = set()
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            found |= set(f.read().split())
    return sorted(found)
def mounts():
    with open("/proc/self/mountinfo") as f:
        return sorted(line.split()[4] for line in f)
before = mounts()
imported = []
for package in sys.argv[1:]:
    root = importlib.import_module(package)
    imported.append(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
        imported.append(info.name)
print(json.dumps({"imported": imported, "children": children(),
                  "new_mounts": sorted(set(mounts()) - set(before))}))
"""


def test_importing_every_module_starts_nothing(tmp_path: Path) -> None:
    root = tmp_path / "sandbox-root"
    env = {
        **os.environ,
        "SANDBOX_ROOT": str(root),
        # A bad setting must not matter at import: settings are read when a component starts.
        "PORT": "not-a-port",
        "SANDBOX_SLOTS": "zero",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *PACKAGES],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "processors.executor" in report["imported"] and "sandbox.runner" in report["imported"]
    assert report["children"] == [], "a module started a process at import"
    # Other processes on this host mount and unmount meanwhile; ours would be under our root.
    assert [m for m in report["new_mounts"] if m.startswith(str(tmp_path))] == [], (
        "a module mounted something at import"
    )
    assert not root.exists(), "a module created the sandbox root (launcher, workdirs) at import"
