"""The stack under test: reuse one that answers on the URL, or start `devstack up --profile bench`.

Also finds each service's processes, so memory can be read per service, and starts extra
processor workers for the scaling section.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOGS = REPO / "var" / "bench" / "logs"

# The bench drives far more runs than a user may: lift the per-session/client limits and cooldown.
LIMITS_ENV = {
    "SESSION_RUNS_PER_MINUTE": "1000000",
    "CLIENT_RUNS_PER_MINUTE": "1000000",
    "FAILURE_STREAK_LIMIT": "1000000",
}


def services_at(base_port: int) -> tuple[str, str, str]:
    """Kafka's bootstrap address, Redis's and PostgreSQL's URLs of the stack that devstack runs
    at STACK_BASE_PORT `base_port` (its port layout: devstack/__main__.py)."""
    return (
        f"127.0.0.1:{base_port}",
        f"redis://127.0.0.1:{base_port - 2713}/0",
        f"postgresql://postgres@127.0.0.1:{base_port - 3660}/runbox",
    )


class BenchStackError(Exception):
    """The stack under test could not be started or reached."""


@contextlib.asynccontextmanager
async def scratch_database(dsn: str, prefix: str) -> AsyncIterator[str]:
    """The DSN of a new, empty database beside the one of `dsn`, dropped afterwards (the bench's
    own, and each test's that needs one)."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextlib.asynccontextmanager
async def scratch_topics(
    kafka: str,
    names: Sequence[str],
    partitions: int = 1,
    groups: Sequence[str] = (),
    ready_s: float = 60.0,
) -> AsyncIterator[None]:
    """A bench's own topics on the broker at `kafka`: created if missing, each partition led
    before the body runs, deleted afterwards with the consumer `groups` named. A failed delete
    is raised, unless the body raised first (its error is the one to see)."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka, request_timeout_ms=10000)
    await admin.start()
    body_failed = True  # or the topics' setup: either way, its error is the one to see
    try:
        existing = await admin.list_topics()
        missing = [name for name in names if name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(name, num_partitions=partitions, replication_factor=1)
                    for name in missing
                ]
            )
        deadline = time.monotonic() + ready_s
        while not all(
            t["error_code"] == 0
            and len(t["partitions"]) == partitions
            and all(p["leader"] >= 0 for p in t["partitions"])
            for t in await admin.describe_topics(list(names))
        ):
            if time.monotonic() > deadline:
                raise BenchStackError(f"topics {list(names)} have no leaders after {ready_s:.0f}s")
            await asyncio.sleep(0.1)
        yield
        body_failed = False
    finally:
        try:
            if names:
                await admin.delete_topics(list(names))
            with contextlib.suppress(Exception):  # a group may still be leaving; it expires
                if groups:
                    await admin.delete_consumer_groups(list(groups))
        except Exception:
            if not body_failed:
                raise
        finally:
            await admin.close()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/ready", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class BenchStack:
    """A running engine at `url`; `owned` when this bench started it (and so stops it)."""

    url: str
    base_port: int
    owned: bool = False
    env: dict[str, str] = field(default_factory=dict)
    _proc: subprocess.Popen[bytes] | None = None
    extra_workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _services_env(self) -> dict[str, str]:
        kafka, redis_url, _ = services_at(self.base_port)
        return {"KAFKA_BOOTSTRAP_SERVERS": kafka, "REDIS_URL": redis_url}

    def start(self, timeout: float = 120.0) -> None:
        if answers(self.url):
            print(f"using the stack already answering at {self.url}", flush=True)
            self.env = self._services_env()
            return
        port = self.url.rsplit(":", 1)[1].split("/")[0]
        env = {
            **os.environ,
            **LIMITS_ENV,
            "STACK_BASE_PORT": str(self.base_port),
            "PORT": port,
            "PYTHONUNBUFFERED": "1",
        }
        LOGS.mkdir(parents=True, exist_ok=True)
        print(f"starting the bench stack (log: {LOGS / 'stack.log'})", flush=True)
        with (LOGS / "stack.log").open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "devstack", "up", "--profile", "bench"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=REPO, start_new_session=True,
            )  # fmt: skip
        self.owned = True
        self.env = self._services_env()
        deadline = time.monotonic() + timeout
        while not answers(self.url):
            if self._proc.poll() is not None:
                raise BenchStackError(f"the stack exited; see {LOGS / 'stack.log'}")
            if time.monotonic() > deadline:
                self.stop()
                raise BenchStackError(f"the stack is not ready after {timeout:.0f}s")
            time.sleep(0.2)

    def add_worker(self, worker_id: str, slots: int) -> subprocess.Popen[bytes]:
        """Start one more processors worker (safety, executor, retry agents) in the group."""
        env = {
            **os.environ,
            **self.env,
            "WORKER_ID": worker_id,
            "SANDBOX_SLOTS": str(slots),
            "PYTHONUNBUFFERED": "1",
        }
        with (LOGS / f"{worker_id}.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "processors"], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=env, cwd=REPO, start_new_session=True,
            )  # fmt: skip
        self.extra_workers.append(proc)
        return proc

    def stop_workers(self) -> None:
        for proc in self.extra_workers:
            _terminate(proc)
        self.extra_workers.clear()

    def stop(self) -> None:
        self.stop_workers()
        if self._proc is not None:
            _terminate(self._proc, signal.SIGINT, 60)
            self._proc = None

    def service_pids(self) -> dict[str, list[int]]:
        """Root process of each service: api, processors, projector, kafka, postgres, redis."""
        found = service_pids(self._proc.pid if self._proc else None)
        for number, proc in enumerate(self.extra_workers, start=2):
            if proc.poll() is None:
                found[f"processors #{number}"] = [proc.pid]
        return found


def helper(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`python -m module args` from the repository, once it printed `ready` (a helper process
    of a bench tool: a consumer, a server...); stop it with `stop_helpers`."""
    proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE,
                            cwd=REPO, env=env)  # fmt: skip
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        proc.kill()
        proc.wait()
        proc.stdout.close()
        raise SystemExit(f"{module} {' '.join(args)} did not start")
    return proc


def stop_helpers(helpers: list[subprocess.Popen[bytes]]) -> None:
    for proc in helpers:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def _terminate(
    proc: subprocess.Popen[bytes], signum: int = signal.SIGTERM, wait: float = 20
) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signum)
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def parents() -> dict[int, int]:
    """pid -> parent pid of every process, read from /proc once."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        table[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return table


def children(pid: int, table: dict[int, int] | None = None) -> list[int]:
    return [child for child, parent in (table or parents()).items() if parent == pid]


def tree(root: int, table: dict[int, int]) -> list[int]:
    """`root` and every process under it, from a `parents()` table."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children(pid, table)
    return found


SERVICES = {
    "api": "-m api",
    "processors": "-m processors",
    "projector": "-m projections",
    "kafka": "kafka.Kafka",
    "postgres": "postgres",
    "redis": "redis-server",
}


def service_pids(devstack_pid: int | None) -> dict[str, list[int]]:
    """Services started by devstack (its direct children), by what their command line runs."""
    found: dict[str, list[int]] = {name: [] for name in SERVICES}
    table = parents()
    if devstack_pid is None:  # a stack we did not start: find its devstack by command line
        devstack_pid = next(
            (p for p in table if "devstack up --profile bench" in _cmdline(p)), None
        )
    candidates = children(devstack_pid, table) if devstack_pid else []
    for pid in candidates:
        line = _cmdline(pid)
        for name, marker in SERVICES.items():
            if marker in line:
                found[name].append(pid)
                break
    return found
