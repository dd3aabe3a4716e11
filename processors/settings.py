"""The processors' settings, read from the environment once and validated at start."""

from __future__ import annotations

import os
import socket
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from config import SettingsError
from config.endpoints import Endpoints
from config.limits import RunPolicy
from processors.rules import LoopRule


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class ProcessorSettings(Endpoints, frozen=True, kw_only=True):
    """Worker identity, retry policy, live output pacing, failure streaks, the run policy."""

    worker_id: Annotated[
        str, Meta(min_length=1, description="this worker's name (default host-pid)")
    ] = msgspec.field(default_factory=_default_worker_id)
    max_attempts: Annotated[
        int,
        Meta(
            ge=1,
            le=20,
            description="attempts of a run that fails for reasons of ours (the first and 3 "
            "retries), then dead letter",
        ),
    ] = 4
    retry_backoff_ms: Annotated[
        int, Meta(ge=0, description="delay before the second attempt; doubled at each attempt")
    ] = 2000
    output_flush_ms: Annotated[
        int, Meta(ge=1, le=10_000, description="live output is sent at most this often")
    ] = 50
    output_coalesce_ms: Annotated[
        int,
        Meta(
            ge=0,
            le=10_000,
            description="output is sent this long after its first byte, and RunStarted this "
            "long after the run starts, so what a program writes together (a line, then its "
            "newline) goes out together, and a run that ends by then sends its events at once",
        ),
    ] = 25
    output_chunk_bytes: Annotated[
        int, Meta(ge=1, description="or when this much output is pending")
    ] = 16 * 1024
    failure_streak_limit: Annotated[
        int, Meta(ge=1, description="failed runs in a row before a session cools down")
    ] = 5
    failure_cooldown_s: Annotated[int, Meta(ge=1, description="how long a session cools down")] = 60
    heartbeat_interval_s: Annotated[
        float, Meta(gt=0, description="how often a worker writes its beat (fleet/workers.py)")
    ] = 10.0
    worker_dead_after_s: Annotated[
        float,
        Meta(gt=0, description="a worker whose beat is older is dead: its runs are retried"),
    ] = 30.0
    shutdown_grace_s: Annotated[
        float,
        Meta(ge=0, description="on SIGTERM, how long running programs may take to finish"),
    ] = 30.0
    kafka_session_timeout_s: Annotated[
        float,
        Meta(
            ge=6,
            le=300,
            description="a worker silent this long loses its partitions to the others",
        ),
    ] = 30.0
    claim_patience_s: Annotated[
        float,
        Meta(ge=0, le=300, description="how long a run waits for Redis to claim its attempt"),
    ] = 15.0
    infinite_loop_rule: Annotated[
        LoopRule,
        Meta(
            description="a loop that can never end: off, warn (runs, with a warning in the result) or block (E006)"
        ),
    ] = "block"
    faust_consumer: Annotated[
        Literal["thread", "loop"],
        Meta(
            description="where the agents' Kafka consumer runs: in faust-streaming's own thread, "
            "or on the worker's event loop (processors/transport.py; see README, One Faust hop)"
        ),
    ] = "thread"
    local_dispatch: Annotated[
        bool,
        Meta(
            description="a run accepted by this worker's safety agent starts here at once when "
            "a slot is free, without waiting for its record to come back from the dispatch topic "
            "(processors/dispatch.py)"
        ),
    ] = True
    metrics_port: Annotated[
        int, Meta(ge=0, le=65535, description="Prometheus /metrics port of this worker; 0: off")
    ] = 9464
    policy: RunPolicy = msgspec.field(default_factory=RunPolicy)

    def check(self) -> None:
        if self.worker_dead_after_s <= self.heartbeat_interval_s:
            raise SettingsError(
                "WORKER_DEAD_AFTER_S",
                self.worker_dead_after_s,
                f"expected more than HEARTBEAT_INTERVAL_S ({self.heartbeat_interval_s})",
            )
