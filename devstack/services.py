"""Start and stop Kafka (KRaft), PostgreSQL and Redis as child processes with data under one folder."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eventlog.topics import MAX_MESSAGE_BYTES

REPO = Path(__file__).resolve().parent.parent
KAFKA_POM = REPO / "devstack" / "kafka" / "pom.xml"


class StackError(Exception):
    """The local stack could not be started."""


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", flush=True)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def require_free(port: int, what: str, variable: str) -> None:
    if not port_is_free(port):
        raise StackError(
            f"port {port} for {what} is taken by another process; stop it or set {variable}"
        )


async def wait_for_port(port: int, what: str, proc: Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise StackError(f"{what} exited with code {proc.returncode}; see {proc.log_path}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise StackError(
        f"{what} did not listen on port {port} within {timeout:.0f}s; see {proc.log_path}"
    )


@dataclass
class Process:
    """A child process whose output goes to a log file; stopped with SIGTERM, then SIGKILL."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # Ctrl-C goes to us; we stop children in order
            )

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def kill_group(self) -> None:
        """SIGKILL whatever is left of the process group (the children of an exited process)."""
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)

    def stop(self, timeout: float = 15.0) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGTERM)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()


def _run_as(user: str) -> list[str]:
    """Prefix that runs a server as `user` when we are root (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]


def _chown_tree(path: Path, user: str) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _postgres_bin() -> Path:
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)
    )
    if not versions:
        raise StackError(
            "PostgreSQL is not installed (expected /usr/lib/postgresql/*/bin/postgres)"
        )
    return versions[-1].parent


@dataclass
class Postgres:
    """A private PostgreSQL cluster: its own data directory and port, TCP on 127.0.0.1 only."""

    data: Path
    port: int
    durable: bool = True
    user: str = "postgres"
    database: str = "runbox"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    async def start(self, logs: Path) -> Process:
        require_free(self.port, "PostgreSQL", "POSTGRES_PORT")
        bindir = _postgres_bin()
        run_as = _run_as("postgres")
        if not (self.data / "PG_VERSION").exists():
            say(f"initialising PostgreSQL in {self.data}")
            self.data.mkdir(parents=True, exist_ok=True)
            _chown_tree(self.data, "postgres")
            await asyncio.to_thread(
                subprocess.run,
                [
                    *run_as,
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    self.user,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        options = [
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={self.port}",
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
        ]
        if not self.durable:  # the test cluster is thrown away; trade durability for speed
            options += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        proc = Process(
            "postgres",
            [*run_as, str(bindir / "postgres"), "-D", str(self.data), *options],
            logs / "postgres.log",
        )
        proc.start()
        await wait_for_port(self.port, "PostgreSQL", proc, 30)
        await self._create_database(proc)
        return proc

    async def _create_database(self, proc: Process) -> None:
        import asyncpg

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = await asyncpg.connect(
                    f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"
                )
                break
            except (OSError, asyncpg.PostgresError) as exc:  # still starting up
                if time.monotonic() > deadline or proc.returncode is not None:
                    raise StackError(f"PostgreSQL does not accept connections: {exc}") from exc
                await asyncio.sleep(0.1)
        try:
            exists = await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", self.database
            )
            if not exists:
                await conn.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await conn.close()


@dataclass
class Redis:
    """A private Redis server on its own port; data in its own folder."""

    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self, logs: Path) -> Process:
        require_free(self.port, "Redis", "REDIS_PORT")
        self.data.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        proc = Process(
            "redis",
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ],
            logs / "redis.log",
        )
        proc.start()
        await wait_for_port(self.port, "Redis", proc, 15)
        return proc


@dataclass
class Kafka:
    """A single-node KRaft Apache Kafka broker assembled from Maven Central jars."""

    data: Path
    libs: Path
    port: int
    controller_port: int
    heap_mb: int = 512

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def assemble(self) -> None:
        stamp = self.libs / ".complete"
        if stamp.exists() and stamp.stat().st_mtime >= KAFKA_POM.stat().st_mtime:
            return
        say(f"assembling Apache Kafka from Maven Central into {self.libs}")
        if self.libs.exists():
            shutil.rmtree(self.libs)
        if shutil.which("mvn") is None:
            raise StackError("Maven (mvn) is missing; run devstack/provision.sh")
        result = subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(KAFKA_POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.libs}",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise StackError(f"Maven could not fetch Kafka:\n{result.stdout}{result.stderr}")
        stamp.touch()

    def _write_config(self) -> Path:
        config = self.data / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={self.data / 'logs'}",
                    "num.partitions=12",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=12",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    f"message.max.bytes={MAX_MESSAGE_BYTES}",
                    f"replica.fetch.max.bytes={MAX_MESSAGE_BYTES}",
                    "auto.create.topics.enable=true",
                    # A single node on a small machine: each idle pool thread wakes every 300 ms
                    # to poll, and on this VM a wake-up costs (README, "Waking up"). With 8
                    # request handlers and 3 network threads per listener (the defaults) the
                    # broker burnt 53 ms of CPU a second with no client at all; with 2 and 1, 29.
                    f"num.io.threads={min(8, max(2, os.cpu_count() or 2))}",
                    "num.network.threads=1",
                    "",
                ]
            )
        )
        log4j = self.data / "log4j2.properties"
        log4j.write_text(
            "\n".join(
                [
                    "rootLogger.level=WARN",
                    "rootLogger.appenderRef.stdout.ref=STDOUT",
                    "appender.stdout.type=Console",
                    "appender.stdout.name=STDOUT",
                    "appender.stdout.layout.type=PatternLayout",
                    "appender.stdout.layout.pattern=[%d] %p %m (%c)%n",
                    "logger.kafka.name=kafka",
                    "logger.kafka.level=INFO",
                    "",
                ]
            )
        )
        return config

    def _java(self, main: str, *args: str) -> list[str]:
        java = shutil.which("java") or "java"
        return [
            java,
            f"-Xmx{self.heap_mb}m",
            f"-Xms{min(self.heap_mb, 256)}m",
            "-XX:+UseG1GC",
            # C1 only, the broker too: under make bench's load C2 kept compiling for minutes
            # (10-20 % of a core). With it and the thread counts of server.properties, the
            # broker used 0.83-0.84 of its CPU per run and 0.4-0.5 of its idle CPU (two A/B
            # pairs, README "The embedded Kafka").
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    async def start(self, logs: Path) -> Process:
        require_free(self.port, "Kafka", "KAFKA_PORT")
        require_free(self.controller_port, "the Kafka controller", "KAFKA_CONTROLLER_PORT")
        self.assemble()
        self.data.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if not (self.data / "logs" / "meta.properties").exists():
            say("formatting the KRaft storage")
            cluster_id = _kafka_cluster_id()
            result = await asyncio.to_thread(
                subprocess.run,
                self._java(
                    "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)
                ),
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise StackError(
                    f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}"
                )
        proc = Process("kafka", self._java("kafka.Kafka", str(config)), logs / "kafka.log")
        proc.start()
        await wait_for_port(self.port, "Kafka", proc, 60)
        await _wait_kafka_ready(self.bootstrap, proc)
        return proc


def _kafka_cluster_id() -> str:
    import base64

    while True:  # a leading "-" would be read by the storage tool as an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


async def _wait_kafka_ready(bootstrap: str, proc: Process) -> None:
    """The port opens before the broker has joined its own quorum: wait for metadata."""
    from aiokafka.admin import AIOKafkaAdminClient

    deadline = time.monotonic() + 60
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception as exc:  # any failure here means "not yet"
            if time.monotonic() > deadline or proc.returncode is not None:
                raise StackError(f"Kafka is not answering metadata requests: {exc}") from exc
            await asyncio.sleep(0.2)
        finally:
            await admin.close()
