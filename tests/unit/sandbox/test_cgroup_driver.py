"""Which cgroup v1 hierarchies a step joins for its CPU quota (no cgroup is touched here)."""

from __future__ import annotations

from pathlib import Path

from sandbox.cgroups import CgroupDriver


def test_the_cpu_quota_adds_the_cpu_hierarchy_only_when_it_is_separate(tmp_path: Path) -> None:
    (tmp_path / "cpuacct").mkdir()
    separate = CgroupDriver(1, tmp_path, "sandbox", cpus=1.0)
    assert separate.controllers[-1] == "cpu" and separate.quota_in == "cpu"
    # cpu,cpuacct mounted together (systemd's layout): the quota goes where cpuacct already is.
    (tmp_path / "cpuacct" / "cpu.cfs_quota_us").write_text("-1\n")
    together = CgroupDriver(1, tmp_path, "sandbox", cpus=1.0)
    assert "cpu" not in together.controllers and together.quota_in == "cpuacct"


def test_no_quota_joins_no_cpu_hierarchy(tmp_path: Path) -> None:
    none = CgroupDriver(1, tmp_path, "sandbox", cpus=0)
    assert none.controllers == ("memory", "pids", "freezer", "cpuacct")
    assert none.quota_in is None
    assert CgroupDriver(2, tmp_path, "sandbox", cpus=0.5).quota_in == "memory"
