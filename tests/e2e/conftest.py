"""The engine as users meet it: API, processors and projector as real processes over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import Stack
from tests.event_log import end_offsets, wait_projected

REPO = Path(__file__).resolve().parents[2]
LOGS = REPO / "var" / "test" / "logs"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Engine:
    """The running engine: its URL, its processes, and the environment they got."""

    url: str
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]]

    def start(self, name: str, module: str, env: dict[str, str] | None = None) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        with (LOGS / f"e2e-{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", module],
                env={**self.env, **(env or {})},
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self, name: str) -> None:
        proc = self.processes.pop(name)
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def caught_up(env: dict[str, str]) -> None:
    target = await end_offsets(env["KAFKA_BOOTSTRAP_SERVERS"])
    await wait_projected(env["DATABASE_URL"], target, deadline_s=600)


def wait_until_ready(engine: Engine, timeout: float = 90.0) -> None:
    """Ready means: dependencies up and the executors' languages registered."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        for name, proc in engine.processes.items():
            if proc.poll() is not None:
                pytest.fail(
                    f"{name} exited with {proc.returncode}; see {LOGS}/e2e-{name}.log",
                    pytrace=False,
                )
        try:
            ready = httpx.get(f"{engine.url}/health/ready", timeout=2)
            languages = httpx.get(f"{engine.url}/languages", timeout=2)
            if ready.status_code == 200 and languages.status_code == 200:
                return
            last = f"{ready.status_code} {ready.text} / {languages.status_code} {languages.text}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.2)
    pytest.fail(
        f"the engine was not ready within {timeout:.0f}s: {last}; logs in {LOGS}", pytrace=False
    )


@pytest.fixture(scope="session")
def engine(stack: Stack) -> Iterator[Engine]:
    port = free_port()
    callback_ports = (free_port(), free_port())
    env = {
        **os.environ,
        **stack.env,
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        "WORKER_ID": "e2e-worker",
        # Tests submit many runs from one address; per-session limits stay at their defaults.
        "CLIENT_RUNS_PER_MINUTE": "100000",
        # The tests that pause the projector wait this long for a 503, not the default 5 s.
        "READ_YOUR_WRITES_TIMEOUT_S": "2",
        # Failures are retried in a second or two, not the product's 14 s; test_failures.py
        # checks the backoff doubles from this base. (Tests that kill workers start their own,
        # with faster beats: test_fleet.py.)
        "RETRY_BACKOFF_MS": "300",
        "SHUTDOWN_GRACE_S": "15",  # below Engine.stop's 20 s
        # Prometheus ports of their own: other engines may run on this host.
        "METRICS_PORT": str(free_port()),
        "PROJECTOR_METRICS_PORT": str(free_port()),
        # Callbacks: the receivers of test_callbacks.py listen on these two loopback ports, which
        # alone are allowed (any other private address stays refused); retries come fast.
        "E2E_CALLBACK_PORTS": f"{callback_ports[0]},{callback_ports[1]}",
        "CALLBACK_ALLOW": ",".join(f"127.0.0.1:{p}" for p in callback_ports),
        "CALLBACK_SECRET": "e2e-callback-secret-" + os.urandom(8).hex(),
        "CALLBACK_BACKOFF_MS": "200",
        "CALLBACK_MAX_BACKOFF_MS": "1000",
        "CALLBACK_TIMEOUT_S": "30",  # test_callbacks.py's dead receiver holds its attempt
    }
    found = Engine(f"http://127.0.0.1:{port}", env, {})
    for name, module in (
        ("projector", "projections"),
        ("processors", "processors"),
        ("api", "api"),
        ("callbacks", "callbacks"),
    ):
        found.start(name, module)
    try:
        wait_until_ready(found)
        # A data folder kept from earlier runs holds their log: after a change of the fold the
        # projector rebuilds it first (minutes for a long-lived folder), and tests start after.
        asyncio.run(caught_up(found.env))
        yield found
    finally:
        for name in list(found.processes):
            found.stop(name)


def start_api(engine: Engine, name: str, **env: str) -> str:
    """A second API process beside the engine's, with some settings changed; its URL."""
    port = free_port()
    extra = Engine(f"http://127.0.0.1:{port}", {**engine.env, "PORT": str(port), **env}, {})
    extra.start(name, "api")
    engine.processes[name] = extra.processes[name]
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{extra.url}/health", timeout=2).status_code == 200:
                return extra.url
        except httpx.HTTPError:
            pass
        if engine.processes[name].poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the {name} API did not start; see {LOGS}/e2e-{name}.log", pytrace=False)
        time.sleep(0.1)


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=engine.url, timeout=30) as http:
        yield http


@dataclass
class Workers:
    """Processors started by one test, in place of the engine's own."""

    engine: Engine
    names: list[str] = field(default_factory=list)

    def start(self, worker_id: str, env: dict[str, str] | None = None, wait: bool = True) -> None:
        """Start a worker with `env` added; with `wait`, until it has announced itself (the API
        takes no run that no live worker can run)."""
        env = env or {}
        self.engine.start(worker_id, "processors", {"WORKER_ID": worker_id, **env})
        self.names.append(worker_id)
        if wait:
            wait_for_worker(self.engine, worker_id)

    def signal(self, worker_id: str, signum: signal.Signals) -> None:
        os.kill(self.engine.processes[worker_id].pid, signum)

    def wait_exit(self, worker_id: str, timeout: float) -> int:
        code = self.engine.processes.pop(worker_id).wait(timeout)
        return code


@pytest.fixture
def own_workers(engine: Engine) -> Iterator[Workers]:
    """The engine's worker leaves (SIGTERM, drained) for the test, which starts its own; they
    are stopped afterwards and the engine's worker comes back."""
    engine.stop("processors")
    workers = Workers(engine)
    try:
        yield workers
    finally:
        for name in workers.names:
            if name in engine.processes:
                engine.stop(name)
        engine.start("processors", "processors")
        wait_for_worker(engine, engine.env["WORKER_ID"])


def wait_for_worker(engine: Engine, worker_id: str, timeout: float = 90.0) -> None:
    """Until `worker_id` has announced itself (the API refuses runs no live worker can take)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            listed = httpx.get(f"{engine.url}/workers", timeout=2).json()["workers"]
            if any(w["worker_id"] == worker_id and w["state"] == "running" for w in listed):
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.2)
    pytest.fail(f"worker {worker_id} did not come back within {timeout:.0f}s", pytrace=False)
