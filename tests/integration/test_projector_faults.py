"""The projector under faults: two at once, the active one killed, PostgreSQL, Kafka and Redis
going away and coming back, a PostgreSQL crash. The oracle is always the events this test
produced, never the folds under test.

Services a test stops are its own (started here from the devstack classes, on free ports), so no
other test or developer loses theirs; each is stopped in a finally block.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from devstack import services
from devstack.services import REPO, Kafka, Postgres, Process, Redis
from eventlog import topics
from eventlog.admin import ensure_topics
from projections.fold import FOLD_VERSION
from projections.migrate import ensure_fold_version, migrate
from schemas import Envelope, events
from tests.conftest import Stack
from tests.event_log import Offsets, end_offsets, projected_offsets, wait_projected
from tests.integration.test_projector import history, produce, start_projector
from tests.samples import T0

CHUNKS = 6
# Whoever holds the projector's leader lock in the current database, by its application_name.
LEADER = (
    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() "
    "AND a.application_name LIKE 'projector %'"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def scratch_folder(service: str) -> Path:
    """A folder for a service of this test alone (removed by the test)."""
    root = Path(tempfile.mkdtemp(prefix=f"runbox-test-{service}-"))
    root.chmod(0o755)  # PostgreSQL runs as its own user, which must reach its data directory
    return root


def session_history(session_id: str, updates: int) -> list[tuple[topics.Topic, events.Event]]:
    """Created, then autosaves naming no expected version: one applied twice is one revision too
    many, so these events show a re-applied event where the execution folds cannot."""
    created = events.SessionCreated(
        session_id=session_id, language_id=str(uuid.uuid4()), source_code="v0", created_at=T0
    )
    return [(topics.SESSIONS, created)] + [
        (
            topics.SESSIONS,
            events.SessionCodeUpdated(
                session_id=session_id,
                source_code=f"v{i}",
                updated_at=T0 + timedelta(seconds=i),
            ),
        )
        for i in range(1, updates + 1)
    ]


@dataclass
class Workload:
    """What this test produced: the executions, and each session's events in log order."""

    executions: list[str] = field(default_factory=list)
    sessions: dict[str, list[Envelope[events.Event]]] = field(default_factory=dict)

    async def burst(
        self, producer: AIOKafkaProducer, executions: int = 10, sessions: int = 3
    ) -> list[str]:
        """Produce the whole history of `executions` runs and `sessions` sessions; their ids."""
        ids = [str(uuid.uuid4()) for _ in range(executions)]
        items = [item for execution_id in ids for item in history(execution_id, chunks=CHUNKS)]
        for _ in range(sessions):
            items += session_history(str(uuid.uuid4()), updates=5)
        for envelope in await produce(producer, items):
            if isinstance(envelope.payload, events.SessionEvent):
                self.sessions.setdefault(envelope.key, []).append(envelope)
        self.executions += ids
        return ids

    async def assert_applied_exactly_once(self, dsn: str) -> None:
        """Every output chunk once, every row as the produced events say (written out here)."""
        conn = await asyncpg.connect(dsn)
        try:
            output = await conn.fetch(
                "SELECT execution_id, count(*) AS n, string_agg(data, '' ORDER BY seq) AS text "
                "FROM execution_output WHERE execution_id = ANY($1::uuid[]) GROUP BY execution_id",
                self.executions,
            )
            rows = await conn.fetch(
                "SELECT * FROM executions WHERE execution_id = ANY($1::uuid[])", self.executions
            )
            sessions = await conn.fetch(
                "SELECT session_id, revision, source_code FROM sessions "
                "WHERE session_id = ANY($1::uuid[])",
                list(self.sessions),
            )
            revisions = await conn.fetch(
                "SELECT session_id, revision, event_id, source_code FROM session_revisions "
                "WHERE session_id = ANY($1::uuid[]) ORDER BY session_id, revision",
                list(self.sessions),
            )
        finally:
            await conn.close()
        text = "".join(f"{i}\n" for i in range(1, CHUNKS + 1))
        assert {str(r["execution_id"]): (r["n"], r["text"]) for r in output} == dict.fromkeys(
            self.executions, (CHUNKS, text)
        )
        by_id = {str(r["execution_id"]): r for r in rows}
        assert set(by_id) == set(self.executions)
        for row in by_id.values():
            assert (
                row["status"],
                row["stdout"],
                row["queued_at"],
                row["attempt"],
                row["worker_id"],
            ) == ("COMPLETED", text, T0, 1, "w")
        # Each session event once: one revision each, in log order, and the version counts them.
        expected_revisions = {
            session_id: [
                (version, str(envelope.event_id), envelope.payload.source_code)  # type: ignore[attr-defined]
                for version, envelope in enumerate(produced, start=1)
            ]
            for session_id, produced in self.sessions.items()
        }
        got_revisions: dict[str, list[tuple[int, str, str]]] = {}
        for r in revisions:
            got_revisions.setdefault(str(r["session_id"]), []).append(
                (r["revision"], str(r["event_id"]), r["source_code"])
            )
        assert got_revisions == expected_revisions
        assert {str(r["session_id"]): (r["revision"], r["source_code"]) for r in sessions} == {
            session_id: (len(produced), produced[-1].payload.source_code)  # type: ignore[attr-defined]
            for session_id, produced in self.sessions.items()
        }


class OffsetWatch:
    """Samples `projection_offsets` while the test runs; remembers every step backwards."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.backwards: list[tuple[tuple[str, int], int, int]] = []
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> OffsetWatch:
        conn = await asyncpg.connect(self.dsn)
        self._task = asyncio.create_task(self._watch(conn))
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _watch(self, conn: asyncpg.Connection) -> None:
        highest: dict[tuple[str, int], int] = {}
        try:
            while True:
                for r in await conn.fetch(
                    "SELECT topic, partition, next_offset FROM projection_offsets"
                ):
                    key = (r["topic"], r["partition"])
                    if r["next_offset"] < highest.get(key, 0):
                        self.backwards.append((key, highest[key], r["next_offset"]))
                    highest[key] = max(highest.get(key, 0), r["next_offset"])
                self.samples += 1
                await asyncio.sleep(0.005)
        finally:
            await conn.close()


async def skip_the_log_so_far(dsn: str, bootstrap: str) -> Offsets:
    """Record the log's current end as applied in `dsn`: the projectors under test then read only
    what the test produces (its oracle says nothing of older events), however long the log."""
    await ensure_fold_version(dsn, FOLD_VERSION)  # else the first projector drops the offsets
    ends = await end_offsets(bootstrap)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO projection_offsets (topic, partition, next_offset) "
            "SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])",
            [topic for topic, _ in ends],
            [partition for _, partition in ends],
            list(ends.values()),
        )
    finally:
        await conn.close()
    return ends


async def leader(
    dsn: str, projectors: list[subprocess.Popen[bytes]], deadline_s: float = 30
) -> int:
    """The pid of the projector holding the leader lock, once one of `projectors` does."""
    ours = {p.pid for p in projectors}
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + deadline_s
        while True:
            for name in await conn.fetch(LEADER):
                pid = int(name["application_name"].split()[1].split("@")[0])
                if pid in ours:
                    return pid
            assert time.monotonic() < deadline, "no projector holds the leader lock"
            await asyncio.sleep(0.02)
    finally:
        await conn.close()


async def wait_for_rows(dsn: str, ids: list[str], deadline_s: float = 60) -> None:
    """Until some execution of `ids` has a row (so what comes next lands mid-stream)."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + deadline_s
        query = "SELECT count(*) FROM executions WHERE execution_id = ANY($1::uuid[])"
        while not await conn.fetchval(query, ids):
            assert time.monotonic() < deadline, "the projector made no progress"
            await asyncio.sleep(0.01)
    finally:
        await conn.close()


async def outage(seconds: float, projector: subprocess.Popen[bytes], log: Path) -> None:
    """Let a dependency stay away for `seconds`; the projector must stay alive throughout."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert projector.poll() is None, f"the projector exited: {tail(log)}"
        await asyncio.sleep(0.05)


def tail(log: Path, lines: int = 15) -> str:
    """The last lines of a projector's log, without the one line per projected execution."""
    text = log.read_text(errors="replace").splitlines()
    return "\n".join([line for line in text if "execution projected" not in line][-lines:])


def stop_all(projectors: list[subprocess.Popen[bytes]]) -> None:
    for projector in projectors:
        projector.terminate()
    for projector in projectors:
        try:
            projector.wait(20)
        except subprocess.TimeoutExpired:
            projector.kill()
            projector.wait()


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[list[IO[bytes]]]:
    """Log files for the projectors a test starts (their ends are shown when it fails)."""
    opened: list[IO[bytes]] = []
    yield opened
    for log in opened:
        log.close()
        print(f"--- {log.name}:\n{tail(Path(log.name), 40)}")


def open_log(logs: list[IO[bytes]], path: Path) -> IO[bytes]:
    log = path.open("wb")
    logs.append(log)
    return log


async def test_two_projectors_at_once_apply_each_event_once(
    stack: Stack,
    scratch_database: str,
    producer: AIOKafkaProducer,
    tmp_path: Path,
    logs: list[IO[bytes]],
) -> None:
    await skip_the_log_so_far(scratch_database, stack.kafka_bootstrap_servers)
    projectors = [
        start_projector(stack, scratch_database, open_log(logs, tmp_path / f"p{i}.log"))
        for i in range(2)
    ]
    work = Workload()
    try:
        async with OffsetWatch(scratch_database) as watch:
            for _ in range(4):
                await wait_for_rows(scratch_database, await work.burst(producer))
            await wait_projected(scratch_database, await end_offsets(stack.kafka_bootstrap_servers))
        for i, projector in enumerate(projectors):
            assert projector.poll() is None, tail(tmp_path / f"p{i}.log")
    finally:
        stop_all(projectors)
    assert watch.samples > 10
    assert watch.backwards == [], "an offset moved backwards"
    await work.assert_applied_exactly_once(scratch_database)
    # The operator sees which one applies: exactly one took the lock, the other stood by.
    texts = [(tmp_path / f"p{i}.log").read_text() for i in range(2)]
    assert sorted("took the leader lock" in text for text in texts) == [False, True]
    assert any("standing by" in text for text in texts)


async def test_the_standby_takes_over_each_time_the_leader_is_killed(
    stack: Stack,
    scratch_database: str,
    producer: AIOKafkaProducer,
    tmp_path: Path,
    logs: list[IO[bytes]],
) -> None:
    started = 0

    def start() -> subprocess.Popen[bytes]:
        nonlocal started
        started += 1
        return start_projector(
            stack, scratch_database, open_log(logs, tmp_path / f"p{started}.log")
        )

    await skip_the_log_so_far(scratch_database, stack.kafka_bootstrap_servers)
    projectors = [start(), start()]
    work = Workload()
    try:
        async with OffsetWatch(scratch_database) as watch:
            # Four bursts; in each, SIGKILL whichever projector applies once it has made progress,
            # and start a fresh one (the new standby).
            for _ in range(4):
                await wait_for_rows(scratch_database, await work.burst(producer))
                pid = await leader(scratch_database, projectors)
                victim = next(p for p in projectors if p.pid == pid)
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                projectors = [p for p in projectors if p is not victim] + [start()]
            await wait_projected(scratch_database, await end_offsets(stack.kafka_bootstrap_servers))
    finally:
        stop_all(projectors)
    assert watch.backwards == [], "an offset moved backwards"
    await work.assert_applied_exactly_once(scratch_database)


class OwnPostgres:
    """A PostgreSQL cluster of this test alone, which it may stop, crash and start again."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.server = Postgres(root / "data", free_port())
        self.process: Process | None = None

    @property
    def dsn(self) -> str:
        return self.server.dsn

    async def start(self) -> None:
        self.process = await self.server.start(self.root / "logs")

    async def stop(self, how: signal.Signals) -> None:
        """SIGINT is `pg_ctl stop -m fast`; SIGQUIT is `-m immediate`, a crash (no checkpoint)."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        postmaster = int((self.root / "data" / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, how)
        deadline = time.monotonic() + 60
        while process.returncode is None:
            assert time.monotonic() < deadline, "PostgreSQL did not stop"
            await asyncio.sleep(0.05)


@pytest.fixture
async def own_postgres() -> AsyncIterator[OwnPostgres]:
    root = scratch_folder("pg")
    server = OwnPostgres(root)
    try:
        await server.start()
        await migrate(server.dsn)
        yield server
    finally:
        await server.stop(signal.SIGINT)
        shutil.rmtree(root, ignore_errors=True)


async def test_the_projector_outlives_a_postgres_restart(
    stack: Stack,
    producer: AIOKafkaProducer,
    own_postgres: OwnPostgres,
    tmp_path: Path,
    logs: list[IO[bytes]],
) -> None:
    await skip_the_log_so_far(own_postgres.dsn, stack.kafka_bootstrap_servers)
    log = tmp_path / "projector.log"
    projector = start_projector(stack, own_postgres.dsn, open_log(logs, log))
    work = Workload()
    try:
        await wait_for_rows(own_postgres.dsn, await work.burst(producer))
        await own_postgres.stop(signal.SIGINT)  # what the user did: pg_ctl stop -m fast
        await work.burst(producer)  # events keep coming while PostgreSQL is away
        await outage(4, projector, log)
        await own_postgres.start()
        await work.burst(producer)
        await wait_projected(own_postgres.dsn, await end_offsets(stack.kafka_bootstrap_servers))
        assert projector.poll() is None, tail(log)
    finally:
        stop_all([projector])
    await work.assert_applied_exactly_once(own_postgres.dsn)
    text = log.read_text()
    assert "reconnecting" in text and "took the leader lock" in text, tail(log)


async def test_what_the_api_was_told_is_applied_survives_a_postgres_crash(
    stack: Stack,
    producer: AIOKafkaProducer,
    own_postgres: OwnPostgres,
    tmp_path: Path,
    logs: list[IO[bytes]],
) -> None:
    """The API answers 2xx once the NOTIFY names an offset: that offset must outlive a crash."""
    listener = await asyncpg.connect(own_postgres.dsn)
    # Delay the WAL writer's own flushes by 10 s, so the crash below lands before it: a commit
    # that did not wait for its WAL is then lost every time, not only when unlucky.
    await listener.execute("ALTER SYSTEM SET wal_writer_delay = '10s'")
    await listener.execute("SELECT pg_reload_conf()")
    announced: Offsets = {}

    def on_notify(_conn: object, _pid: int, _channel: str, payload: object) -> None:
        for item in str(payload).split(","):
            topic, partition, offset = item.rsplit(":", 2)
            key = (topic, int(partition))
            announced[key] = max(announced.get(key, 0), int(offset))

    await listener.add_listener("projection", on_notify)
    start = await skip_the_log_so_far(own_postgres.dsn, stack.kafka_bootstrap_servers)
    log = tmp_path / "projector.log"
    projector = start_projector(stack, own_postgres.dsn, open_log(logs, log))
    work = Workload()
    try:
        await work.burst(producer)
        ends = await end_offsets(stack.kafka_bootstrap_servers)
        deadline = time.monotonic() + 60
        while any(announced.get(k, 0) < end for k, end in ends.items() if end > start[k]):
            assert time.monotonic() < deadline, f"not everything was announced: {tail(log)}"
            await asyncio.sleep(0.01)
    finally:
        stop_all([projector])  # nothing may write after the crash and hide a loss
        await listener.close()
    await own_postgres.stop(signal.SIGQUIT)  # pg_ctl stop -m immediate: a crash
    await own_postgres.start()
    stored = await projected_offsets(own_postgres.dsn)
    lost = {k: (stored.get(k, 0), v) for k, v in announced.items() if stored.get(k, 0) < v}
    assert lost == {}, "offsets announced as applied were lost in the crash (stored, announced)"
    await work.assert_applied_exactly_once(own_postgres.dsn)


def cluster_id() -> str:
    """A KRaft cluster id (a UUID in base64url) that does not start with "-"."""
    while (found := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))[0] == "-":
        pass
    return found


@pytest.fixture
async def own_kafka(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Kafka]:
    # devstack formats the storage with `-t <random base64url id>`, which the Kafka tool takes
    # for an option whenever the id starts with "-" (1 in 64): use an id that cannot.
    monkeypatch.setattr(services, "_kafka_cluster_id", cluster_id)
    root = scratch_folder("kafka")
    kafka = Kafka(root / "kafka", REPO / "var" / "cache" / "kafka-libs", free_port(), free_port())
    try:
        yield kafka
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def test_the_projector_outlives_a_kafka_restart(
    stack: Stack,
    scratch_database: str,
    own_kafka: Kafka,
    tmp_path: Path,
    logs: list[IO[bytes]],
) -> None:
    broker = await own_kafka.start(tmp_path / "kafka-logs")
    projector: subprocess.Popen[bytes] | None = None
    log = tmp_path / "projector.log"
    work = Workload()
    try:
        await ensure_topics(own_kafka.bootstrap, 3)
        projector = start_projector(
            stack,
            scratch_database,
            open_log(logs, log),
            KAFKA_BOOTSTRAP_SERVERS=own_kafka.bootstrap,
        )
        async with own_producer(own_kafka.bootstrap) as producer:
            await wait_for_rows(scratch_database, await work.burst(producer))
        await asyncio.to_thread(broker.stop)
        await outage(4, projector, log)
        broker = await own_kafka.start(tmp_path / "kafka-logs")
        async with own_producer(own_kafka.bootstrap) as producer:
            await work.burst(producer)
        await wait_projected(scratch_database, await end_offsets(own_kafka.bootstrap))
        assert projector.poll() is None, tail(log)
    finally:
        if projector is not None:
            stop_all([projector])
        await asyncio.to_thread(broker.stop)
    await work.assert_applied_exactly_once(scratch_database)


@contextlib.asynccontextmanager
async def own_producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """A producer on another broker than the stack's."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port that accepts connections and never answers: the worst kind of down."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


async def test_a_hanging_redis_never_holds_the_projection_back(
    stack: Stack,
    scratch_database: str,
    producer: AIOKafkaProducer,
    blackhole: int,
    tmp_path: Path,
    logs: list[IO[bytes]],
) -> None:
    await skip_the_log_so_far(scratch_database, stack.kafka_bootstrap_servers)
    log = tmp_path / "projector.log"
    projector = start_projector(
        stack, scratch_database, open_log(logs, log), REDIS_URL=f"redis://127.0.0.1:{blackhole}/0"
    )
    work = Workload()
    try:
        for _ in range(2):
            await work.burst(producer)
        await wait_projected(
            scratch_database, await end_offsets(stack.kafka_bootstrap_servers), deadline_s=60
        )
        assert projector.poll() is None, tail(log)
    finally:
        stop_all([projector])
    await work.assert_applied_exactly_once(scratch_database)


async def statuses(subscriber: Any, ids: list[str], deadline_s: float = 60) -> None:
    """Until a live `status` COMPLETED has arrived for each of `ids`."""
    waiting = {f"execution:{i}".encode() for i in ids}
    deadline = time.monotonic() + deadline_s
    while waiting:
        assert time.monotonic() < deadline, f"no live result for {len(waiting)} executions"
        message = await subscriber.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message and b'"COMPLETED"' in message["data"]:
            waiting.discard(message["channel"])


async def test_live_updates_resume_after_a_redis_restart(
    stack: Stack,
    scratch_database: str,
    producer: AIOKafkaProducer,
    tmp_path: Path,
    logs: list[IO[bytes]],
) -> None:
    root = scratch_folder("redis")
    server = Redis(root, free_port())
    redis_process = await server.start(tmp_path / "redis-logs")
    await skip_the_log_so_far(scratch_database, stack.kafka_bootstrap_servers)
    log = tmp_path / "projector.log"
    projector = start_projector(stack, scratch_database, open_log(logs, log), REDIS_URL=server.url)
    work = Workload()
    try:
        client = aioredis.from_url(server.url)
        async with client.pubsub() as subscriber:
            await subscriber.psubscribe("execution:*")
            await statuses(subscriber, await work.burst(producer))
        await client.aclose()
        redis_process.stop()
        # Redis away: the rows are still written; only live messages wait, or are dropped.
        await work.burst(producer)
        await wait_projected(scratch_database, await end_offsets(stack.kafka_bootstrap_servers))
        redis_process = await server.start(tmp_path / "redis-logs")
        client = aioredis.from_url(server.url)
        async with client.pubsub() as subscriber:
            await subscriber.psubscribe("execution:*")
            await statuses(subscriber, await work.burst(producer))
        await client.aclose()
        await wait_projected(scratch_database, await end_offsets(stack.kafka_bootstrap_servers))
        assert projector.poll() is None, tail(log)
    finally:
        stop_all([projector])
        redis_process.stop()
        shutil.rmtree(root, ignore_errors=True)
    await work.assert_applied_exactly_once(scratch_database)
