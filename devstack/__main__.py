"""`python -m devstack up|test|services`: the engine on its embedded default, or its test run.

up        Kafka, PostgreSQL, Redis, topics, migrations, then the API, processors, projector and
          callback deliverer;
          any of them that exits is restarted with backoff; Ctrl-C stops everything.
test      the same services on their own ports and data folder, then ruff, mypy and pytest.
services  only Kafka, PostgreSQL and Redis, printing the environment to reach them (for bench/).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Annotated

from msgspec import Meta

from config import SettingsError, parse
from devstack.services import REPO, Kafka, Postgres, Process, Redis, StackError, require_free, say
from devstack.supervisor import Supervisor

VAR = REPO / "var"
BASE_PORTS = {"up": 19092, "test": 29092, "bench": 49092}


def env_int(name: str, default: int, low: int = 1, high: int = 65535) -> int:
    """An integer from the environment; a bad one stops the stack naming the variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value: int = parse(name, raw, Annotated[int, Meta(ge=low, le=high)])
    except SettingsError as exc:
        raise StackError(str(exc)) from None
    return value


@dataclass(frozen=True)
class Profile:
    """Ports and data folder of one stack; `up` and `test` differ so both can run at once."""

    name: str
    kafka_port: int
    postgres_port: int
    redis_port: int

    @classmethod
    def from_env(cls, name: str) -> Profile:
        # Each profile has its own block of ports, so several stacks can run side by side.
        base = env_int("STACK_BASE_PORT", BASE_PORTS.get(name, 39092))
        return cls(
            name=name,
            kafka_port=env_int("KAFKA_PORT", base),
            postgres_port=env_int("POSTGRES_PORT", base - 3660),  # 15432 / 25432
            redis_port=env_int("REDIS_PORT", base - 2713),  # 16379 / 26379
        )


class Stack:
    """The three services of one profile, started in parallel and stopped in reverse order.

    `up` adds the engine to the same supervisor and lets it restart whatever exits.
    """

    def __init__(self, profile: Profile) -> None:
        self.root = VAR / profile.name
        self.logs = self.root / "logs"
        self.kafka = Kafka(
            self.root / "kafka",
            VAR / "cache" / "kafka-libs",
            profile.kafka_port,
            env_int("KAFKA_CONTROLLER_PORT", profile.kafka_port + 1),
        )
        self.postgres = Postgres(
            self.root / "postgres", profile.postgres_port, durable=profile.name != "test"
        )
        self.redis = Redis(self.root / "redis", profile.redis_port)
        self.supervisor = Supervisor()

    @property
    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
            "DATABASE_URL": self.postgres.dsn,
            "REDIS_URL": self.redis.url,
        }

    async def start(self) -> None:
        say(
            f"starting Kafka :{self.kafka.port}, PostgreSQL :{self.postgres.port}, "
            f"Redis :{self.redis.port} (data in {self.root.relative_to(REPO)}/)"
        )
        started = time.monotonic()
        results = await asyncio.gather(
            self.kafka.start(self.logs),
            self.postgres.start(self.logs),
            self.redis.start(self.logs),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, Process):
                self.supervisor.adopt(result)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        say(f"services up in {time.monotonic() - started:.1f}s")
        await self.prepare()

    async def prepare(self) -> None:
        from eventlog.admin import ensure_topics
        from projections.migrate import migrate

        partitions = env_int("TOPIC_PARTITIONS", 12, high=1000)
        created = await ensure_topics(self.kafka.bootstrap, partitions)
        say(f"topics ready ({len(created)} created, {partitions} partitions each)")
        applied = await migrate(self.postgres.dsn)
        say(f"database migrated ({len(applied)} migrations applied)")

    def stop(self) -> None:
        self.supervisor.stop()


def _engine_processes(stack: Stack, port: int) -> list[Process]:
    env = {**os.environ, **stack.env, "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    python = sys.executable
    return [
        Process(
            "projector", [python, "-m", "projections"], stack.logs / "projector.log", env, REPO
        ),
        Process(
            "processors", [python, "-m", "processors"], stack.logs / "processors.log", env, REPO
        ),
        Process("api", [python, "-m", "api"], stack.logs / "api.log", env, REPO),
        Process("callbacks", [python, "-m", "callbacks"], stack.logs / "callbacks.log", env, REPO),
    ]


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def _wait_ready(url: str, stack: Stack, timeout: float, stop: asyncio.Event) -> None:
    deadline = time.monotonic() + timeout
    while not stop.is_set() and not await asyncio.to_thread(_ready, url):
        stack.supervisor.check()  # a crash loop at start (a bad setting) stops us here
        if time.monotonic() > deadline:
            raise StackError(
                f"{url} is not ready after {timeout:.0f}s; see {stack.logs.relative_to(REPO)}/"
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


async def up(stack: Stack, stop: asyncio.Event) -> int:
    port = env_int("PORT", 3000)
    require_free(port, "the API", "PORT")
    started = time.monotonic()
    await stack.start()
    for proc in _engine_processes(stack, port):
        say(f"starting {proc.name} (log: {proc.log_path.relative_to(REPO)})")
        stack.supervisor.start(proc)
    await _wait_ready(f"http://127.0.0.1:{port}/health/ready", stack, 60, stop)
    if stop.is_set():
        return 0
    say(
        f"ready in {time.monotonic() - started:.1f}s: http://127.0.0.1:{port}  "
        f"(docs: http://127.0.0.1:{port}/schema)  Ctrl-C stops everything"
    )
    # An exit is restarted, an outage waited out; only a crash loop (CrashLoop) or Ctrl-C ends this.
    await stack.supervisor.watch(stop)
    return 0


async def test(stack: Stack, pytest_args: list[str]) -> int:
    await stack.start()
    env = {**os.environ, **stack.env}
    steps = [
        ("ruff", [sys.executable, "-m", "ruff", "check", "."]),
        ("ruff format", [sys.executable, "-m", "ruff", "format", "--check", "."]),
        ("mypy", [sys.executable, "-m", "mypy"]),
        ("pytest", [sys.executable, "-m", "pytest", *pytest_args]),
    ]
    for name, argv in steps:
        say(f"running {name}")
        code = await asyncio.to_thread(subprocess.call, argv, env=env, cwd=REPO)
        if code != 0:
            say(f"{name} failed (exit {code})")
            return code
    return 0


async def services(stack: Stack, stop: asyncio.Event) -> int:
    await stack.start()
    for key, value in stack.env.items():
        print(f"export {key}={value}", flush=True)
    await stop.wait()
    return 0


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["up", "test", "services"])
    parser.add_argument(
        "--profile", help="ports and data folder to use (up, test, bench, or any name)"
    )
    args, rest = parser.parse_known_args(argv)
    try:
        profile = Profile.from_env(args.profile or ("test" if args.command == "test" else "up"))
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    stack = Stack(profile)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        if args.command == "up":
            return await up(stack, stop)
        if args.command == "test":
            return await test(stack, rest)
        return await services(stack, stop)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if stack.supervisor.names:
            say("stopping " + ", ".join(reversed(stack.supervisor.names)))
        stack.stop()
        if args.command == "up":
            say(stack.supervisor.summary())


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
