"""The processors' settings, read from the environment once."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from schemas.config import settings_from_env


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class ProcessorSettings:
    """Broker, Redis, worker identity and the retry policy of the processors."""

    kafka_bootstrap_servers: str = "127.0.0.1:19092"  # KAFKA_BOOTSTRAP_SERVERS
    redis_url: str = "redis://127.0.0.1:16379/0"  # REDIS_URL
    worker_id: str = field(default_factory=_default_worker_id)  # WORKER_ID
    max_attempts: int = 3  # MAX_ATTEMPTS: runs that fail for reasons of ours, then dead letter
    retry_backoff_ms: int = 500  # RETRY_BACKOFF_MS: doubled at each attempt
    output_flush_ms: int = 50  # OUTPUT_FLUSH_MS: live output is sent at most this often
    output_chunk_bytes: int = 16 * 1024  # OUTPUT_CHUNK_BYTES: or when this much is pending
    max_source_bytes: int = 256 * 1024  # MAX_SOURCE_BYTES
    max_stdin_bytes: int = 1024 * 1024  # MAX_STDIN_BYTES
    min_time_limit_ms: int = 100  # MIN_TIME_LIMIT_MS
    max_time_limit_ms: int = 60000  # MAX_TIME_LIMIT_MS
    min_memory_mb: int = 32  # MIN_MEMORY_MB
    max_memory_mb: int = 2048  # MAX_MEMORY_MB
    failure_streak_limit: int = 5  # FAILURE_STREAK_LIMIT: failed runs in a row before a cooldown
    failure_cooldown_s: int = 60  # FAILURE_COOLDOWN_S
    heartbeat_interval_s: float = 5.0  # HEARTBEAT_INTERVAL_S

    @classmethod
    def from_env(cls) -> ProcessorSettings:
        return settings_from_env(cls)
