"""Hostile programs: each tries to break one isolation or limit claim and must be contained."""

from __future__ import annotations

import os
import resource
import socket
import tempfile
from pathlib import Path

import pytest

from sandbox import ErrorCode, Limits, Sandbox, Status
from sandbox.registry import registry

pytestmark = pytest.mark.usefixtures("clean_host")
QUICK = Limits(time_limit_ms=1500, memory_mb=128)
REPO = Path(__file__).resolve().parents[3]


async def test_fork_bomb_is_capped_by_pids_and_killed(sandbox: Sandbox) -> None:
    src = (
        "import os\nn = 0\nwhile True:\n    try:\n        os.fork(); n += 1\n"
        "    except OSError:\n        pass\n"
    )
    result = await sandbox.run("python", src, limits=QUICK)
    assert result.status is Status.TIMEOUT
    assert result.error_code is ErrorCode.TIME


async def test_heap_bomb_is_killed_as_out_of_memory(sandbox: Sandbox) -> None:
    src = "x = []\nwhile True:\n    x.append(bytearray(16 << 20))\n"
    result = await sandbox.run("python", src, limits=Limits(memory_mb=64))
    assert result.error_code is ErrorCode.MEMORY
    assert result.status is Status.FAILED
    assert result.memory_peak_kb is not None and result.memory_peak_kb <= 64 * 1024 + 1024


async def test_tmpfs_bomb_hits_the_tmpfs_size(sandbox: Sandbox) -> None:
    src = (
        "import errno\nn = 0\ntry:\n    with open('/tmp/fill', 'wb') as f:\n        while True:\n"
        "            f.write(b'x' * (1 << 20)); f.flush(); n += 1\n"
        "except OSError as e:\n    print(errno.errorcode[e.errno], n)\n"
    )
    result = await sandbox.run("python", src, limits=Limits(memory_mb=512, workdir_mb=32))
    assert result.status is Status.COMPLETED, result
    code, written = result.stdout.split()
    assert code == "ENOSPC" and int(written) <= 32


async def test_shm_bomb_is_charged_to_the_memory_limit(sandbox: Sandbox) -> None:
    src = (
        "import os\nd = '/dev/shm' if os.path.isdir('/dev/shm') else '/dev'\n"
        "with open(d + '/fill', 'wb') as f:\n    while True:\n        f.write(b'x' * (1 << 20))\n"
    )
    result = await sandbox.run("python", src, limits=Limits(memory_mb=64, time_limit_ms=3000))
    # Either the kernel's OOM killer or a full filesystem: never more than the limit.
    assert result.status is Status.FAILED
    assert result.memory_peak_kb is not None and result.memory_peak_kb <= 64 * 1024 + 1024


async def test_cpu_spin_in_many_processes_counts_total_cpu(sandbox: Sandbox) -> None:
    src = "for i in 1 2 3 4 5 6; do ( while :; do :; done ) & done\nwait\n"
    limits = Limits(time_limit_ms=1000, wall_time_limit_ms=10_000)
    result = await sandbox.run("bash", src, limits=limits)
    assert result.status is Status.TIMEOUT and result.error_code is ErrorCode.TIME
    assert result.cpu_time_ms is not None and result.cpu_time_ms >= 1000
    # Killed on CPU (one CPU's worth: the quota), long before the wall limit.
    assert result.execution_time_ms is not None and result.execution_time_ms < 5000


@pytest.mark.parametrize("main_sleeps", [False, True])
async def test_daemonised_child_does_not_survive(sandbox: Sandbox, main_sleeps: bool) -> None:
    src = (
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        os.close(1); os.close(2)\n        time.sleep(600)\n    os._exit(0)\n"
        "os.wait()\nprint('parent done')\n" + ("time.sleep(60)\n" if main_sleeps else "")
    )
    result = await sandbox.run("python", src, limits=QUICK)
    assert "parent done" in result.stdout
    assert result.status is (Status.TIMEOUT if main_sleeps else Status.COMPLETED)


async def test_one_gigabyte_file_stops_at_the_file_size_limit(sandbox: Sandbox) -> None:
    src = (
        "import errno\nn = 0\ntry:\n    with open('big', 'wb') as f:\n        for _ in range(1024):\n"
        "            f.write(b'x' * (1 << 20)); f.flush(); n += 1\n"
        "except OSError as e:\n    print(errno.errorcode[e.errno], n)\n"
    )
    limits = Limits(file_size_mb=16, workdir_mb=64, memory_mb=256)
    result = await sandbox.run("python", src, limits=limits)
    code, written = result.stdout.split()
    assert code == "EFBIG" and int(written) <= 16


async def test_hundred_megabytes_of_output_are_truncated(sandbox: Sandbox) -> None:
    src = "import sys\nfor _ in range(100):\n    sys.stdout.buffer.write(b'y' * (1 << 20))\n"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = await sandbox.run("python", src, limits=Limits(time_limit_ms=10_000))
    assert result.status is Status.COMPLETED
    assert result.stdout_truncated and not result.stderr_truncated
    assert len(result.stdout) == 1 << 20
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown_kb < 32 * 1024


async def test_network_connect_to_host_loopback_fails(sandbox: Sandbox) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        src = (
            "import socket\ntry:\n    s = socket.create_connection(('127.0.0.1', PORT), timeout=1)\n"
            "    print('connected')\nexcept OSError as e:\n    print('refused', e)\n"
        ).replace("PORT", str(port))
        result = await sandbox.run("python", src, limits=QUICK)
        assert result.stdout.startswith("refused"), result
        with pytest.raises(BlockingIOError):
            listener.accept()


async def test_dns_lookup_fails(sandbox: Sandbox) -> None:
    src = (
        "import socket\ntry:\n    print(socket.getaddrinfo('example.com', 443))\n"
        "except OSError as e:\n    print('failed', e)\n"
    )
    result = await sandbox.run("python", src, limits=QUICK)
    assert result.stdout.startswith("failed"), result


async def test_secrets_of_the_host_are_out_of_reach(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_TEST_SECRET", "hunter2")
    src = (
        "import os\nfor p in ['/etc/shadow', '/root', 'REPO', 'REPO/pyproject.toml', '/proc/1/environ']:\n"
        "    try:\n        print(p, 'READ', len(os.listdir(p) if os.path.isdir(p) else open(p).read()))\n"
        "    except OSError as e:\n        print(p, 'denied', type(e).__name__)\n"
        "print(open('/proc/1/environ').read().replace('\\0', ' '))\n"
        "print(sorted(os.environ))\nprint(open('/proc/self/environ').read())\n"
    ).replace("REPO", str(REPO))
    result = await sandbox.run("python", src, limits=QUICK)
    # bwrap's own init is readable, but it was started with an empty environment.
    assert "READ" not in result.stdout.replace("/proc/1/environ READ", ""), result.stdout
    assert "hunter2" not in result.stdout
    env_line = result.stdout.splitlines()[-2]
    assert env_line == "['HOME', 'LANG', 'PATH', 'PWD', 'TMPDIR']"


async def test_writes_outside_the_workdir_fail(sandbox: Sandbox) -> None:
    targets = ["/usr/x", "/etc/x", "/x", "/proc/sys/kernel/hostname", "/sys/x", "/dev/x",
               "/var/x", "/usr/local/x", "/proc/cmdline"]  # fmt: skip
    src = (
        f"for p in {targets!r}:\n    try:\n        open(p, 'w').write('x'); print(p, 'WROTE')\n"
        "    except OSError as e:\n        print(p, 'denied')\n"
    )
    result = await sandbox.run("python", src, limits=QUICK)
    assert "WROTE" not in result.stdout, result.stdout
    assert result.stdout.count("denied") == len(targets)


async def test_symlinks_in_the_workdir_never_lead_the_host_out(sandbox: Sandbox) -> None:
    with tempfile.TemporaryDirectory(dir="/var/tmp") as host_dir:
        victim = Path(host_dir) / "victim"
        victim.write_text("untouched")
        src = (
            f"ln -s {victim} link; ln -s {host_dir} dirlink; ln -s / root; ln -sf {victim} main.sh\n"
            "mkdir -p sub && ln -s ../../.. sub/up; echo done\n"
        )
        result = await sandbox.run("bash", src, limits=QUICK)
        assert result.stdout == "done\n"
        assert victim.read_text() == "untouched"
        assert sorted(os.listdir(host_dir)) == ["victim"]
        # A compiled language: the compile and run steps share the workdir.
        c_src = (
            '#include <unistd.h>\nint main(void){unlink("main");symlink("VICTIM","main");'
            'symlink("VICTIM","main.c");return 0;}\n'
        ).replace("VICTIM", str(victim))
        result = await sandbox.run("c", c_src, limits=QUICK)
        assert result.status is Status.COMPLETED, result
        assert victim.read_text() == "untouched"


HOST_KERNEL_CMDLINE = Path("/proc/cmdline").read_text().strip()
LOOK_AROUND = {
    "python": (
        "import os\nprint(open('/proc/1/cmdline').read().replace('\\0', ' '))\n"
        "print('KERNEL', repr(open('/proc/cmdline').read()))\n"
        "print('LOCAL', sorted(os.listdir('/usr/local')))\n"
        "print(open('/proc/self/mountinfo').read())\n"
    ),
    # Go: its build cache is an overlay mounted for the run step too.
    "go": (
        'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n'
        '\tfor _, p := range []string{"/proc/1/cmdline", "/proc/cmdline", "/proc/self/mountinfo"} {\n'
        "\t\tb, _ := os.ReadFile(p)\n\t\tfmt.Println(p, string(b))\n\t}\n"
        '\tentries, _ := os.ReadDir("/usr/local")\n'
        '\tfor _, e := range entries {\n\t\tfmt.Println("LOCAL", e.Name())\n\t}\n}\n'
    ),
}


@pytest.mark.parametrize("key", sorted(LOOK_AROUND))
async def test_the_sandbox_shows_no_host_path_kernel_command_line_or_worker_pid(
    sandbox: Sandbox, key: str
) -> None:
    result = await sandbox.run(key, LOOK_AROUND[key], limits=Limits(time_limit_ms=3000))
    assert result.status is Status.COMPLETED, result
    seen = result.stdout
    # bwrap's argv (pid 1's cmdline) and the mount table named the run directory, whose name
    # holds the worker's pid, and the sandbox's root on the host.
    for host in (str(sandbox.settings.root), "/var/lib/sandbox", str(sandbox.settings.go_cache),
                 f"/{os.getpid()}-", f"{os.getpid()}-"):  # fmt: skip
        assert host not in seen, (host, seen)
    assert HOST_KERNEL_CMDLINE not in seen
    local = sorted(line.split()[-1] for line in seen.splitlines() if line.startswith("LOCAL"))
    if key == "python":
        # Only what the language binds under /usr/local: its installed library trees (README).
        python = registry().get("python")
        assert python is not None
        libraries = sorted(
            {Path(at).relative_to("/usr/local").parts[0] for _, at in python.library_mounts()
             if at.startswith("/usr/local/")}
        )  # fmt: skip
        assert "KERNEL ''" in seen and local == [str(libraries).replace(" ", "")]
    else:
        assert local == ["go"]  # only what the language mounts
