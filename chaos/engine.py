"""The harness's own stack and engine: devstack's Kafka, PostgreSQL and Redis on a private
profile, then the API, the projector and two processors workers as child processes.

Each engine process is supervised as a container runtime would: when it exits, whatever the
reason, it is started again after `restart_delay_s`, and the journal says what happened. The
harness stops everything it started; every wait has a deadline; all of it listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from devstack.__main__ import VAR, Profile, Stack
from devstack.services import REPO, Process

PROFILE = "chaos"
BASE_PORT = 47092
WORKERS = ("worker-a", "worker-b")

# Shorter than the defaults, so dead workers are noticed within the harness's few minutes.
SETTINGS = {
    "HEARTBEAT_INTERVAL_S": "1",
    "WORKER_DEAD_AFTER_S": "5",
    "KAFKA_SESSION_TIMEOUT_S": "10",  # a killed worker's partitions go to the other one
    "SANDBOX_SLOTS": "2",
    # The load comes from one address and few sessions; the limits are not under test here.
    "SESSION_RUNS_PER_MINUTE": "1000000",
    "CLIENT_RUNS_PER_MINUTE": "1000000",
    "FAILURE_STREAK_LIMIT": "1000000",
}

WRAPPER = """#!/bin/sh
# chaos harness: a host whose sandbox is broken while the flag file exists, else bubblewrap.
if [ -e '{flag}' ]; then
    exit 1
fi
exec '{bwrap}' "$@"
"""


class ChaosError(Exception):
    """The harness could not set up or reach what it needs."""


@dataclass
class Journal:
    """What happened to the engine's processes, with times (time.time())."""

    entries: list[tuple[float, str]] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.entries.append((time.time(), text))
        print(f"   . {text}", flush=True)

    def since(self, start: float) -> list[str]:
        return [text for when, text in self.entries if when >= start]


@dataclass
class Supervised:
    """One engine process (`python -m <module>`), restarted when it exits while `wanted`."""

    name: str
    module: str
    env: dict[str, str]
    log_path: Path
    wanted: bool = True
    proc: subprocess.Popen[bytes] | None = None
    planned: str | None = None  # what the harness last did to it, until it exits
    started_at: float = 0.0  # time.time() of the latest start
    exited_at: float | None = None
    restarts: int = 0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, cwd=REPO, start_new_session=True,
            )  # fmt: skip
        self.planned = None
        self.exited_at = None
        self.started_at = time.time()

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signum)

    def stop(self, timeout: float = 20.0) -> None:
        self.wanted = False
        if self.proc is None or self.proc.poll() is not None:
            return
        self.planned = "stopped by the harness"
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait()


def epoch(value: float | str) -> float:
    """A time of GET /workers (unix seconds or ISO 8601) as unix seconds."""
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class Engine:
    """The private stack and the engine on it, with `fault_dir` for the bwrap wrapper's flag."""

    def __init__(self, base_port: int = BASE_PORT, restart_delay_s: float = 1.0) -> None:
        os.environ["STACK_BASE_PORT"] = str(base_port)
        for name in ("KAFKA_PORT", "POSTGRES_PORT", "REDIS_PORT", "KAFKA_CONTROLLER_PORT"):
            os.environ.pop(name, None)  # the harness's ports come from its base port alone
        self.stack = Stack(Profile.from_env(PROFILE))
        self.api_port = base_port + 8
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.restart_delay_s = restart_delay_s
        self.journal = Journal()
        self.processes: dict[str, Supervised] = {}
        self.fault_dir = Path(f"/tmp/chaos-{os.getpid()}")
        self.flag = self.fault_dir / "fail-sandbox"
        self.services: dict[str, Process] = {}
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def bootstrap(self) -> str:
        return self.stack.kafka.bootstrap

    @property
    def database_url(self) -> str:
        return self.stack.postgres.dsn

    @property
    def redis_url(self) -> str:
        return self.stack.redis.url

    @property
    def logs(self) -> Path:
        return self.stack.logs

    def settings(self) -> dict[str, str]:
        """What the harness sets beyond the stack's addresses (printed in the table's header)."""
        return {**SETTINGS, "SANDBOX_BWRAP": str(self.fault_dir / "bwrap")}

    def _env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            **self.stack.env,
            **self.settings(),
            "PORT": str(self.api_port),
            "HOST": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }

    def _write_wrapper(self) -> None:
        self.fault_dir.mkdir(parents=True, exist_ok=True)
        # The launcher drops to an unprivileged uid before it execs bwrap: world-readable.
        self.fault_dir.chmod(0o755)
        wrapper = self.fault_dir / "bwrap"
        wrapper.write_text(
            WRAPPER.format(flag=self.flag, bwrap=shutil.which("bwrap") or "/usr/bin/bwrap")
        )
        wrapper.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)

    def add(self, name: str, module: str, **extra: str) -> Supervised:
        proc = Supervised(name, module, self._env(**extra), self.logs / f"{name}.log")
        self.processes[name] = proc
        proc.start()
        return proc

    async def start(self, timeout: float = 180.0) -> None:
        """A fresh private stack (its data folder is wiped), then the engine, until ready."""
        root = VAR / PROFILE
        if root.exists():
            shutil.rmtree(root)
        self._write_wrapper()
        await self._start_services()
        self.add("projector", "projections")
        for number, worker_id in enumerate(WORKERS):
            # Sandboxes sharing a kernel need disjoint uid ranges (SANDBOX_UID_BASE).
            base = str(61000 + 100 * number)
            self.add(worker_id, "processors", WORKER_ID=f"chaos-{worker_id}",
                     SANDBOX_UID_BASE=base, SANDBOX_GID_BASE=base)  # fmt: skip
        self.add("api", "api")
        self._supervisor = asyncio.create_task(self._supervise())
        if not await self.wait_healthy(timeout):
            raise ChaosError(f"the engine was not ready within {timeout:.0f}s; see {self.logs}")

    async def _supervise(self) -> None:
        while True:
            for proc in list(self.processes.values()):
                if not proc.wanted or proc.proc is None:
                    continue
                code = proc.proc.poll()
                if code is None:
                    continue
                now = time.time()
                if proc.exited_at is None:
                    proc.exited_at = now
                    why = proc.planned or "on its own"
                    self.journal.add(f"{proc.name} exited with {code} ({why})")
                elif now - proc.exited_at >= self.restart_delay_s:
                    proc.start()
                    proc.restarts += 1
                    self.journal.add(f"{proc.name} restarted by the supervisor")
            await asyncio.sleep(0.2)

    executors: tuple[str, ...] = WORKERS

    def worker_id(self, name: str) -> str:
        return f"chaos-{name}"

    def kill_now(self, name: str, signum: int) -> None:
        """Signal `name`'s process group; the supervisor starts it again once it has exited."""
        proc = self.processes[name]
        proc.planned = f"{signal.Signals(signum).name} from the harness"
        self.journal.add(f"{signal.Signals(signum).name} to {name}")
        proc.signal(signum)

    async def kill(self, name: str, signum: int) -> None:
        self.kill_now(name, signum)

    def rename(self, old: str, new: str) -> None:
        """`old` takes the place of `new` (a stopped process), e.g. after a handover."""
        proc = self.processes.pop(old)
        self.processes.pop(new, None)
        proc.name = new
        self.processes[new] = proc

    async def wait_exit(self, name: str, timeout: float) -> float | None:
        """Seconds until `name` exited, or None if it still runs after `timeout`."""
        proc = self.processes[name]
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if proc.proc is None or proc.proc.poll() is not None:
                return time.monotonic() - started
            await asyncio.sleep(0.05)
        return None

    async def workers(self, http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
        """GET /workers by worker id ({} when the API does not answer)."""
        try:
            response = await http.get(f"{self.url}/workers", timeout=3)
        except httpx.HTTPError:
            return {}
        if response.status_code != 200:
            return {}
        return {w["worker_id"]: w for w in response.json().get("workers", [])}

    async def wait_back(self, name: str, since: float, timeout: float) -> bool:
        """`name` was started again after `since` (time.time()) and, for a worker, beats again
        from its new process; then the engine is healthy."""
        deadline = time.monotonic() + timeout
        proc = self.processes[name]
        async with httpx.AsyncClient(timeout=3) as http:
            while time.monotonic() < deadline:
                if proc.running and proc.started_at > since:
                    if name not in self.executors:
                        break
                    beat = (await self.workers(http)).get(self.worker_id(name))
                    if beat and epoch(beat["started_at"]) > since and beat["state"] == "running":
                        break
                await asyncio.sleep(0.2)
            else:
                return False
        return await self.wait_healthy(max(deadline - time.monotonic(), 0.1))

    async def wait_healthy(self, timeout: float) -> bool:
        """Ready (every dependency up), both workers alive and every engine process running."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=3) as http:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    ready = await http.get(f"{self.url}/health/ready")
                    alive = {
                        wid for wid, w in (await self.workers(http)).items() if w["state"] != "dead"
                    }
                    procs = all(p.running for p in self.processes.values() if p.wanted)
                    if (
                        ready.status_code == 200
                        and {f"chaos-{w}" for w in WORKERS} <= alive
                        and procs
                    ):
                        return True
                await asyncio.sleep(0.25)
        return False

    async def stop_service(self, name: str) -> None:
        """Stop Kafka, PostgreSQL or Redis the way an operator would (PostgreSQL: fast mode)."""
        service = self._service(name)
        # devstack's Process keeps its Popen private; PostgreSQL needs another signal than its stop.
        popen: subprocess.Popen[bytes] | None = getattr(service, "_proc", None)
        if popen is not None and name == "postgres":
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGINT)  # fast shutdown; SIGTERM waits for clients
            try:
                await asyncio.to_thread(popen.wait, 20)
            except subprocess.TimeoutExpired:
                service.stop(0)
        else:
            await asyncio.to_thread(service.stop, 30)
        del self.services[name]
        self.journal.add(f"{name} stopped by the harness")

    async def start_service(self, name: str) -> None:
        if name == "kafka":
            service = await self.stack.kafka.start(self.logs)
        elif name == "postgres":
            service = await self.stack.postgres.start(self.logs)
        else:
            service = await self.stack.redis.start(self.logs)
        self.services[name] = service
        self.journal.add(f"{name} started again")

    def _service(self, name: str) -> Process:
        if name not in self.services:
            raise ChaosError(f"{name} is not running")
        return self.services[name]

    async def _start_services(self) -> None:
        """Kafka, PostgreSQL and Redis as devstack starts them, but kept here, unsupervised: the
        harness stops and starts them itself."""
        stack = self.stack
        results = await asyncio.gather(
            stack.kafka.start(self.logs),
            stack.postgres.start(self.logs),
            stack.redis.start(self.logs),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, Process):
                self.services[result.name] = result
        for result in results:
            if isinstance(result, BaseException):
                raise result
        await stack.prepare()

    async def stop(self) -> None:
        """Everything the harness started, engine first, then the services; the wrapper folder."""
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        for proc in reversed(list(self.processes.values())):
            await asyncio.to_thread(proc.stop)
        for service in reversed(list(self.services.values())):
            await asyncio.to_thread(service.stop)
        self.services.clear()
        shutil.rmtree(self.fault_dir, ignore_errors=True)
