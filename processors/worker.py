"""One processors worker: its Faust app and topics, its sandbox and Redis client.

Nothing happens at import: `create_worker` builds the Faust app and registers the agents, and the
sandbox (which mounts, compiles its launcher and spawns armed launchers) is built when the worker
starts, on the event loop that will use it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import faust
import redis.asyncio as aioredis
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from eventlog import topics
from fleet.workers import RunningExecution
from processors import transport
from processors.settings import ProcessorSettings
from sandbox import Sandbox, SandboxSettings
from telemetry.logs import dict_config

log = logging.getLogger("processors.worker")


@dataclass
class Worker:
    """What the agents of one worker share."""

    settings: ProcessorSettings
    sandbox_settings: SandboxSettings
    app: faust.App
    requested: Any
    dispatch: Any
    events: Any
    retry: Any
    dead_letter: Any
    state: Literal["running", "draining"] = "running"
    started_at: float = field(default_factory=time.time)
    # The attempts this worker has claimed and not yet ended, as its beat lists them.
    running: dict[tuple[str, int], RunningExecution] = field(default_factory=dict)
    # Attempts being handled by the executor now (claiming or running), whichever path they
    # came by: the safety agent starts a run itself only while this is below the slots.
    active: int = 0
    slot_freed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    local_runs: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    # Beats are written under this lock, each from the state at that moment, so the last one
    # written is the latest state (writes on different connections could overtake each other).
    beat_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    # Whether what this worker's earlier process left running was looked at (heartbeat.py:
    # before_first_beat), which must come before this process writes its first beat.
    mended: bool = False
    mend_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _sandbox: Sandbox | None = field(default=None, repr=False)
    _redis: aioredis.Redis | None = field(default=None, repr=False)

    @property
    def draining(self) -> bool:
        """SIGTERM was received: running programs finish, nothing new is taken."""
        return self.state == "draining"

    async def idle_until_stopped(self) -> None:
        """Wait for ever: the worker's stop cancels the waiting task."""
        await asyncio.Future()

    def sandbox(self) -> Sandbox:
        """The sandbox, built on first use (the worker's start task builds it early)."""
        if self._sandbox is None:
            self._sandbox = Sandbox(self.sandbox_settings)
        return self._sandbox

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            self._redis = aioredis.from_url(
                self.settings.redis_url,
                socket_timeout=3,
                socket_connect_timeout=3,
                # A restarted Redis closes the pooled connections: try a command again on a
                # fresh one before calling it an outage.
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
                retry_on_error=[RedisConnectionError, RedisTimeoutError],
            )
        return self._redis


def create_app(settings: ProcessorSettings, app_id: str = "runbox-processors") -> faust.App:
    """The Faust app of a worker, its agents not yet registered (bench/fausthop.py uses it too).

    `app_id` is the consumer group: every worker of one engine shares it.
    """
    scheme = transport.SCHEME if settings.faust_consumer == "loop" else "kafka"
    return faust.App(
        app_id,
        broker=f"{scheme}://{settings.kafka_bootstrap_servers}",
        # Which member of the group is which worker, for the broker's tools (and bench/hopsplit.py).
        broker_client_id=f"runbox-processors-{settings.worker_id}",
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        producer_linger=0.0,
        producer_acks=-1,
        producer_max_request_size=topics.MAX_MESSAGE_BYTES,
        consumer_max_fetch_size=topics.MAX_MESSAGE_BYTES,
        stream_wait_empty=False,
        topic_allow_declare=False,  # topics are created with their retention by eventlog.admin
        topic_disable_leader=True,
        broker_commit_interval=0.5,
        # A worker killed outright keeps its partitions (and the runs queued on them) until the
        # broker gives up on it: this long.
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout_s / 3),
        consumer_auto_offset_reset="earliest",
        logging_config=dict_config(),  # JSON lines with execution_id, like the API and projector
    )


def create_worker(settings: ProcessorSettings, sandbox_settings: SandboxSettings) -> Worker:
    """The Faust app with the safety, executor and retry agents, heartbeat and monitor."""
    from processors import executor, heartbeat, monitor, retry, safety

    app = create_app(settings)

    def topic(t: topics.Topic) -> Any:
        return app.topic(t.name, key_type=bytes, value_type=bytes, allow_empty=False)

    worker = Worker(
        settings=settings,
        sandbox_settings=sandbox_settings,
        app=app,
        requested=topic(topics.REQUESTED),
        dispatch=topic(topics.DISPATCH),
        events=topic(topics.EVENTS),
        retry=topic(topics.RETRY),
        dead_letter=topic(topics.DEAD_LETTER),
    )
    for module in (heartbeat, monitor, safety, executor, retry):
        module.register(worker)
    return worker


async def wait_for_kafka(bootstrap_servers: str, max_delay_s: float = 5.0) -> None:
    """Return once a broker answers a metadata request, retrying with backoff until then.

    Faust's worker exits when it cannot bootstrap at start: started during a Kafka outage (or
    restarted while Kafka restarts) it would crash again and again. Once started, Faust and
    aiokafka reconnect by themselves.
    """
    delay = 0.5
    while True:
        client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
        try:
            await client.bootstrap()
            return
        except KafkaError as exc:
            log.warning(
                "Kafka is not answering at %s (%s); trying again in %gs",
                bootstrap_servers,
                exc,
                delay,
            )
        finally:
            await client.close()
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay_s)
