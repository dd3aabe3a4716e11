"""The API's settings, read from the environment once."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.config import settings_from_env


@dataclass(frozen=True)
class ApiSettings:
    """Where the services are, the limits clients may ask for, and how long to wait for them."""

    host: str = "127.0.0.1"  # HOST
    port: int = 3000  # PORT
    kafka_bootstrap_servers: str = "127.0.0.1:19092"  # KAFKA_BOOTSTRAP_SERVERS
    database_url: str = "postgresql://postgres@127.0.0.1:15432/runbox"  # DATABASE_URL
    redis_url: str = "redis://127.0.0.1:16379/0"  # REDIS_URL
    dependency_timeout_s: float = 3.0  # DEPENDENCY_TIMEOUT_S: then 503, never a hang
    read_your_writes_timeout_s: float = 5.0  # READ_YOUR_WRITES_TIMEOUT_S: wait for the projection
    default_time_limit_ms: int = 5000  # DEFAULT_TIME_LIMIT_MS
    min_time_limit_ms: int = 100  # MIN_TIME_LIMIT_MS
    max_time_limit_ms: int = 60000  # MAX_TIME_LIMIT_MS
    default_memory_mb: int = 256  # DEFAULT_MEMORY_MB
    min_memory_mb: int = 32  # MIN_MEMORY_MB
    max_memory_mb: int = 2048  # MAX_MEMORY_MB
    max_source_bytes: int = 256 * 1024  # MAX_SOURCE_BYTES
    max_stdin_bytes: int = 1024 * 1024  # MAX_STDIN_BYTES
    session_runs_per_minute: int = 10  # SESSION_RUNS_PER_MINUTE
    client_runs_per_minute: int = 120  # CLIENT_RUNS_PER_MINUTE: per client address
    failure_streak_limit: int = 5  # FAILURE_STREAK_LIMIT: consecutive failed runs, then cooldown
    failure_cooldown_s: int = 60  # FAILURE_COOLDOWN_S
    idempotency_ttl_s: int = 24 * 3600  # IDEMPOTENCY_TTL_S: how long an Idempotency-Key is kept

    @classmethod
    def from_env(cls) -> ApiSettings:
        return settings_from_env(cls)
